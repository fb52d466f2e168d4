//! The OpenAPI document and the docs page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::Api;

#[tokio::test]
async fn openapi_document_and_docs_page_are_served() {
    let api = Api::start().await;
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
