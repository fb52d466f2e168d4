//! W3C trace context in and out of a service: the `grpc.server` span
//! continues the caller's trace, and a call made inside it carries that
//! trace on, with the caller's `tracestate`, to the next service. One
//! process, one global subscriber (with export on, so spans have OpenTelemetry
//! contexts); the exporter connects lazily to an address nobody listens on
//! and nothing waits for it.

use std::collections::HashMap;
use std::sync::Once;

mod common;

use common::{CALLER_SPAN_ID, TRACE_ID, from_caller, traceparent};
use http::{HeaderMap, HeaderValue};
use shop_runtime::{Env, telemetry};

/// Installs telemetry with export on, once for the test binary, on a
/// runtime that outlives every test (the exporter's channel lives on it).
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let env = Env::from_map(HashMap::from([(
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        )]));
        let runtime = Box::leak(Box::new(tokio::runtime::Runtime::new().unwrap()));
        let _guard = runtime.enter();
        std::mem::forget(telemetry::init(&env, "propagation-test").unwrap());
    });
}

/// [`common::outgoing_headers`] once telemetry is installed.
fn outgoing_headers(incoming: HeaderMap) -> HeaderMap {
    init();
    common::outgoing_headers("propagation-test", incoming)
}

#[test]
fn a_call_made_while_serving_one_carries_the_callers_trace_and_a_span_of_its_own() {
    let outgoing = outgoing_headers(from_caller("01"));

    let parts = traceparent(&outgoing);
    assert_eq!(parts.len(), 4, "traceparent is version-trace-span-flags");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], TRACE_ID, "the trace goes on");
    assert_eq!(parts[2].len(), 16);
    assert_ne!(
        parts[2], CALLER_SPAN_ID,
        "the parent is the client span, not the caller"
    );
    assert_ne!(parts[2], "0000000000000000");
    assert_eq!(parts[3], "01", "the caller's sampling decision is kept");
}

#[test]
fn the_callers_tracestate_travels_on_and_an_empty_one_is_not_sent() {
    let mut incoming = from_caller("01");
    let without = outgoing_headers(incoming.clone());
    assert!(
        without.get("tracestate").is_none(),
        "no vendor state, no header: {without:?}"
    );

    incoming.insert("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
    let with = outgoing_headers(incoming);
    assert_eq!(
        with.get("tracestate").map(|v| v.to_str().unwrap()),
        Some("congo=t61rcWkgMzE")
    );
    assert_eq!(traceparent(&with)[1], TRACE_ID);
}

#[test]
fn a_call_with_no_trace_context_starts_a_trace() {
    let outgoing = outgoing_headers(HeaderMap::new());
    let parts = traceparent(&outgoing);
    assert_ne!(parts[1], TRACE_ID);
    assert_ne!(parts[1], "00000000000000000000000000000000");
    assert!(outgoing.get("tracestate").is_none());
}
