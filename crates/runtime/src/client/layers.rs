//! The layers every client channel is built from, outermost first, the
//! mirror of the server's stack (`server`):
//!
//! 1. [`ClientSpanLayer`]: a `grpc.client` span per call; its trace context
//!    travels in `traceparent` ([`crate::telemetry`]).
//! 2. [`ClientMetricsLayer`]: `grpc_client_requests_total` and
//!    `grpc_client_request_duration_seconds`, by method and code.
//! 3. [`ClientFaultsLayer`]: the caller's `on calls to X` faults
//!    ([`crate::chaos`]): a hit call waits before it leaves, or fails
//!    without being sent.
//! 4. [`Transport`]: the channel, whose transport failures (refused, reset,
//!    a peer killed mid-call) come back as UNAVAILABLE. tonic would report
//!    them as UNKNOWN, which callers must treat as a bug, while they are an
//!    outage to retry (found by `tests/faults.rs`).
//!
//! No layer boxes a call that no fault hits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use futures::future::{Either, MapErr, TryFutureExt as _};
use tonic::body::Body;
use tonic::transport::Channel;
use tracing::Instrument as _;

use crate::chaos::{Faults, Outcome};

type Request = http::Request<Body>;
type Response = http::Response<Body>;

/// A transport failure as the outage it is.
fn unavailable(error: tonic::transport::Error) -> tonic::Status {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    tonic::Status::unavailable(message)
}

/// The channel, with transport failures as UNAVAILABLE.
#[derive(Debug, Clone)]
pub struct Transport(pub(super) Channel);

impl tower::Service<Request> for Transport {
    type Response = Response;
    type Error = tonic::Status;
    type Future = MapErr<
        <Channel as tower::Service<Request>>::Future,
        fn(tonic::transport::Error) -> tonic::Status,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.0, cx).map_err(unavailable)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        tower::Service::call(&mut self.0, request).map_err(unavailable as fn(_) -> _)
    }
}

/// Applies a component's `on calls to X` faults to the calls it makes.
#[derive(Debug, Clone)]
pub struct ClientFaultsLayer(pub Faults);

impl<S> tower::Layer<S> for ClientFaultsLayer {
    type Service = ClientFaults<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientFaults {
            inner,
            faults: self.0.clone(),
        }
    }
}

/// The service of [`ClientFaultsLayer`].
#[derive(Debug, Clone)]
pub struct ClientFaults<S> {
    inner: S,
    faults: Faults,
}

type Boxed = Pin<Box<dyn Future<Output = Result<Response, tonic::Status>> + Send>>;

impl<S> tower::Service<Request> for ClientFaults<S>
where
    S: tower::Service<Request, Response = Response, Error = tonic::Status> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = tonic::Status;
    type Future = Either<S::Future, Boxed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(hit) = self.faults.on_call(request.uri().path()) else {
            return Either::Left(self.inner.call(request));
        };
        // The ready service sends this call once the wait is over; a clone
        // takes the next one.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        // The call's deadline runs while a fault holds it, as it would while
        // a slow network did: a hold past it is DEADLINE_EXCEEDED, and a call
        // sent after a hold carries what is left of its deadline.
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let held = Instant::now();
        Either::Right(Box::pin(async move {
            let outcome = match deadline {
                None => hit.wait().await,
                Some(deadline) => match tokio::time::timeout(deadline, hit.wait()).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        return Err(tonic::Status::deadline_exceeded(
                            "deadline exceeded while an injected latency held the call",
                        ));
                    }
                },
            };
            let mut request = request;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_sub(held.elapsed()).as_millis().max(1);
                if let Ok(value) = http::HeaderValue::from_str(&format!("{left}m")) {
                    request.headers_mut().insert("grpc-timeout", value);
                }
            }
            match outcome {
                None => ready.call(request).await,
                Some(Outcome::Fail(code)) => Err(crate::chaos::injected(code)),
                // A cut call is what a transport failure looks like.
                Some(Outcome::Abort) => {
                    Err(tonic::Status::unavailable("injected fault: connection cut"))
                }
            }
        }))
    }
}

/// The duration of a `grpc-timeout` header (`100m`, `2S`): up to eight
/// digits and a unit.
fn grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Counts each call and its duration by method and gRPC code.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientMetricsLayer;

impl<S> tower::Layer<S> for ClientMetricsLayer {
    type Service = ClientMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientMetrics { inner }
    }
}

/// The service of [`ClientMetricsLayer`].
#[derive(Debug, Clone)]
pub struct ClientMetrics<S> {
    inner: S,
}

impl<S> tower::Service<Request> for ClientMetrics<S>
where
    S: tower::Service<Request, Response = Response, Error = tonic::Status>,
{
    type Response = Response;
    type Error = tonic::Status;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_string();
        Counted {
            inner: self.inner.call(request),
            method,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A call of [`ClientMetrics`], counted when it completes.
    #[derive(Debug)]
    pub struct Counted<F> {
        #[pin]
        inner: F,
        method: String,
        started: Instant,
    }
}

impl<F> Future for Counted<F>
where
    F: Future<Output = Result<Response, tonic::Status>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let code = match &result {
            Ok(response) => crate::telemetry::answered_code(response),
            Err(status) => status.code(),
        };
        static RED: std::sync::LazyLock<crate::telemetry::RedMetrics> =
            std::sync::LazyLock::new(|| {
                crate::telemetry::RedMetrics::new(
                    "grpc_client_requests_total",
                    "grpc_client_request_duration_seconds",
                    "code",
                )
            });
        let method = this.method.as_str();
        RED.record(
            method,
            || vec![metrics::Label::new("method", method.to_string())],
            code as u16,
            || format!("{code:?}"),
            this.started.elapsed(),
        );
        Poll::Ready(result)
    }
}

/// Runs each call in a `grpc.client` span whose context the call carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSpanLayer;

impl<S> tower::Layer<S> for ClientSpanLayer {
    type Service = ClientSpan<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientSpan { inner }
    }
}

/// The service of [`ClientSpanLayer`].
#[derive(Debug, Clone)]
pub struct ClientSpan<S> {
    inner: S,
}

impl<S> tower::Service<Request> for ClientSpan<S>
where
    S: tower::Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let span = crate::telemetry::client_span(&method, request.headers_mut());
        // Sent from the caller's span: the channel's buffer worker logs in
        // the span current at the call (the request's, as before); the
        // wait for the answer is the client span's.
        self.inner.call(request).instrument(span)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::grpc_timeout;

    #[test]
    fn a_grpc_timeout_header_reads_in_every_unit_and_nothing_else() {
        assert_eq!(grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout("5M"), Some(Duration::from_secs(300)));
        assert_eq!(grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "m", "10", "10x", "-1m"] {
            assert_eq!(grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
