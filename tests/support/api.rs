//! A REST client for the stack's gateway, and the problem+json check.

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{Stack, TEST_ADMIN_PASSWORD};

/// The stack and a REST client for its gateway.
pub struct Api {
    pub stack: Stack,
    pub http: Client,
    pub base: String,
}

impl Api {
    /// The stack with the gateway's defaults.
    pub async fn start() -> Api {
        Self::start_with(&[]).await
    }

    /// The stack; `vars` add or override the gateway's variables.
    pub async fn start_with(vars: &[(&str, &str)]) -> Api {
        let stack = Stack::start(vars).await;
        let base = stack.base_url();
        Api {
            stack,
            http: Client::new(),
            base,
        }
    }

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

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn guest(&self) -> String {
        let response = self
            .call(Method::POST, "/api/v1/auth/guest", None, None)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

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
