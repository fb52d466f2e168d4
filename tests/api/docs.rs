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

/// Every `src="…"` and `href="…"` of an HTML page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_docs_page_loads_the_openapi_document_and_nothing_from_the_internet() {
    let api = Api::start().await;

    let docs = api.get("/docs", None).await;

    assert_eq!(docs.status(), StatusCode::OK);
    assert_eq!(docs.url().path(), "/docs/", "/docs redirects to /docs/");
    let html = docs.text().await.unwrap();
    assert!(!html.contains("https://"), "offline docs page: {html}");
    let assets = references(&html);
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")),
        "{assets:?}"
    );
    // Every script, stylesheet and icon comes from the gateway itself.
    let mut initializer = String::new();
    for asset in &assets {
        assert!(!asset.contains(':'), "{asset} is not this origin's");
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let answer = api.get(&path, None).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        if asset.ends_with("swagger-initializer.js") {
            initializer = answer.text().await.unwrap();
        }
    }
    // The page's own script reads this gateway's document, and no other.
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
    assert!(!initializer.contains("https://"), "{initializer}");
}

#[tokio::test]
async fn the_docs_page_allows_no_inline_script_no_eval_and_no_other_origin() {
    let api = Api::start().await;

    for path in ["/docs/", "/docs/swagger-initializer.js"] {
        let answer = api.get(path, None).await;
        let csp = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("connect-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        for loose in ["unsafe-inline", "unsafe-eval", "http", "*"] {
            assert!(!csp.contains(loose), "{path} allows {loose}: {csp}");
        }
        assert_eq!(answer.headers()["x-frame-options"], "DENY", "{path}");
    }
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
