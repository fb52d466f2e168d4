//! W3C trace context across process boundaries, and the spans of gRPC
//! calls on both sides.
//!
//! The client side is [`client_span`], made by the client layers
//! (`crate::client::layers`): one `grpc.client` span per call whose context
//! travels in the `traceparent` header. The server side is
//! [`GrpcServerSpan`]: a `grpc.server` span per call, child of the caller's
//! span. Health checks and reflection make no spans.
//!
//! With export on, the OpenTelemetry layer gives every span its context.
//! With export off there is no such layer (it costs CPU on every span:
//! docs/benchmarks.md), so the spans that start or join a trace (server
//! spans, client spans, a recovery's root) carry a [`LocalContext`] of
//! their own: the trace id, a span id and the caller's flags and
//! `tracestate`. JSON log lines read it from the nearest such span, and a
//! call made under it carries it on in `traceparent`. That is one id or two
//! drawn from a thread-local generator, and a header, per call.

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan as _;

/// Writes trace context into HTTP/2 headers (gRPC metadata).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    /// Skips empty values: the propagator writes `tracestate` even when no
    /// vendor put anything in it, and an empty header is bytes on every
    /// call and a parse on the other side for nothing. The value's buffer
    /// becomes the header's, uncopied.
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Reads trace context from HTTP/2 headers.
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Makes `span`, a server span of `component`, a child of the trace
/// context the request carries, if any, or the root of a new trace. When
/// several components share this process and export, it also marks the
/// span as `component`'s work, so it and the spans under it carry that
/// component's `service.name`.
///
/// W3C trace context is the one format Shop speaks, so the propagator is
/// used directly rather than looked up behind the global lock on every call
/// (a measurable share of a request's cost: docs/benchmarks.md).
pub fn continue_trace(span: &Span, headers: &HeaderMap, component: &str) {
    if span.is_disabled() {
        return;
    }
    let remote = headers.contains_key("traceparent");
    if !super::exports() {
        let parent = if remote {
            extract(headers).span().span_context().clone()
        } else {
            SpanContext::NONE
        };
        set_local(span, LocalContext::child_of(&parent));
        return;
    }
    if !remote && !super::is_shared() {
        return;
    }
    let parent = if remote {
        extract(headers)
    } else {
        opentelemetry::Context::new()
    };
    let _ = span.set_parent(super::in_component(component, parent));
}

/// The trace context `headers` carry; an empty context when they carry
/// none, or a malformed one.
fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The trace context of a span that starts or joins a trace while export
/// is off: kept in the span's extensions, read by JSON log lines in it and
/// under it, and carried on by calls made under it.
#[derive(Debug, Clone)]
pub(crate) struct LocalContext(pub(crate) SpanContext);

impl LocalContext {
    /// A span of its own in `parent`'s trace, keeping its flags and
    /// `tracestate`; the root of a new trace when `parent` is not valid.
    /// A new trace is marked sampled, as the default `always_on` sampler
    /// would: a service that does export then records it (parent-based).
    fn child_of(parent: &SpanContext) -> SpanContext {
        let ids = RandomIdGenerator::default();
        if parent.is_valid() {
            SpanContext::new(
                parent.trace_id(),
                ids.new_span_id(),
                parent.trace_flags(),
                false,
                parent.trace_state().clone(),
            )
        } else {
            SpanContext::new(
                ids.new_trace_id(),
                ids.new_span_id(),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            )
        }
    }
}

/// Gives `span` its own trace context (export off).
fn set_local(span: &Span, context: SpanContext) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            data.extensions_mut().replace(LocalContext(context));
        }
    });
}

/// The trace context of `span`, or of its nearest ancestor that has one,
/// with export off; None outside any trace (or with export on, where the
/// OpenTelemetry layer keeps the contexts).
pub(crate) fn local_context(span: &Span) -> Option<SpanContext> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        registry.span(id)?.scope().find_map(|ancestor| {
            ancestor
                .extensions()
                .get::<LocalContext>()
                .map(|local| local.0.clone())
        })
    })
    .flatten()
}

/// Makes `span` the root of a new trace done by `component` (work no
/// request asked for, such as a recovery pass).
pub fn start_trace(span: &Span, component: &str) {
    continue_trace(span, &HeaderMap::new(), component);
}

/// True for calls that should make no span: health checks and reflection.
fn is_plumbing(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// `grpc.server` spans of a component, for [`SpanLayer`].
#[derive(Debug, Clone, Copy)]
pub struct GrpcServerSpan {
    /// The component serving, whose work these calls are.
    pub component: &'static str,
}

impl<B> tower_http::trace::MakeSpan<B> for GrpcServerSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let path = request.uri().path();
        if is_plumbing(path) {
            return Span::none();
        }
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
        );
        continue_trace(&span, request.headers(), self.component);
        span
    }
}

/// The `grpc.client` span of a call to `method` (`package.Service/Method`),
/// its trace context written into the call's `headers`. With export off
/// the span gets a span id of its own in the trace of the span it is made
/// under, and sends that; outside any trace it sends nothing.
pub fn client_span(method: &str, headers: &mut HeaderMap) -> Span {
    let span = tracing::info_span!(
        "grpc.client",
        otel.name = method,
        otel.kind = "client",
        rpc.system = "grpc",
    );
    if span.is_disabled() {
        return span;
    }
    if super::exports() {
        inject(&span.context(), headers);
    } else if let Some(parent) = local_context(&span) {
        let own = LocalContext::child_of(&parent);
        inject(
            &opentelemetry::Context::new().with_remote_span_context(own.clone()),
            headers,
        );
        set_local(&span, own);
    }
    span
}

/// The W3C `traceparent` of `span`'s trace, to carry it across a hop that
/// is no call (an event through the outbox); None outside any trace.
pub fn traceparent(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let mut headers = HeaderMap::new();
    if super::exports() {
        inject(&span.context(), &mut headers);
    } else if let Some(context) = local_context(span) {
        inject(
            &opentelemetry::Context::new().with_remote_span_context(context),
            &mut headers,
        );
    }
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Writes `context`'s span context into `headers` as W3C trace context.
fn inject(context: &opentelemetry::Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(context, &mut HeaderInjector(headers));
}

/// A layer that runs each request's handling inside the span `M` makes.
///
/// Unlike tower-http's `TraceLayer`, the span covers the service's future
/// only, not the streaming of the response body: the span is entered once
/// per poll of the handler, not again for every body frame, which is most
/// of what a span costs (docs/benchmarks.md). For unary calls and JSON
/// answers the body is ready when the future completes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanLayer<M> {
    /// Makes the span of each request.
    make: M,
}

impl<M> SpanLayer<M> {
    /// Spans made by `make`.
    pub fn new(make: M) -> Self {
        Self { make }
    }
}

impl<S, M: Clone> tower::Layer<S> for SpanLayer<M> {
    type Service = SpanService<S, M>;
    fn layer(&self, inner: S) -> Self::Service {
        SpanService {
            inner,
            make: self.make.clone(),
        }
    }
}

/// The service of [`SpanLayer`].
#[derive(Debug, Clone)]
pub struct SpanService<S, M> {
    /// The wrapped service.
    inner: S,
    /// Makes the span of each request.
    make: M,
}

impl<S, M, B> tower::Service<http::Request<B>> for SpanService<S, M>
where
    S: tower::Service<http::Request<B>>,
    M: tower_http::trace::MakeSpan<B>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = self.make.make_span(&request);
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}
