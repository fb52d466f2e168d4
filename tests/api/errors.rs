//! Error statuses every route shares: 401, 413, 503 and malformed requests, always problem+json.

use reqwest::{Response, StatusCode};

use crate::support::{Api, problem};

/// `token` with the last character of its signature changed.
fn forged(token: &str) -> String {
    let mut forged = token.to_string();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    forged
}

/// `POST /api/v1/cart/items` with the raw JSON `body`, as `token`.
async fn add_raw(api: &Api, token: &str, body: String) -> Response {
    api.http
        .post(format!("{}/api/v1/cart/items", api.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_that_is_not_a_jwt_is_a_401_problem() {
    let api = Api::start().await;
    let response = api.get("/api/v1/cart", Some("not.a.jwt")).await;
    problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_token_with_a_forged_signature_is_a_401_problem() {
    let api = Api::start().await;
    let shopper = api.guest().await;
    let genuine = api.get("/api/v1/cart", Some(&shopper)).await;
    assert_eq!(genuine.status(), StatusCode::OK, "the unforged token works");

    let response = api.get("/api/v1/cart", Some(&forged(&shopper))).await;

    problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413_problem() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let huge = "x".repeat(1_048_577);

    let response = add_raw(
        &api,
        &admin,
        format!("{{\"product_id\":\"{huge}\",\"quantity\":1}}"),
    )
    .await;

    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn a_truncated_json_body_is_a_400_problem() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let response = add_raw(&api, &admin, "{\"product_id\": ".to_string()).await;
    problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let api = Api::start().await;
    let response = api.get("/api/v1/nothing-here", None).await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_backend_that_is_down_gives_503_not_500() {
    let mut api = Api::start().await;
    api.stack.product.shut_down().await.unwrap();

    let response = api.get("/api/v1/products", None).await;

    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn a_503_problem_tells_nothing_of_the_backends_internals() {
    let mut api = Api::start().await;
    api.stack.product.shut_down().await.unwrap();

    let response = api.get("/api/v1/products", None).await;

    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        !body["detail"].as_str().unwrap().contains("tcp"),
        "no internals: {body}"
    );
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
