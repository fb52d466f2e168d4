//! Fault control on the admin port: off unless `FAULTS_TOKEN` is set,
//! every change needs the token, no browser can make one, and the faults
//! in force are capped.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;

const TOKEN: &str = "a-faults-token-for-tests";

fn faults_with(vars: &[(&str, &str)]) -> Result<Faults, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Faults::from_env(&Env::from_map(map))
}

/// Sends one request to the `/faults` routes of `faults`.
async fn send(
    faults: &Faults,
    method: Method,
    headers: &[(header::HeaderName, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri("/faults");
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = admin_router(faults.clone())
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn bearer(token: &str) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {token}"))
}

#[tokio::test]
async fn a_write_without_the_token_or_with_another_is_refused_and_changes_nothing() {
    let faults = faults_with(&[("FAULTS_TOKEN", TOKEN)]).unwrap();
    for method in [Method::PUT, Method::POST, Method::DELETE] {
        let (status, _) = send(&faults, method.clone(), &[], "unready").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} without a token");
        let (name, value) = bearer("not-the-faults-token");
        let (status, _) = send(&faults, method.clone(), &[(name, &value)], "unready").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} with another token"
        );
    }
    assert!(faults.list().is_empty());
    assert!(!faults.unready());

    let (name, value) = bearer(TOKEN);
    let (status, body) = send(&faults, Method::PUT, &[(name, &value)], "unready").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "unready\n"));
    assert!(faults.unready());
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_even_with_the_token() {
    let faults = faults_with(&[("FAULTS_TOKEN", TOKEN)]).unwrap();
    let form = [
        (header::ORIGIN, "https://evil.example"),
        (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
    ];
    let (status, _) = send(&faults, Method::POST, &form, "unready").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (name, value) = bearer(TOKEN);
    let with_token = [form[0].clone(), form[1].clone(), (name, value.as_str())];
    let (status, _) = send(&faults, Method::POST, &with_token, "unready").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(faults.list().is_empty(), "nothing was set");
}

#[tokio::test]
async fn with_control_off_no_fault_is_ever_applied_whatever_is_sent() {
    let faults = faults_with(&[]).unwrap();
    assert!(!faults.controlled());
    let (name, value) = bearer(TOKEN);
    for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
        let (status, body) = send(
            &faults,
            method.clone(),
            &[(name.clone(), &value)],
            "unready",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert!(body.contains("FAULTS_TOKEN"), "{body}");
    }
    assert!(faults.list().is_empty());
    assert!(
        faults
            .on_served("/shop.product.v1.ProductService/GetProduct")
            .is_none()
    );
    assert!(!faults.unready());

    // Faults at start need control on too: an error naming the variable.
    let error = faults_with(&[("FAULTS", "unready")]).unwrap_err();
    assert_eq!(error.var, "FAULTS");
    assert!(error.message.contains("FAULTS_TOKEN"), "{error}");
}

#[tokio::test]
async fn a_short_token_is_refused_by_name() {
    let error = faults_with(&[("FAULTS_TOKEN", "short")]).unwrap_err();
    assert_eq!(error.var, "FAULTS_TOKEN");
}

#[tokio::test]
async fn the_faults_in_force_and_the_size_of_a_change_are_capped() {
    let faults = faults_with(&[("FAULTS_TOKEN", TOKEN)]).unwrap();
    let (name, value) = bearer(TOKEN);
    let auth = [(name, value.as_str())];
    let many = vec!["latency 1ms"; MAX_FAULTS + 1].join("; ");
    let (status, body) = send(&faults, Method::PUT, &auth, &many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(&MAX_FAULTS.to_string()), "{body}");

    let full = vec!["latency 1ms"; MAX_FAULTS].join("; ");
    assert_eq!(
        send(&faults, Method::PUT, &auth, &full).await.0,
        StatusCode::OK
    );
    let (status, _) = send(&faults, Method::POST, &auth, "unready").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "one more is refused");
    assert_eq!(faults.list().len(), MAX_FAULTS);

    let huge = format!("latency 1ms on {}", "x".repeat(8192));
    let (status, _) = send(&faults, Method::PUT, &auth, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
