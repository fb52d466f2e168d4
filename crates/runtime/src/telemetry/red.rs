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
    /// The handles, shared by every clone of the service.
    red: std::sync::Arc<RedMetrics>,
}

impl GrpcMetricsLayer {
    /// Metrics labelled with `service`.
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            red: std::sync::Arc::new(RedMetrics::new(
                "grpc_server_requests_total",
                "grpc_server_request_duration_seconds",
                "code",
            )),
        }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            service: self.service,
            red: self.red.clone(),
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
    /// The handles.
    red: std::sync::Arc<RedMetrics>,
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
        let red = self.red.clone();
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
                "unknown"
            } else {
                &path
            };
            red.record(
                method,
                || {
                    vec![
                        metrics::Label::from_static_parts("service", service),
                        metrics::Label::new("method", method.to_string()),
                    ]
                },
                code as u16,
                || format!("{code:?}"),
                started.elapsed(),
            );
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

/// A request counter and a duration histogram (the RED pair of one kind of
/// request) with their handles kept per operation and outcome: recording a
/// request is a lookup by the operation's name under a read lock, without
/// building a metric key, its labels or any string. Only the first request
/// of an operation (or of an outcome of it) registers the handles.
///
/// The operations are the caller's bounded set (route templates, gRPC
/// methods, "unmatched"), as for any label.
#[derive(Debug)]
pub struct RedMetrics {
    /// The counter's name (`http_requests_total`).
    requests: &'static str,
    /// The histogram's name (`http_request_duration_seconds`).
    duration: &'static str,
    /// The name of the counter's outcome label (`status`, `code`).
    outcome: &'static str,
    /// Handles by operation.
    ops: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<Operation>>>,
}

/// The handles of one operation.
#[derive(Debug)]
struct Operation {
    /// Its labels (`service`, `route`, `method`, ...), the outcome's aside.
    labels: Vec<metrics::Label>,
    /// Its duration histogram.
    duration: metrics::Histogram,
    /// Its counters, by outcome (few: a status code or a gRPC code each).
    outcomes: std::sync::RwLock<Vec<(u16, metrics::Counter)>>,
}

impl RedMetrics {
    /// The pair `requests` / `duration`, counted by the label `outcome`.
    pub fn new(requests: &'static str, duration: &'static str, outcome: &'static str) -> Self {
        let _ = handle();
        Self {
            requests,
            duration,
            outcome,
            ops: Default::default(),
        }
    }

    /// Counts one request of `op` that ended with `outcome` after `elapsed`.
    /// `labels` (the operation's) and `outcome_value` (the outcome's label
    /// value) are called only the first time they are needed.
    pub fn record(
        &self,
        op: &str,
        labels: impl FnOnce() -> Vec<metrics::Label>,
        outcome: u16,
        outcome_value: impl FnOnce() -> String,
        elapsed: Duration,
    ) {
        let operation = self.operation(op, labels);
        operation.duration.record(elapsed.as_secs_f64());
        self.counter(&operation, outcome, outcome_value)
            .increment(1);
    }

    fn operation(
        &self,
        op: &str,
        labels: impl FnOnce() -> Vec<metrics::Label>,
    ) -> std::sync::Arc<Operation> {
        if let Some(found) = self.ops.read().expect("metrics lock").get(op) {
            return found.clone();
        }
        let labels = labels();
        let operation = std::sync::Arc::new(Operation {
            duration: metrics::histogram!(self.duration, labels.clone()),
            labels,
            outcomes: Default::default(),
        });
        self.ops
            .write()
            .expect("metrics lock")
            .entry(op.to_string())
            .or_insert(operation)
            .clone()
    }

    fn counter(
        &self,
        operation: &Operation,
        outcome: u16,
        outcome_value: impl FnOnce() -> String,
    ) -> metrics::Counter {
        let find = |outcomes: &[(u16, metrics::Counter)]| {
            outcomes
                .iter()
                .find(|(o, _)| *o == outcome)
                .map(|(_, c)| c.clone())
        };
        if let Some(counter) = find(&operation.outcomes.read().expect("metrics lock")) {
            return counter;
        }
        let mut outcomes = operation.outcomes.write().expect("metrics lock");
        if let Some(counter) = find(&outcomes) {
            return counter;
        }
        let mut labels = operation.labels.clone();
        labels.push(metrics::Label::new(self.outcome, outcome_value()));
        let counter = metrics::counter!(self.requests, labels);
        outcomes.push((outcome, counter.clone()));
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_handles_count_each_outcome_and_every_duration_under_the_operation_s_labels() {
        let red = RedMetrics::new(
            "red_test_requests_total",
            "red_test_duration_seconds",
            "code",
        );
        let labels = || vec![metrics::Label::new("method", "/a.B/C".to_string())];
        for outcome in [0, 0, 5] {
            let name = if outcome == 0 { "Ok" } else { "NotFound" };
            red.record(
                "/a.B/C",
                labels,
                outcome,
                || name.to_string(),
                Duration::from_millis(2),
            );
        }
        let text = handle().render();
        assert!(
            text.contains(r#"red_test_requests_total{method="/a.B/C",code="Ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"red_test_requests_total{method="/a.B/C",code="NotFound"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"red_test_duration_seconds_count{method="/a.B/C"} 3"#),
            "{text}"
        );
    }
}
