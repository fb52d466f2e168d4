//! Error statuses every route shares: 401, 413, 503 and malformed requests, always problem+json.

use reqwest::StatusCode;

use crate::support::{Api, problem};

#[tokio::test]
async fn bad_tokens_are_401_and_bodies_over_one_mebibyte_are_413() {
    let api = Api::start().await;
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
async fn a_backend_that_is_down_gives_503_not_500() {
    let mut api = Api::start().await;
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

/// Truncated, wrongly typed and mislabelled bodies and absurd headers are
/// each a 4xx problem, never a 5xx.
#[tokio::test]
async fn malformed_bodies_and_headers_are_refused_cleanly() {
    let api = Api::start().await;
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
