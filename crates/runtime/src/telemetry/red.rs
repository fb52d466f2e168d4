//! Prometheus metrics: one process-wide recorder, and the RED metrics of
//! every gRPC method (rate, errors by status code, duration histogram).

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `*_duration_seconds` histogram, from 0.5 ms to 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of `event_latency_seconds` (producer commit to consumer commit),
/// from 5 ms to 5 min: the freshness SLO counts events within 5 s, and a
/// broker outage or a redelivery (10 s ack wait) lands in the tail.
const EVENT_LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The process-wide recorder, installed on first use: every component calls
/// it at start ([`crate::serve_from_env`], [`crate::server::admin::serve`]), since a
/// metric recorded before the recorder exists is lost. Several services in
/// one process (`shop up`, tests) share it and tell themselves apart by the
/// `service` label.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".into()),
                DURATION_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("event_latency_seconds".into()),
                    EVENT_LATENCY_BUCKETS,
                )
            })
            .and_then(|b| b.install_recorder())
            .expect("the Prometheus recorder is installed once, with valid buckets");
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("spawning a thread at start-up");
        handle
    })
}

/// Records `grpc_server_requests_total` and `grpc_server_request_duration_seconds`.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    /// The `service` label, e.g. `product-service`.
    service: &'static str,
}

impl GrpcMetricsLayer {
    /// Metrics labelled with `service`.
    pub fn new(service: &'static str) -> Self {
        let _ = handle();
        Self { service }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            service: self.service,
        }
    }
}

/// The service made by [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    /// The wrapped gRPC router.
    inner: S,
    /// The `service` label.
    service: &'static str,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_string();
        let service = self.service;
        let started = Instant::now();
        let future = self.inner.call(req);
        Box::pin(async move {
            let result = future.await;
            // Unary errors are "trailers-only" responses: the status is in the
            // headers. A response without it finished normally.
            let code = match &result {
                Ok(response) => answered_code(response),
                Err(_) => tonic::Code::Unknown,
            };
            // Unknown paths would make unbounded label values.
            let method = if code == tonic::Code::Unimplemented {
                "unknown".to_string()
            } else {
                path
            };
            let code = format!("{code:?}");
            metrics::counter!("grpc_server_requests_total", "service" => service, "method" => method.clone(), "code" => code)
                .increment(1);
            metrics::histogram!("grpc_server_request_duration_seconds", "service" => service, "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The gRPC status of an answer whose headers hold it: a unary error is a
/// "trailers-only" answer, its status in the headers; an answer without
/// one finished normally (its status comes in the trailers).
pub fn answered_code<B>(response: &http::Response<B>) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok)
}
