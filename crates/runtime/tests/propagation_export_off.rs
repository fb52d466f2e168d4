//! W3C trace context in and out of a service with export off, the default:
//! no OpenTelemetry layer is installed, yet the `grpc.server` span joins
//! the caller's trace (or starts one) and a call made inside it carries
//! that trace on. One process, one global subscriber, installed as every
//! binary does without `OTEL_EXPORTER_OTLP_ENDPOINT`.

use std::collections::HashMap;
use std::sync::Once;

mod common;

use common::{CALLER_SPAN_ID, TRACE_ID, from_caller, traceparent};
use http::{HeaderMap, HeaderValue};
use shop_runtime::telemetry::client_span;
use shop_runtime::{Env, telemetry};

/// Installs telemetry with export off, once for the test binary.
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let env = Env::from_map(HashMap::from([("LOG_FORMAT".into(), "json".into())]));
        std::mem::forget(telemetry::init(&env, "propagation-off-test").unwrap());
        assert!(!telemetry::exports());
    });
}

/// [`common::outgoing_headers`] once telemetry is installed.
fn outgoing_headers(incoming: HeaderMap) -> HeaderMap {
    init();
    common::outgoing_headers("propagation-off-test", incoming)
}

#[test]
fn with_export_off_a_call_made_while_serving_one_carries_the_callers_trace_and_flags() {
    for flags in ["01", "00"] {
        let outgoing = outgoing_headers(from_caller(flags));

        let parts = traceparent(&outgoing);
        assert_eq!(parts.len(), 4, "traceparent is version-trace-span-flags");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], TRACE_ID, "the trace goes on");
        assert_eq!(parts[2].len(), 16);
        assert_ne!(
            parts[2], CALLER_SPAN_ID,
            "the call has a span id of its own"
        );
        assert_ne!(parts[2], "0000000000000000");
        assert_eq!(parts[3], flags, "the caller's sampling decision is kept");
    }
}

#[test]
fn with_export_off_the_callers_tracestate_travels_on_and_an_empty_one_is_not_sent() {
    let mut incoming = from_caller("01");
    let without = outgoing_headers(incoming.clone());
    assert!(without.get("tracestate").is_none(), "{without:?}");

    incoming.insert("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
    let with = outgoing_headers(incoming);
    assert_eq!(
        with.get("tracestate").map(|v| v.to_str().unwrap()),
        Some("congo=t61rcWkgMzE")
    );
}

#[test]
fn with_export_off_a_call_with_no_or_a_malformed_trace_context_starts_a_sampled_trace() {
    let mut malformed = HeaderMap::new();
    malformed.insert("traceparent", HeaderValue::from_static("00-not-hex-01"));
    let mut seen = Vec::new();
    for incoming in [HeaderMap::new(), HeaderMap::new(), malformed] {
        let parts = traceparent(&outgoing_headers(incoming));
        assert_eq!(parts[1].len(), 32);
        assert!(parts[1].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(parts[1], "0".repeat(32));
        assert_eq!(parts[3], "01");
        seen.push(parts[1].clone());
    }
    assert_ne!(seen[0], seen[1], "each request starts a trace of its own");
}

#[test]
fn with_export_off_a_call_outside_any_trace_sends_no_trace_context() {
    init();
    let mut outgoing = HeaderMap::new();
    let _client = client_span("shop.product.v1.ProductService/GetProduct", &mut outgoing);
    assert!(outgoing.get("traceparent").is_none(), "{outgoing:?}");
}
