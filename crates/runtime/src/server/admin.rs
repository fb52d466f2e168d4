//! The admin HTTP server: `/healthz`, `/readyz`, `/metrics` and `/faults`.
//!
//! It listens on its own port so probes and scrapes never compete with, or
//! show up in, the service's own traffic.

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

/// Serves the admin routes until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every component starts its admin server before serving: from here on
    // every request is counted, scraped or not.
    crate::telemetry::metrics_handle();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
