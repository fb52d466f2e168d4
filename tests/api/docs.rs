//! The OpenAPI document and the docs page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::Api;

#[tokio::test]
async fn every_response_carries_its_request_id() {
    let api = Api::start().await;
    let response = api.get("/openapi.json", None).await;
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries its request id"
    );
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1() {
    let api = Api::start().await;
    let doc = api.get_json("/openapi.json", None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_of_the_contract() {
    let api = Api::start().await;
    let doc: Value = api.get_json("/openapi.json", None).await;
    for path in [
        "/api/v1/products",
        "/api/v1/cart/items/{product_id}",
        "/api/v1/orders/{id}/cancel",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
}

#[tokio::test]
async fn the_docs_page_loads_the_openapi_document_and_nothing_from_the_internet() {
    let api = Api::start().await;

    let docs = api.get("/docs", None).await;

    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("/openapi.json") && !html.contains("https://"),
        "offline docs page"
    );
}
