//! The gRPC server of a service, with everything around it.
//!
//! [`serve`] runs a service's routes beside `grpc.health.v1.Health` and gRPC
//! server reflection, under a per-request timeout, a tracing span and RED
//! metrics, plus the admin server. It watches the database and reports
//! NOT_SERVING while it does not answer. When `shutdown` completes it flips
//! health and readiness to NOT_SERVING at once, stops accepting, lets
//! in-flight calls finish for at most the grace period, and returns.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::chaos::ServerFaultsLayer;
use crate::config::Tls;
use crate::db::DbError;
use crate::telemetry::{GrpcMetricsLayer, GrpcServerSpan, SpanLayer};
use admin::{AdminState, Readiness};
use callers::CallersLayer;
use detach::DetachLayer;
use shutdown::{Drain, Serving};

pub mod admin;
pub mod callers;
mod common;
mod detach;
mod failure;
pub mod healthcheck;
pub mod page_token;
pub mod shutdown;
pub mod validate;

pub use common::CommonConfig;
pub use failure::Failure;

/// What the runtime needs to know of a service to connect and serve it:
/// its names and its database. Each service declares one, and its `run`
/// goes [`ServiceSpec::connect`] → its own wiring → [`ServiceSpec::serve`].
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// Fully qualified gRPC service name reported by health (tonic's
    /// generated `SERVICE_NAME`).
    pub name: &'static str,
    /// Component name in logs, metrics and traces, e.g. `product-service`.
    pub component: &'static str,
    /// The schema the service owns; created by `db/bootstrap.sql`.
    pub schema: &'static str,
    /// Its migrations, embedded in the binary and applied at start.
    pub migrator: &'static Migrator,
}

impl ServiceSpec {
    /// The service's pool: its own role, confined to its schema, migrated.
    pub async fn connect(&self, common: &CommonConfig) -> Result<PgPool, DbError> {
        crate::db::connect(
            &common.database_url,
            self.schema,
            self.component,
            self.migrator,
            &common.pool,
        )
        .await
    }

    /// [`ServiceSpec::connect`] for a service that also reads through
    /// [`crate::db::Reads`]: the process's budget (`DB_MAX_CONNECTIONS`) is
    /// split, half (rounded down) to the reads and the rest to the pool,
    /// so both together never open more than the budget.
    pub async fn connect_with_reads(
        &self,
        common: &CommonConfig,
    ) -> Result<(PgPool, crate::db::Reads), DbError> {
        let budget = common.pool.max_connections;
        let reads = budget / 2;
        let settings = crate::db::PoolSettings {
            max_connections: budget - reads,
            ..common.pool.clone()
        };
        let pool = crate::db::connect(
            &common.database_url,
            self.schema,
            self.component,
            self.migrator,
            &settings,
        )
        .await?;
        let reads = crate::db::Reads::new(&pool, reads);
        Ok((pool, reads))
    }

    /// [`serve`]s `routes` with the shared settings of `common`.
    pub async fn serve(
        &self,
        common: &CommonConfig,
        routes: Routes,
        pool: PgPool,
        listener: TcpListener,
        admin_listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let service = GrpcService {
            name: self.name,
            component: self.component,
            routes,
            pool,
            request_timeout: common.request_timeout,
            shutdown_grace: common.shutdown_grace,
            tls: common.tls.clone(),
            faults: common.faults.clone(),
            reflection: common.reflection,
        };
        serve(service, listener, admin_listener, shutdown).await
    }
}

/// What a service hands to [`serve`].
#[derive(Debug)]
pub struct GrpcService {
    /// Fully qualified gRPC service name reported by health, e.g. `shop.product.v1.ProductService`.
    pub name: &'static str,
    /// Component name for metrics and logs, e.g. `product-service`.
    pub component: &'static str,
    /// The service's own gRPC routes.
    pub routes: Routes,
    /// The database the service depends on; readiness follows it.
    pub pool: PgPool,
    /// Server-side cap on one request.
    pub request_timeout: Duration,
    /// Upper bound of the drain at shutdown.
    pub shutdown_grace: Duration,
    /// TLS of the gRPC listener; plain when not configured.
    pub tls: Tls,
    /// Faults injected on purpose ([`crate::chaos`]).
    pub faults: crate::chaos::Faults,
    /// Serve gRPC server reflection (`GRPC_REFLECTION=on`).
    pub reflection: bool,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The admin server failed.
    #[error("admin server: {0}")]
    Admin(#[from] std::io::Error),
}

/// Health service name that reports SERVING as long as the process runs.
pub const LIVENESS: &str = "liveness";

/// How long a detached handler may run before it is stopped: past the
/// server's own request timeout (the caller has its answer by then) plus
/// time for a last statement to end under `statement_timeout`.
pub(crate) fn handler_deadline(request_timeout: Duration) -> Duration {
    request_timeout + Duration::from_secs(10)
}

/// How often the database is probed for health and readiness.
const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// A server builder, speaking TLS when `tls` holds a certificate.
fn server_builder(tls: &Tls) -> Result<tonic::transport::Server, ServeError> {
    let builder = tonic::transport::Server::builder();
    Ok(match tls.grpc_server() {
        Some(config) => {
            crate::config::install_crypto_provider();
            builder.tls_config(config)?
        }
        None => builder,
    })
}

/// Serves `service` on `listener` and the admin endpoints on `admin_listener`
/// until `shutdown` completes, then drains within the grace period.
pub async fn serve(
    service: GrpcService,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let GrpcService {
        name,
        component,
        routes,
        pool,
        request_timeout,
        shutdown_grace,
        tls,
        faults,
        reflection,
    } = service;

    let (health, health_service) = tonic_health::server::health_reporter();
    let readiness = Readiness::new(faults.clone());
    readiness.set_dependencies_up(crate::db::ping(&pool).await);
    set_health(&health, name, readiness.is_ready()).await;
    // Liveness: the process answers. Kubernetes restarts on this, so it does
    // not follow the database (readiness does).
    health
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;

    // Reflection lists every method to whoever asks: on only when enabled.
    let reflection = if reflection {
        Some(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(shop_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?,
        )
    } else {
        None
    };
    let server_component = shop_topology::Component::from_name(component)
        .unwrap_or_else(|| panic!("{component} is not in the component list"));

    let drain = Drain::new(component);

    let probe = tokio::spawn(watch_database(
        pool.clone(),
        health.clone(),
        name,
        readiness.clone(),
    ));
    let admin_state = AdminState {
        readiness: readiness.clone(),
        pool: Some(pool.clone()),
        service: component,
    };
    let admin = tokio::spawn(admin::serve(admin_listener, admin_state, drain.signal()));
    let grpc = tokio::spawn(
        server_builder(&tls)?
            .timeout(request_timeout)
            // Outermost: a caller that goes away or a passed deadline stops
            // the wait, never the handler (see `detach`); the handler itself
            // is stopped only past its own, later deadline.
            .layer(DetachLayer::new(handler_deadline(request_timeout)))
            .layer(SpanLayer::new(GrpcServerSpan { component }))
            .layer(GrpcMetricsLayer::new(component))
            // Under mutual TLS, only the callers the call graph allows.
            .layer(CallersLayer::new(server_component, tls.mutual()))
            // Innermost: spans and metrics see an injected fault as a real one.
            .layer(ServerFaultsLayer::new(faults))
            .add_routes(routes)
            .add_service(health_service)
            .add_optional_service(reflection)
            // No Nagle: a unary answer is several small writes (headers,
            // message, trailers) that must not wait for the peer's ACK.
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                drain.signal(),
            ),
    );
    let serving = Serving {
        component,
        drain,
        readiness,
        server: grpc,
        admin,
        probe,
    };
    let unadvertise = set_health(&health, name, false);
    // Lazily: sqlx's `close` shuts the pool the moment it is called.
    let close_pool = async { pool.close().await };
    serving
        .run_until(shutdown, shutdown_grace, unadvertise, close_pool)
        .await
}

async fn set_health(health: &HealthReporter, name: &str, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status(name, status).await;
    health.set_service_status("", status).await;
}

/// Probes the database and mirrors the result into health and readiness.
async fn watch_database(
    pool: PgPool,
    health: HealthReporter,
    name: &'static str,
    readiness: Readiness,
) {
    let mut was_up = readiness.is_ready();
    loop {
        tokio::time::sleep(DATABASE_PROBE_INTERVAL).await;
        let database_up = crate::db::ping(&pool).await;
        readiness.set_dependencies_up(database_up);
        // An `unready` fault counts too.
        let up = readiness.is_ready();
        if up != was_up {
            if up {
                tracing::info!(service = name, "ready again: reporting SERVING");
            } else if database_up {
                tracing::warn!(service = name, "unready fault: reporting NOT_SERVING");
            } else {
                tracing::warn!(
                    service = name,
                    "database unreachable: reporting NOT_SERVING"
                );
            }
            set_health(&health, name, up).await;
            was_up = up;
        }
    }
}
