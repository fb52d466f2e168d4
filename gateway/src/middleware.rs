//! Middleware of the gateway that tower-http does not provide: a per-client
//! rate limit and RED metrics per route template.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppState;
use crate::error::ApiError;

/// Token buckets keyed by client: the token's user, or the IP when anonymous.
pub type Limiter = DefaultKeyedRateLimiter<String>;

/// A limiter of `per_second` requests with bursts of `burst`; `None` when
/// `per_second` is 0 (rate limiting off).
pub fn limiter(per_second: u32, burst: u32) -> Option<Arc<Limiter>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    Some(Arc::new(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    )))
}

/// The token of a request: `Authorization: Bearer`, or the storefront cookie.
pub fn request_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    crate::storefront::session_cookie(headers)
}

/// 429 with `Retry-After` once a client has used its bucket.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.limiter else {
        return next.run(request).await;
    };
    let key = match request_token(request.headers()).and_then(|t| state.auth.verify(&t).ok()) {
        Some(claims) => format!("user:{}", claims.sub),
        None => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_string(),
        },
    };
    match limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded; slow down",
            );
            error.retry_after = Some(wait.as_secs().max(1));
            error.into_response()
        }
    }
}

/// `http_requests_total{route,method,status}` and
/// `http_request_duration_seconds{route,method}`, by route template.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let matched = request.extensions().get::<MatchedPath>().is_some();
    name_by_route(&tracing::Span::current(), &method, &route, matched);
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "service" => "gateway", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => "gateway", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
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

/// `http.server` spans for [`shop_runtime::propagation::SpanLayer`], named by the method
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
        shop_runtime::propagation::continue_trace(&span, request.headers(), crate::COMPONENT);
        span
    }
}
