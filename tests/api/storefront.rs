//! The storefront's defences, through real pages: security headers, error
//! notices in the shop's own words only, and one idempotency key per
//! checkout attempt, kept until that checkout settles.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{Stack, TEST_ADMIN_PASSWORD};

struct Shop {
    stack: Stack,
    http: Client,
    base: String,
    /// The visitor's session cookie (`name=value`).
    session: String,
}

impl Shop {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(vars: &[(&str, &str)]) -> Self {
        let stack = Stack::start(vars).await;
        let base = stack.base_url();
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let home = http.get(format!("{base}/")).send().await.unwrap();
        let session = home.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Self {
            stack,
            http,
            base,
            session,
        }
    }

    async fn page(&self, path: &str, extra_cookie: Option<&str>) -> Response {
        let cookies = match extra_cookie {
            Some(c) => format!("{}; {c}", self.session),
            None => self.session.clone(),
        };
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookies)
            .send()
            .await
            .unwrap()
    }

    async fn post_form(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The id of a product with 5 in stock at `price_cents`, created by the administrator through the API.
    async fn product(&self, sku: &str, price_cents: i64) -> String {
        let login: Value = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let product: Value = self
            .http
            .post(format!("{}/api/v1/products", self.base))
            .bearer_auth(login["token"].as_str().unwrap())
            .json(
                &json!({"sku": sku, "name": "Mug", "description": "", "category": "test",
                          "unit_price_cents": price_cents, "currency": "USD", "available": 5}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        product["id"].as_str().unwrap().to_string()
    }
}

/// The value of `name="{field}" value="…"` in a page.
fn field(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} field"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// The checkout cookie a response sets (`name=value`), if any.
fn checkout_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("shop_checkout="))
        .map(str::to_string)
}

/// Adds `quantity` of `product` to the session's cart through the product page's form.
async fn add_to_cart(shop: &Shop, product: &str, quantity: &str) {
    let page = shop
        .page(&format!("/products/{product}"), None)
        .await
        .text()
        .await
        .unwrap();
    let csrf = field(&page, "csrf");
    let added = shop
        .post_form(
            "/cart/add",
            &shop.session,
            &[
                ("csrf", &csrf),
                ("product_id", product),
                ("quantity", quantity),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
}

/// The checkout form of the cart page's first render: the checkout cookie
/// it sets (`name=value`), its CSRF token and its idempotency key.
async fn checkout_form(shop: &Shop) -> (String, String, String) {
    let first = shop.page("/cart", None).await;
    let cookie = checkout_cookie(&first).expect("the first render keeps a key");
    let kept = cookie.split(';').next().unwrap().to_string();
    let page = first.text().await.unwrap();
    (kept, field(&page, "csrf"), field(&page, "idempotency_key"))
}

/// Submits the checkout form with the session and the checkout cookie `kept`.
async fn submit_checkout(shop: &Shop, kept: &str, csrf: &str, key: &str) -> Response {
    let cookies = format!("{}; {kept}", shop.session);
    shop.post_form(
        "/checkout",
        &cookies,
        &[("csrf", csrf), ("idempotency_key", key)],
    )
    .await
}

/// A visitor with a product in the cart.
async fn shop_with_a_cart(sku: &str) -> Shop {
    let shop = Shop::start().await;
    let product = shop.product(sku, 900).await;
    add_to_cart(&shop, &product, "1").await;
    shop
}

#[tokio::test]
async fn pages_forbid_framing_scripts_and_sniffing() {
    let shop = Shop::start().await;
    let home = shop.page("/", None).await;
    let header = |name: &str| home.headers()[name].to_str().unwrap().to_string();
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");

    let api = shop
        .http
        .get(format!("{}/api/v1/products", shop.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    let docs = shop.page("/docs", None).await;
    assert!(
        docs.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn the_cart_page_shows_no_text_from_its_address() {
    let shop = Shop::start().await;

    let injected = shop
        .page(
            "/cart?error=Your%20account%20is%20locked%3B%20call%20555-0100",
            None,
        )
        .await;

    assert_eq!(injected.status(), StatusCode::OK);
    let body = injected.text().await.unwrap();
    assert!(!body.contains("555-0100"), "arbitrary text shown: {body}");
    assert!(!body.contains("role=\"alert\""), "{body}");
}

#[tokio::test]
async fn the_cart_page_shows_its_own_words_for_a_known_error_code() {
    let shop = Shop::start().await;

    let known = shop
        .page("/cart?error=stock", None)
        .await
        .text()
        .await
        .unwrap();

    assert!(known.contains("not have enough stock"), "{known}");
}

#[tokio::test]
async fn a_checkout_key_is_kept_across_renders_of_the_cart() {
    let shop = shop_with_a_cart("KEY-1").await;

    let (kept, _, key) = checkout_form(&shop).await;
    assert_eq!(kept, format!("shop_checkout={key}"));

    let again = shop.page("/cart", Some(&kept)).await;

    assert!(checkout_cookie(&again).is_none());
    assert_eq!(field(&again.text().await.unwrap(), "idempotency_key"), key);
}

#[tokio::test]
async fn placing_the_order_frees_its_checkout_key() {
    let shop = shop_with_a_cart("KEY-1").await;
    let (kept, csrf, key) = checkout_form(&shop).await;

    let placed = submit_checkout(&shop, &kept, &csrf, &key).await;

    assert_eq!(placed.status(), StatusCode::SEE_OTHER);
    let cleared = checkout_cookie(&placed).expect("the settled checkout frees its key");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn submitting_the_same_checkout_form_again_is_the_same_order() {
    let shop = shop_with_a_cart("KEY-1").await;
    let (kept, csrf, key) = checkout_form(&shop).await;
    let placed = submit_checkout(&shop, &kept, &csrf, &key).await;
    assert_eq!(placed.status(), StatusCode::SEE_OTHER);
    let order = placed.headers()["location"].to_str().unwrap().to_string();

    // A double click, a resent form.
    let replay = submit_checkout(&shop, &kept, &csrf, &key).await;

    assert_eq!(replay.headers()["location"].to_str().unwrap(), order);
}

#[tokio::test]
async fn a_checkout_that_could_not_reach_the_order_service_keeps_its_key_for_the_retry() {
    let mut shop = shop_with_a_cart("KEY-2").await;
    let (kept, csrf, key) = checkout_form(&shop).await;
    shop.stack.order.shut_down().await.unwrap();

    let failed = submit_checkout(&shop, &kept, &csrf, &key).await;

    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(checkout_cookie(&failed).is_none(), "the key is kept");
    let retry_page = shop.page("/cart", Some(&kept)).await.text().await.unwrap();
    assert_eq!(
        field(&retry_page, "idempotency_key"),
        key,
        "the retry replays, never places twice"
    );
}

#[tokio::test]
async fn the_storefront_starts_a_guest_session_in_an_http_only_same_site_cookie() {
    let shop = Shop::start().await;

    let home = shop
        .http
        .get(format!("{}/", shop.base))
        .send()
        .await
        .unwrap();

    assert_eq!(home.status(), StatusCode::OK);
    let cookie = home.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn behind_a_tls_ingress_cookies_are_secure_and_host_prefixed_and_hsts_is_sent() {
    let shop = Shop::start_with(&[("COOKIE_SECURE", "always")]).await;
    let home = shop
        .http
        .get(format!("{}/", shop.base))
        .send()
        .await
        .unwrap();
    let cookie = home.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-shop_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(
        home.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // The prefixed cookie is the session: sent back, no new one is started.
    assert!(shop.session.starts_with("__Host-shop_session="));
    let again = shop.page("/", None).await;
    assert!(again.headers().get("set-cookie").is_none());
    let cart = shop.page("/cart", None).await;
    let checkout = cart.headers()["set-cookie"].to_str().unwrap();
    assert!(
        checkout.starts_with("__Host-shop_checkout=") && checkout.contains("Secure"),
        "{checkout}"
    );
}

#[tokio::test]
async fn over_plain_http_cookies_are_not_secure_and_no_hsts_is_sent() {
    let shop = Shop::start().await;
    let home = shop.page("/", None).await;
    assert!(home.headers().get("strict-transport-security").is_none());
    assert!(
        shop.session.starts_with("shop_session="),
        "{}",
        shop.session
    );
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_a_403() {
    let shop = Shop::start().await;
    let mug = shop.product("MUG", 100).await;
    let page = shop.page(&format!("/products/{mug}"), None).await;
    assert!(page.text().await.unwrap().contains("name=\"csrf\""));

    let forged = shop
        .post_form(
            "/cart/add",
            &shop.session,
            &[("csrf", "forged"), ("product_id", &mug), ("quantity", "1")],
        )
        .await;

    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_form_with_the_sessions_csrf_token_adds_to_the_cart() {
    let shop = Shop::start().await;
    let mug = shop.product("MUG", 100).await;

    add_to_cart(&shop, &mug, "2").await;

    let cart = shop.page("/cart", None).await.text().await.unwrap();
    assert!(
        cart.contains("data-sku=\"MUG\"") && cart.contains("$2.00"),
        "{cart}"
    );
}
