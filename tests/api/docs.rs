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

/// The head of `GET path` sent by hand with `Accept-Encoding: gzip`, as
/// a browser asks (the test client would decompress and hide it).
async fn head_with_gzip(api: &Api, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = api.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    text.split("\r\n\r\n").next().unwrap().to_string()
}

#[tokio::test]
async fn a_large_answer_is_gzipped_for_a_client_that_accepts_it() {
    let api = Api::start().await;
    let head = head_with_gzip(&api, "/openapi.json").await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
}

#[tokio::test]
async fn an_answer_under_a_kibibyte_is_sent_as_it_is() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    let head = head_with_gzip(&api, &format!("/api/v1/products/{id}")).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
}
