//! Sign-in: guest tokens and the administrator login.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, TEST_ADMIN_PASSWORD, problem};

#[tokio::test]
async fn a_guest_sign_in_is_a_201_with_a_user_id_and_an_expiry_in_utc() {
    let api = Api::start().await;

    let response = api
        .call(Method::POST, "/api/v1/auth/guest", None, None)
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let guest: Value = response.json().await.unwrap();
    assert!(guest["token"].is_string(), "{guest}");
    assert!(guest["user_id"].as_str().unwrap().len() == 36);
    assert!(guest["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_administrator_logs_in_with_the_admin_role() {
    let api = Api::start().await;

    let response = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let login: Value = response.json().await.unwrap();
    assert_eq!(login["role"], "admin");
    assert!(login["token"].is_string(), "{login}");
}

#[tokio::test]
async fn a_wrong_password_is_a_401_problem_that_never_echoes_the_password() {
    let api = Api::start().await;

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
