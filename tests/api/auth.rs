//! Sign-in: guest tokens and the administrator login.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, TEST_ADMIN_PASSWORD, problem};

#[tokio::test]
async fn guest_tokens_and_admin_login() {
    let api = Api::start().await;
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
