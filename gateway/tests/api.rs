//! The REST contract of design.md, row by row, through the gateway in front
//! of real services and PostgreSQL: every route, and every error status the
//! contract lists (400, 401, 403, 404, 409, 413, 422, 429, 503).

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use shop_testkit::{Stack, TEST_ADMIN_PASSWORD};

struct Api {
    stack: Stack,
    http: Client,
    base: String,
}

async fn start() -> Api {
    start_with(&[]).await
}

async fn start_with(vars: &[(&str, &str)]) -> Api {
    let stack = Stack::start(vars).await;
    let base = stack.base_url();
    Api {
        stack,
        http: Client::new(),
        base,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("gateway answers")
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn guest(&self) -> String {
        let response = self
            .call(Method::POST, "/api/v1/auth/guest", None, None)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    async fn admin(&self) -> String {
        let response = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["role"], "admin");
        body["token"].as_str().unwrap().to_string()
    }

    async fn product(&self, admin: &str, sku: &str, price: i64, available: i64) -> Value {
        let response = self
            .post(
                "/api/v1/products",
                Some(admin),
                json!({"sku": sku, "name": format!("Product {sku}"), "description": "A thing",
                       "category": "test", "unit_price_cents": price, "currency": "USD", "available": available}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn place(&self, token: &str, key: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }
}

/// Asserts a problem+json error with `status` and returns its body.
async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

#[tokio::test]
async fn guest_tokens_and_admin_login() {
    let api = start().await;
    let response = api
        .call(Method::POST, "/api/v1/auth/guest", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let guest: Value = response.json().await.unwrap();
    assert!(guest["user_id"].as_str().unwrap().len() == 36);
    assert!(guest["expires_at"].as_str().unwrap().ends_with('Z'));

    api.admin().await;
    let bad = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "admin", "password": "wrong"}),
        )
        .await;
    let body = problem(bad, StatusCode::UNAUTHORIZED).await;
    assert!(!body.to_string().contains(TEST_ADMIN_PASSWORD));
}

#[tokio::test]
async fn catalog_routes_list_filter_page_and_get() {
    let api = start().await;
    let admin = api.admin().await;
    for i in 0..3 {
        api.product(&admin, &format!("SKU-{i}"), 100, 5).await;
    }

    let page: Value = api
        .get("/api/v1/products?page_size=2", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap();
    let last: Value = api
        .get(
            &format!("/api/v1/products?page_size=2&page_token={token}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next_page_token"].is_null());

    let found: Value = api
        .get("/api/v1/products?q=product%20sku-1&category=test", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["sku"], "SKU-1");
    let product = &found["items"][0];
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "image_url",
        "unit_price_cents",
        "currency",
        "available",
    ] {
        assert!(product.get(key).is_some(), "missing {key}");
    }

    let one = api
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(one.status(), StatusCode::OK);

    problem(
        api.get("/api/v1/products?page_size=0", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_size=101", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_size=abc", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_token=forged", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products/not-a-uuid", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let missing = format!("/api/v1/products/{}", uuid::Uuid::new_v4());
    problem(api.get(&missing, None).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn admin_routes_create_update_and_adjust_stock() {
    let api = start().await;
    let admin = api.admin().await;
    let shopper = api.guest().await;
    let new = json!({"sku": "NEW-1", "name": "New", "description": "", "category": "test",
                     "unit_price_cents": 500, "currency": "USD"});

    problem(
        api.post("/api/v1/products", None, new.clone()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        api.post("/api/v1/products", Some(&shopper), new.clone())
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let created: Value = api
        .post("/api/v1/products", Some(&admin), new.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["available"], 0, "available defaults to 0");
    problem(
        api.post("/api/v1/products", Some(&admin), new).await,
        StatusCode::CONFLICT,
    )
    .await;
    let invalid = json!({"sku": "X", "name": "", "category": "test", "unit_price_cents": 1, "currency": "USD"});
    problem(
        api.post("/api/v1/products", Some(&admin), invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let wrong_type = json!({"sku": "X", "name": "n", "category": "t", "unit_price_cents": "a lot", "currency": "USD"});
    problem(
        api.post("/api/v1/products", Some(&admin), wrong_type).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let id = created["id"].as_str().unwrap();
    let patched = api
        .call(
            Method::PATCH,
            &format!("/api/v1/products/{id}"),
            Some(&admin),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(patched.json::<Value>().await.unwrap()["name"], "Renamed");

    let stock = format!("/api/v1/products/{id}/stock");
    let restocked: Value = api
        .post(&stock, Some(&admin), json!({"delta": 5}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(restocked["available"], 5);
    problem(
        api.post(&stock, Some(&admin), json!({"delta": -6})).await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        api.post(&stock, Some(&admin), json!({"delta": 0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        api.post(&stock, Some(&shopper), json!({"delta": 1})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn cart_routes_add_set_remove_and_clear() {
    let api = start().await;
    let admin = api.admin().await;
    let shopper = api.guest().await;
    let mug = api.product(&admin, "MUG", 1250, 10).await;
    let id = mug["id"].as_str().unwrap();
    let add = |quantity: i64| json!({"product_id": id, "quantity": quantity});

    let empty: Value = api
        .get("/api/v1/cart", Some(&shopper))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], json!([]));
    problem(
        api.get("/api/v1/cart", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    api.post("/api/v1/cart/items", Some(&shopper), add(2)).await;
    let cart: Value = api
        .post("/api/v1/cart/items", Some(&shopper), add(1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cart["items"][0]["quantity"], 3);
    assert_eq!(cart["items"][0]["line_total_cents"], 3750);
    assert_eq!(
        (cart["subtotal_cents"].clone(), cart["currency"].clone()),
        (json!(3750), json!("USD"))
    );

    problem(
        api.post("/api/v1/cart/items", Some(&shopper), add(0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        api.post("/api/v1/cart/items", Some(&shopper), add(97))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let unknown = json!({"product_id": uuid::Uuid::new_v4(), "quantity": 1});
    problem(
        api.post("/api/v1/cart/items", Some(&shopper), unknown)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let line = format!("/api/v1/cart/items/{id}");
    let set: Value = api
        .call(
            Method::PUT,
            &line,
            Some(&shopper),
            Some(json!({"quantity": 5})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(set["items"][0]["quantity"], 5);
    let removed: Value = api
        .call(
            Method::PUT,
            &line,
            Some(&shopper),
            Some(json!({"quantity": 0})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(removed["items"], json!([]));
    api.post("/api/v1/cart/items", Some(&shopper), add(1)).await;
    let deleted = api.call(Method::DELETE, &line, Some(&shopper), None).await;
    assert_eq!(deleted.json::<Value>().await.unwrap()["items"], json!([]));
    problem(
        api.call(
            Method::DELETE,
            "/api/v1/cart/items/nope",
            Some(&shopper),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    api.post("/api/v1/cart/items", Some(&shopper), add(1)).await;
    let cleared = api
        .call(Method::DELETE, "/api/v1/cart", Some(&shopper), None)
        .await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn checkout_routes_place_replay_list_get_and_cancel() {
    let api = start().await;
    let admin = api.admin().await;
    let alice = api.guest().await;
    let bob = api.guest().await;
    let mug = api.product(&admin, "MUG", 1250, 3).await;
    let id = mug["id"].as_str().unwrap();

    problem(api.place(&alice, None).await, StatusCode::BAD_REQUEST).await;
    let empty = problem(
        api.place(&alice, Some("k0")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(empty["type"], "/problems/empty-cart");

    api.post(
        "/api/v1/cart/items",
        Some(&alice),
        json!({"product_id": id, "quantity": 2}),
    )
    .await;
    let placed = api.place(&alice, Some("k1")).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "CONFIRMED");
    assert_eq!(order["total_cents"], 2500);
    assert!(order["number"].as_str().unwrap().starts_with("SO-"));
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
    let replay = api.place(&alice, Some("k1")).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], order["id"]);

    // Only one mug is left: Bob's two are short.
    api.post(
        "/api/v1/cart/items",
        Some(&bob),
        json!({"product_id": id, "quantity": 2}),
    )
    .await;
    let short = problem(api.place(&bob, Some("k1")).await, StatusCode::CONFLICT).await;
    assert_eq!(short["type"], "/problems/insufficient-stock");
    assert_eq!(short["items"][0]["product_id"], id);

    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    assert_eq!(
        api.get(&order_path, Some(&alice)).await.status(),
        StatusCode::OK
    );
    problem(
        api.get(&order_path, Some(&bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        api.get("/api/v1/orders/not-a-uuid", Some(&alice)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let history: Value = api
        .get("/api/v1/orders?page_size=10", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    assert!(history["next_page_token"].is_null());
    problem(
        api.get("/api/v1/orders?page_size=500", Some(&alice)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let cancel = format!("{order_path}/cancel");
    problem(
        api.call(Method::POST, &cancel, Some(&bob), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let cancelled = api.call(Method::POST, &cancel, Some(&alice), None).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "CANCELLED"
    );
    problem(
        api.call(Method::POST, &cancel, Some(&alice), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    let mug_now: Value = api
        .get(&format!("/api/v1/products/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mug_now["available"], 3,
        "the cancelled order's stock came back"
    );
}

#[tokio::test]
async fn bad_tokens_are_401_and_bodies_over_one_mebibyte_are_413() {
    let api = start().await;
    problem(
        api.get("/api/v1/cart", Some("not.a.jwt")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let admin = api.admin().await;
    let mut forged = admin.clone();
    forged.pop();
    forged.push(if admin.ends_with('A') { 'B' } else { 'A' });
    problem(
        api.get("/api/v1/cart", Some(&forged)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let huge = "x".repeat(1_048_577);
    let response = api
        .http
        .post(format!("{}/api/v1/cart/items", api.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!("{{\"product_id\":\"{huge}\",\"quantity\":1}}"))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    let malformed = api
        .http
        .post(format!("{}/api/v1/cart/items", api.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"product_id\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST).await;
    problem(
        api.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let api = start_with(&[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "3")]).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let response = api.get("/api/v1/products", None).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
            problem(response, StatusCode::TOO_MANY_REQUESTS).await;
        }
    }
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn a_backend_that_is_down_gives_503_not_500() {
    let mut api = start().await;
    api.stack.product.shut_down().await.unwrap();

    let body = problem(
        api.get("/api/v1/products", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;

    assert!(
        !body["detail"].as_str().unwrap().contains("tcp"),
        "no internals: {body}"
    );
    let readyz = reqwest::get(format!("http://{}/readyz", api.stack.gateway.admin_addr))
        .await
        .unwrap();
    let mut status = readyz.status();
    for _ in 0..30 {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        status = reqwest::get(format!("http://{}/readyz", api.stack.gateway.admin_addr))
            .await
            .unwrap()
            .status();
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn openapi_document_and_docs_page_are_served() {
    let api = start().await;
    let response = api.get("/openapi.json", None).await;
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries its request id"
    );
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/products",
        "/api/v1/cart/items/{product_id}",
        "/api/v1/orders/{id}/cancel",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    let docs = api.get("/docs", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("/openapi.json") && !html.contains("https://"),
        "offline docs page"
    );

    let readyz = format!("http://{}/readyz", api.stack.gateway.admin_addr);
    let mut status = reqwest::get(&readyz).await.unwrap().status();
    for _ in 0..30 {
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        status = reqwest::get(&readyz).await.unwrap().status();
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "ready once every backend is SERVING"
    );
}

#[tokio::test]
async fn the_storefront_starts_a_guest_session_and_refuses_forms_without_its_csrf_token() {
    let api = start().await;
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

/// Parses Prometheus exposition text into (series, value); panics on a bad line.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {line:?}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "bad labels in {line:?}");
            }
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            (series.to_string(), value)
        })
        .collect()
}

fn sum(series: &[(String, f64)], prefix: &str, needle: &str) -> f64 {
    series
        .iter()
        .filter(|(s, _)| s.starts_with(prefix) && s.contains(needle))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn every_metrics_endpoint_parses_and_its_counters_move_after_traffic() {
    let api = start().await;
    let admins = [
        api.stack.gateway.admin_addr,
        api.stack.product.admin_addr,
        api.stack.cart.admin_addr,
        api.stack.order.admin_addr,
    ];
    let scrape = |addr: std::net::SocketAddr| async move {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        parse_exposition(&text)
    };
    let before = scrape(admins[0]).await;

    let admin = api.admin().await;
    let shopper = api.guest().await;
    let mug = api.product(&admin, "MUG", 100, 5).await;
    api.post(
        "/api/v1/cart/items",
        Some(&shopper),
        json!({"product_id": mug["id"], "quantity": 1}),
    )
    .await;
    assert_eq!(
        api.place(&shopper, Some("metrics")).await.status(),
        StatusCode::CREATED
    );

    for addr in admins {
        let after = scrape(addr).await;
        assert!(!after.is_empty(), "{addr} exposes metrics");
        for name in [
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "grpc_server_requests_total",
            "grpc_server_request_duration_seconds_bucket",
            "grpc_client_requests_total",
            "checkout_outcomes_total",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
        ] {
            assert!(
                after.iter().any(|(s, _)| s.starts_with(name)),
                "{addr}: missing {name}"
            );
        }
    }
    let after = scrape(admins[0]).await;
    let orders = r#"route="/api/v1/orders""#;
    assert!(
        sum(&after, "http_requests_total", orders) > sum(&before, "http_requests_total", orders)
    );
    assert!(sum(&after, "grpc_server_requests_total", "PlaceOrder") >= 1.0);
    assert!(
        sum(
            &after,
            "grpc_server_request_duration_seconds_count",
            "ReserveStock"
        ) >= 1.0
    );
    assert!(sum(&after, "checkout_outcomes_total", r#"outcome="confirmed""#) >= 1.0);
    assert!(
        after
            .iter()
            .any(|(s, _)| s.starts_with("db_pool_connections")),
        "pool gauges"
    );
    // Route templates, never raw ids.
    assert!(
        !after
            .iter()
            .any(|(s, _)| s.contains(mug["id"].as_str().unwrap())),
        "no raw ids in labels"
    );
}

/// Every route a shopper can call, from Bob's token, against Alice's cart
/// and order: Bob sees and changes only his own; admin routes are 403 for
/// both; no token is 401.
#[tokio::test]
async fn a_shopper_reaches_nothing_of_another_shopper_on_any_route() {
    let api = start().await;
    let admin = api.admin().await;
    let alice = api.guest().await;
    let bob = api.guest().await;
    let mug = api.product(&admin, "MATRIX-MUG", 900, 10).await;
    let id = mug["id"].as_str().unwrap();
    let add = |qty: i64| json!({"product_id": id, "quantity": qty});

    api.post("/api/v1/cart/items", Some(&alice), add(1)).await;
    let placed = api.place(&alice, Some("alice-key")).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    let order_id = order["id"].as_str().unwrap();
    api.post("/api/v1/cart/items", Some(&alice), add(3)).await;
    let alice_cart = || async {
        let cart: Value = api
            .get("/api/v1/cart", Some(&alice))
            .await
            .json()
            .await
            .unwrap();
        cart["items"].clone()
    };
    let before = alice_cart().await;
    assert_eq!(before[0]["quantity"], 3);

    // Reads: Bob's cart and history hold nothing of Alice's; her order is 404.
    let bobs: Value = api
        .get("/api/v1/cart", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"], json!([]));
    let history: Value = api
        .get("/api/v1/orders", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"], json!([]));
    let order_path = format!("/api/v1/orders/{order_id}");
    problem(
        api.get(&order_path, Some(&bob)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Writes: each lands on Bob's own cart or is refused; Alice's stay put.
    let line = format!("/api/v1/cart/items/{id}");
    api.post("/api/v1/cart/items", Some(&bob), add(2)).await;
    api.call(Method::PUT, &line, Some(&bob), Some(json!({"quantity": 5})))
        .await;
    api.call(Method::DELETE, &line, Some(&bob), None).await;
    api.call(Method::DELETE, "/api/v1/cart", Some(&bob), None)
        .await;
    assert_eq!(alice_cart().await, before);
    problem(
        api.post(&format!("{order_path}/cancel"), Some(&bob), json!({}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Alice's idempotency key means nothing for Bob: his (empty) cart is
    // judged, not her order replayed.
    problem(
        api.place(&bob, Some("alice-key")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mine: Value = api
        .get(&order_path, Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "CONFIRMED");

    // Admin routes are closed to shoppers; shopper routes need a token.
    let product_path = format!("/api/v1/products/{id}");
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/products".to_string(),
            json!({"sku": "X"}),
        ),
        (
            Method::PATCH,
            product_path.clone(),
            json!({"name": "Taken"}),
        ),
        (
            Method::POST,
            format!("{product_path}/stock"),
            json!({"delta": -10}),
        ),
    ] {
        for token in [&alice, &bob] {
            problem(
                api.call(method.clone(), &path, Some(token), Some(body.clone()))
                    .await,
                StatusCode::FORBIDDEN,
            )
            .await;
        }
    }
    for (method, path) in [
        (Method::GET, "/api/v1/cart".to_string()),
        (Method::POST, "/api/v1/cart/items".to_string()),
        (Method::PUT, line.clone()),
        (Method::DELETE, line.clone()),
        (Method::DELETE, "/api/v1/cart".to_string()),
        (Method::POST, "/api/v1/orders".to_string()),
        (Method::GET, "/api/v1/orders".to_string()),
        (Method::GET, order_path.clone()),
        (Method::POST, format!("{order_path}/cancel")),
    ] {
        problem(
            api.call(method, &path, None, Some(json!({}))).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let stock: Value = api.get(&product_path, None).await.json().await.unwrap();
    assert_eq!(stock["available"], 9, "only Alice's one mug was sold");
}

/// Truncated, wrongly typed and mislabelled bodies and absurd headers are
/// each a 4xx problem, never a 5xx.
#[tokio::test]
async fn malformed_bodies_and_headers_are_refused_cleanly() {
    let api = start().await;
    let shopper = api.guest().await;
    let url = format!("{}/api/v1/cart/items", api.base);
    let send = |body: &'static str, content_type: &'static str| {
        api.http
            .post(&url)
            .bearer_auth(&shopper)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            "truncated JSON",
            send(r#"{"product_id": "#, "application/json")
                .await
                .unwrap(),
        ),
        (
            "wrong types",
            send(
                r#"{"product_id": 5, "quantity": "two"}"#,
                "application/json",
            )
            .await
            .unwrap(),
        ),
        (
            "not an object",
            send("[1, 2, 3]", "application/json").await.unwrap(),
        ),
        (
            "not JSON at all",
            send("\u{0}\u{1}binary", "application/json").await.unwrap(),
        ),
        (
            "wrong content type",
            send(r#"{"product_id": "x", "quantity": 1}"#, "text/plain")
                .await
                .unwrap(),
        ),
        (
            "an Idempotency-Key of 8 KiB",
            api.http
                .post(format!("{}/api/v1/orders", api.base))
                .bearer_auth(&shopper)
                .header("Idempotency-Key", "k".repeat(8192))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a bearer token of 8 KiB",
            api.http
                .get(format!("{}/api/v1/cart", api.base))
                .bearer_auth("x".repeat(8192))
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (case, response) in cases {
        let status = response.status();
        assert!(status.is_client_error(), "{case}: {status}");
        problem(response, status).await;
    }
}
