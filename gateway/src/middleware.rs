//! Middleware of the gateway that tower-http does not provide: RED metrics
//! per route template and the HTTP server span (the limits are in
//! [`crate::limits`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Component name in logs, metrics and traces (the crate exports it as
/// `gateway::COMPONENT`).
pub const COMPONENT: &str = shop_topology::Component::Gateway.name();

/// `http_requests_total{route,method,status}` and
/// `http_request_duration_seconds{route,method}`, by route template.
pub(crate) async fn record_metrics(request: Request, next: Next) -> Response {
    static RED: std::sync::LazyLock<shop_runtime::telemetry::RedMetrics> =
        std::sync::LazyLock::new(|| {
            shop_runtime::telemetry::RedMetrics::new(
                "http_requests_total",
                "http_request_duration_seconds",
                "status",
            )
        });
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    name_by_route(
        &tracing::Span::current(),
        method.as_str(),
        route,
        matched.is_some(),
    );
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    // One operation per (method, route): the method leads its key.
    let key = [method.as_str(), " ", route].concat();
    RED.record(
        &key,
        || {
            vec![
                metrics::Label::from_static_parts("service", COMPONENT),
                metrics::Label::new("route", route.to_string()),
                metrics::Label::new("method", method.as_str().to_string()),
            ]
        },
        status.as_u16(),
        || status.as_str().to_string(),
        started.elapsed(),
    );
    response
}

/// The gateway's served faults ([`shop_runtime::chaos`]), by route
/// template: a wait, an error answered through the gRPC → HTTP table, or
/// a connection cut by the server (`shop_runtime::http::serve`).
pub(crate) async fn inject_faults(
    axum::extract::State(faults): axum::extract::State<shop_runtime::chaos::Faults>,
    request: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse as _;
    use shop_runtime::chaos::Outcome;
    let path = match request.extensions().get::<MatchedPath>() {
        Some(route) => route.as_str(),
        None => request.uri().path(),
    };
    let Some(hit) = faults.on_served(path) else {
        return next.run(request).await;
    };
    match hit.wait().await {
        None => next.run(request).await,
        Some(Outcome::Fail(code)) => {
            crate::error::ApiError::from(shop_runtime::chaos::injected(code)).into_response()
        }
        Some(Outcome::Abort) => {
            let mut response = Response::default();
            response.extensions_mut().insert(shop_runtime::http::Abort);
            response
        }
    }
}

/// Records the route template on an [`HttpServerSpan`] and, when routing
/// matched, names the span as OpenTelemetry does: `{method} {route}`.
pub fn name_by_route(span: &tracing::Span, method: &str, route: &str, matched: bool) {
    if span.is_disabled() {
        return;
    }
    span.record("http.route", route);
    if matched {
        span.record("otel.name", format!("{method} {route}"));
    }
}

/// `http.server` spans for [`shop_runtime::telemetry::SpanLayer`], named by the method
/// and children of the caller's trace context when it sent one. The
/// `http.route` template, and the name `{method} {route}`, are recorded by
/// [`record_metrics`] once routing has matched.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpServerSpan;

impl<B> tower_http::trace::MakeSpan<B> for HttpServerSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> tracing::Span {
        let span = tracing::info_span!(
            "http.server",
            otel.name = request.method().as_str(),
            otel.kind = "server",
            http.request.method = request.method().as_str(),
            http.route = tracing::field::Empty,
        );
        shop_runtime::telemetry::continue_trace(&span, request.headers(), COMPONENT);
        span
    }
}
