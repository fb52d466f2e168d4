//! The admin HTTP server: `/healthz`, `/readyz`, `/metrics` and `/faults`.
//!
//! It listens on its own port so probes and scrapes never compete with, or
//! show up in, the service's own traffic, and it is served like the public
//! port ([`crate::http::serve`]) with smaller limits ([`ADMIN_LIMITS`]): a
//! client that trickles its headers or hoards connections cannot keep
//! probes and scrapes out.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;

/// Whether the component should get traffic: what it depends on answers
/// (a service's database, the gateway's backends) and it is not draining.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Shared flags.
    inner: Arc<ReadinessFlags>,
}

#[derive(Debug, Default)]
struct ReadinessFlags {
    /// An `unready` fault makes the component report not ready.
    faults: crate::chaos::Faults,
    /// Last result of the dependency probe.
    dependencies_up: AtomicBool,
    /// Set once shutdown began; never cleared.
    draining: AtomicBool,
}

impl Readiness {
    /// Not ready until the first probe; not ready either while `faults`
    /// hold an `unready` fault.
    pub fn new(faults: crate::chaos::Faults) -> Self {
        Self {
            inner: Arc::new(ReadinessFlags {
                faults,
                ..ReadinessFlags::default()
            }),
        }
    }

    /// True while traffic is welcome.
    pub fn is_ready(&self) -> bool {
        self.inner.dependencies_up.load(Ordering::Acquire)
            && !self.inner.draining.load(Ordering::Acquire)
            && !self.inner.faults.unready()
    }

    /// The component's faults, which the admin port reads and changes.
    pub fn faults(&self) -> &crate::chaos::Faults {
        &self.inner.faults
    }

    /// Records the latest dependency probe.
    pub fn set_dependencies_up(&self, up: bool) {
        self.inner.dependencies_up.store(up, Ordering::Release);
    }

    /// Marks the start of the shutdown drain.
    pub fn set_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }
}

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// Answers `/readyz`.
    pub readiness: Readiness,
    /// Pool whose usage is published as gauges at each scrape.
    pub pool: Option<PgPool>,
    /// The `service` label of the pool gauges.
    pub service: &'static str,
}

/// The admin routes, with the fault controls of [`crate::chaos`].
pub fn router(state: AdminState) -> Router {
    let faults = crate::chaos::admin_router(state.readiness.faults().clone());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(faults)
}

/// The admin port's limits: probes, scrapes and `shop faults` send small
/// requests at once and need few connections.
pub const ADMIN_LIMITS: crate::http::HttpLimits = crate::http::HttpLimits {
    header_read_timeout: std::time::Duration::from_secs(5),
    idle_timeout: std::time::Duration::from_secs(30),
    max_connections: 32,
};

/// Serves the admin routes under [`ADMIN_LIMITS`] until `shutdown`
/// completes.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every component starts its admin server before serving: from here on
    // every request is counted, scraped or not.
    crate::telemetry::metrics_handle();
    crate::http::serve(listener, router(state), ADMIN_LIMITS, shutdown).await
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else if state.readiness.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if state.readiness.faults().unready() {
        (StatusCode::SERVICE_UNAVAILABLE, "unready: fault injected")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "dependencies unavailable")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    // CPU, memory, threads and open files of this process.
    static PROCESS: std::sync::OnceLock<metrics_process::Collector> = std::sync::OnceLock::new();
    PROCESS
        .get_or_init(|| {
            let collector = metrics_process::Collector::default();
            collector.describe();
            collector
        })
        .collect();
    if let Some(pool) = &state.pool {
        let idle = pool.num_idle() as f64;
        let size = f64::from(pool.size());
        let max = f64::from(pool.options().get_max_connections());
        metrics::gauge!("db_pool_connections", "service" => state.service, "state" => "idle")
            .set(idle);
        metrics::gauge!("db_pool_connections", "service" => state.service, "state" => "in_use")
            .set(size - idle);
        metrics::gauge!("db_pool_max_connections", "service" => state.service).set(max);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics_handle().render(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    async fn admin_port() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AdminState {
            readiness: Readiness::new(crate::chaos::Faults::default()),
            pool: None,
            service: "test",
        };
        tokio::spawn(serve(listener, state, std::future::pending()));
        addr
    }

    /// Sends `/healthz` on `stream`; true when an answer arrives within `within`.
    async fn answered(stream: &mut TcpStream, within: Duration) -> bool {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0_u8; 256];
        matches!(
            tokio::time::timeout(within, stream.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        )
    }

    #[tokio::test]
    async fn the_admin_port_cuts_a_client_that_never_finishes_its_headers() {
        let addr = admin_port().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHo")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0_u8; 256];
        let closed = tokio::time::timeout(
            ADMIN_LIMITS.header_read_timeout + Duration::from_secs(3),
            async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            },
        )
        .await;
        assert!(closed.is_ok(), "a half-sent head keeps the connection open");
        assert!(
            started.elapsed() >= ADMIN_LIMITS.header_read_timeout - Duration::from_millis(500),
            "closed after {:?}, before the header-read timeout",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn the_admin_port_serves_no_more_connections_than_its_cap_at_once() {
        let addr = admin_port().await;
        let mut held = Vec::new();
        for _ in 0..ADMIN_LIMITS.max_connections {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            assert!(answered(&mut stream, Duration::from_secs(5)).await);
            held.push(stream);
        }
        let mut one_more = TcpStream::connect(addr).await.unwrap();
        assert!(
            !answered(&mut one_more, Duration::from_millis(500)).await,
            "a connection past the cap is served"
        );
        drop(held.pop());
        let mut buf = [0_u8; 256];
        let late = tokio::time::timeout(Duration::from_secs(5), one_more.read(&mut buf)).await;
        assert!(
            matches!(late, Ok(Ok(n)) if n > 0),
            "the waiting connection is served once another closes"
        );
    }
}
