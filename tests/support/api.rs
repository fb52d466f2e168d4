//! A REST client for the stack's gateway, the setup the API tests share,
//! and the problem+json check.

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{Stack, TEST_ADMIN_PASSWORD};

/// The stack and a REST client for its gateway.
pub struct Api {
    /// The four components and their database.
    pub stack: Stack,
    /// The client every request goes through (it follows redirects).
    pub http: Client,
    /// Base URL of the gateway, e.g. `http://127.0.0.1:41234`.
    pub base: String,
}

impl Api {
    /// The stack with the gateway's defaults.
    pub async fn start() -> Api {
        Self::start_with(&[]).await
    }

    /// The stack; `vars` add or override the gateway's variables.
    pub async fn start_with(vars: &[(&str, &str)]) -> Api {
        Self::on(Stack::start(vars).await)
    }

    /// A client for `stack`.
    pub fn on(stack: Stack) -> Api {
        let base = stack.base_url();
        Api {
            stack,
            http: Client::new(),
            base,
        }
    }

    /// Sends `method path`, with a bearer `token` and a JSON `body` if given.
    pub async fn call(
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

    /// `GET path`, with a bearer `token` if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    /// The JSON body of `GET path`, which must answer 200.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// `POST path` with the JSON `body`, with a bearer `token` if given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// `PUT path` with the JSON `body` and the bearer `token`.
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// `DELETE path` with the bearer `token`.
    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A new guest's token (the sign-in must answer 201).
    pub async fn guest(&self) -> String {
        let response = self
            .call(Method::POST, "/api/v1/auth/guest", None, None)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// The administrator's token (the login must answer 200 with the admin role).
    pub async fn admin(&self) -> String {
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

    /// Creates a product in category `test`, priced in USD, as `admin`; its body (must be a 201).
    pub async fn product(&self, admin: &str, sku: &str, price: i64, available: i64) -> Value {
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

    /// The id of a new product as [`Api::product`] makes it, signing in as the administrator first.
    pub async fn product_in_stock(&self, sku: &str, price: i64, available: i64) -> String {
        let admin = self.admin().await;
        let product = self.product(&admin, sku, price, available).await;
        product["id"].as_str().unwrap().to_string()
    }

    /// Adds `quantity` of `product_id` to the cart of `token`; the cart (must be a 200).
    pub async fn add_to_cart(&self, token: &str, product_id: &str, quantity: i64) -> Value {
        let response = self
            .post(
                "/api/v1/cart/items",
                Some(token),
                json!({"product_id": product_id, "quantity": quantity}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "adding to the cart");
        response.json().await.unwrap()
    }

    /// A new guest's token, with `quantity` of `product_id` in the guest's cart.
    pub async fn shopper_with(&self, product_id: &str, quantity: i64) -> String {
        let shopper = self.guest().await;
        self.add_to_cart(&shopper, product_id, quantity).await;
        shopper
    }

    /// `POST /api/v1/orders` for `token`, with an `Idempotency-Key` header if `key` is given.
    pub async fn place(&self, token: &str, key: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    /// Places the cart of `token` under `key`; the order (must be a 201).
    pub async fn placed_order(&self, token: &str, key: &str) -> Value {
        let response = self.place(token, Some(key)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "placing an order");
        response.json().await.unwrap()
    }

    /// The storefront page at `path` as the visitor whose session is
    /// `token` (the storefront's cookie holds the same JWT the API takes).
    pub async fn page_as(&self, path: &str, token: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("shop_session={token}"))
            .send()
            .await
            .expect("gateway answers")
            .text()
            .await
            .unwrap()
    }

    /// Polls the gateway's `/readyz` for up to 6 s until it answers `wanted`; the last status.
    pub async fn readiness(&self, wanted: StatusCode) -> StatusCode {
        let url = format!("http://{}/readyz", self.stack.gateway.admin_addr);
        let status = || async { reqwest::get(&url).await.expect("readyz answers").status() };
        let mut last = status().await;
        for _ in 0..30 {
            if last == wanted {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            last = status().await;
        }
        last
    }
}

/// Asserts a problem+json error with `status` and returns its body.
pub async fn problem(response: Response, status: StatusCode) -> Value {
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
