//! What the W3C trace-context tests share, with export on
//! (`propagation.rs`) and off (`propagation_export_off.rs`): each runs in a
//! process of its own, since telemetry is installed once per process.
#![allow(dead_code)]

use http::{HeaderMap, HeaderValue};
use shop_runtime::telemetry::{GrpcServerSpan, client_span};
use tower_http::trace::MakeSpan as _;

/// The caller's trace.
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The caller's span.
pub const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// The headers of the call `component` makes to the next service while it
/// handles an incoming call that carried `incoming`.
pub fn outgoing_headers(component: &'static str, incoming: HeaderMap) -> HeaderMap {
    let mut request = http::Request::post("/shop.cart.v1.CartService/GetCart")
        .body(())
        .unwrap();
    *request.headers_mut() = incoming;
    let server = GrpcServerSpan { component }.make_span(&request);
    let _entered = server.enter();
    let mut outgoing = HeaderMap::new();
    let _client = client_span("shop.product.v1.ProductService/GetProduct", &mut outgoing);
    outgoing
}

/// The headers of a call from `CALLER_SPAN_ID` in `TRACE_ID` with `flags`.
pub fn from_caller(flags: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_str(&format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-{flags}")).unwrap(),
    );
    headers
}

/// The four dash-separated parts of the `traceparent` header.
pub fn traceparent(headers: &HeaderMap) -> Vec<String> {
    let value = headers.get("traceparent").expect("a traceparent header");
    value
        .to_str()
        .unwrap()
        .split('-')
        .map(String::from)
        .collect()
}
