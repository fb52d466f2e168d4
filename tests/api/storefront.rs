//! The storefront's defences, through real pages: security headers, error
//! notices in the shop's own words only, and one idempotency key per
//! checkout attempt, kept until that checkout settles.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, Stack, TEST_ADMIN_PASSWORD};

struct Shop {
    stack: Stack,
    http: Client,
    base: String,
    /// The visitor's session cookie (`name=value`).
    session: String,
}

impl Shop {
    async fn start() -> Self {
        let stack = Stack::start(&[]).await;
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

    /// A product in stock, created by the administrator through the API.
    async fn product(&self, sku: &str) -> String {
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
                          "unit_price_cents": 900, "currency": "USD", "available": 5}),
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

/// Adds one unit of `product` to the session's cart through the form.
async fn add_to_cart(shop: &Shop, product: &str) {
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
            &[("csrf", &csrf), ("product_id", product), ("quantity", "1")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
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
async fn the_cart_page_shows_its_own_words_for_a_code_and_nothing_for_any_other_text() {
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

    let known = shop
        .page("/cart?error=stock", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(known.contains("not have enough stock"), "{known}");
}

#[tokio::test]
async fn a_checkout_key_is_kept_across_renders_and_freed_once_the_order_is_placed() {
    let shop = Shop::start().await;
    let product = shop.product("KEY-1").await;
    add_to_cart(&shop, &product).await;

    let first = shop.page("/cart", None).await;
    let cookie = checkout_cookie(&first).expect("the first render keeps a key");
    let kept = cookie.split(';').next().unwrap().to_string();
    let first_page = first.text().await.unwrap();
    let key = field(&first_page, "idempotency_key");
    assert_eq!(kept, format!("shop_checkout={key}"));
    let again = shop.page("/cart", Some(&kept)).await;
    assert!(checkout_cookie(&again).is_none());
    assert_eq!(field(&again.text().await.unwrap(), "idempotency_key"), key);

    let csrf = field(&first_page, "csrf");
    let cookies = format!("{}; {kept}", shop.session);
    let placed = shop
        .post_form(
            "/checkout",
            &cookies,
            &[("csrf", &csrf), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(placed.status(), StatusCode::SEE_OTHER);
    let cleared = checkout_cookie(&placed).expect("the settled checkout frees its key");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let order = placed.headers()["location"].to_str().unwrap().to_string();

    // The same submit again (a double click, a resent form) is the same order.
    let replay = shop
        .post_form(
            "/checkout",
            &cookies,
            &[("csrf", &csrf), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(replay.headers()["location"].to_str().unwrap(), order);
}

#[tokio::test]
async fn a_checkout_that_could_not_reach_the_order_service_keeps_its_key_for_the_retry() {
    let mut shop = Shop::start().await;
    let product = shop.product("KEY-2").await;
    add_to_cart(&shop, &product).await;
    let first = shop.page("/cart", None).await;
    let kept = checkout_cookie(&first)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = first.text().await.unwrap();
    let (csrf, key) = (field(&page, "csrf"), field(&page, "idempotency_key"));

    shop.stack.order.shut_down().await.unwrap();
    let cookies = format!("{}; {kept}", shop.session);
    let failed = shop
        .post_form(
            "/checkout",
            &cookies,
            &[("csrf", &csrf), ("idempotency_key", &key)],
        )
        .await;
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
async fn the_storefront_starts_a_guest_session_and_refuses_forms_without_its_csrf_token() {
    let api = Api::start().await;
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = no_redirects
        .get(format!("{}/", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let cookie = home.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let admin = api.admin().await;
    let mug = api.product(&admin, "MUG", 100, 5).await;
    let page = no_redirects
        .get(format!(
            "{}/products/{}",
            api.base,
            mug["id"].as_str().unwrap()
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    let forged = no_redirects
        .post(format!("{}/cart/add", api.base))
        .header("cookie", &session)
        .form(&[
            ("csrf", "forged"),
            ("product_id", mug["id"].as_str().unwrap()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let added = no_redirects
        .post(format!("{}/cart/add", api.base))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("product_id", mug["id"].as_str().unwrap()),
            ("quantity", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let cart = no_redirects
        .get(format!("{}/cart", api.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cart.contains("data-sku=\"MUG\"") && cart.contains("$2.00"),
        "{cart}"
    );
}
