//! product-service: the catalog, its inventory and stock reservations.
//!
//! Read top to bottom: `main.rs` starts [`serve_from_env`]; [`run`] here
//! wires the pieces; `grpc.rs` holds the handlers; `domain/` the types and
//! the rules that validate what callers send; `store/` every SQL statement;
//! `error.rs` the one error type and its mapping to gRPC status; `seed.rs`
//! the demo catalog.

mod domain;
mod error;
mod grpc;
mod seed;
mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use domain::MAX_UNIT_PRICE_MINOR;
pub use error::Error;

use std::future::Future;
use std::time::Duration;

use shop_proto::product::product_service_server::ProductServiceServer;
use shop_runtime::server::page_token::PageTokens;
use shop_runtime::{CommonConfig, ConfigError, Env, ServiceSpec};
use shop_topology::Component;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::grpc::ProductApi;
use crate::store::Store;

/// Fully qualified gRPC service name, as health reports it.
pub const SERVICE_NAME: &str = shop_proto::product::product_service_server::SERVICE_NAME;
const _: () = assert!(
    Component::Product.serves(SERVICE_NAME),
    "shop-topology names another gRPC service"
);
/// Component name in logs, metrics and traces.
pub const COMPONENT: &str = Component::Product.name();
/// The schema this service owns; created by `db/bootstrap.sql`.
pub const SCHEMA: &str = match Component::Product.spec().database {
    Some(db) => db.schema,
    None => panic!("a service has a schema"),
};
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = Component::Product.spec().port;
/// Default admin port (`/metrics`, `/healthz`, `/readyz`).
pub const DEFAULT_ADMIN_PORT: u16 = Component::Product.spec().admin_port;

/// Migrations embedded in the binary; applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What the runtime connects and serves.
static SERVICE: ServiceSpec = ServiceSpec {
    name: SERVICE_NAME,
    component: COMPONENT,
    schema: SCHEMA,
    migrator: &MIGRATOR,
};

/// Configuration of product-service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings every service shares.
    pub common: CommonConfig,
    /// How long reserved stock stays held unless committed (`RESERVATION_TTL_SECONDS`).
    pub reservation_ttl: Duration,
    /// Pause between two runs of the expiry sweeper (`RESERVATION_SWEEP_MILLIS`).
    pub sweep_interval: Duration,
    /// Seed the demo catalog into an empty database (`SEED_DEMO_CATALOG`).
    pub seed_demo_catalog: bool,
}

impl Config {
    /// Reads the configuration; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT, DEFAULT_ADMIN_PORT)?,
            reservation_ttl: env.seconds_or("RESERVATION_TTL_SECONDS", 120)?,
            sweep_interval: Duration::from_millis(env.parse_or("RESERVATION_SWEEP_MILLIS", 1000)?),
            seed_demo_catalog: env.parse_or("SEED_DEMO_CATALOG", true)?,
        })
    }
}

/// Runs this component as its binary does: telemetry and configuration
/// from `env`, listeners on the configured addresses, until SIGTERM or
/// Ctrl-C; then the drain and a telemetry flush.
pub async fn serve_from_env(env: Env) -> anyhow::Result<()> {
    let addrs = |c: &Config| c.common.addrs();
    shop_runtime::serve_from_env(&env, COMPONENT, Config::from_env, addrs, run).await
}

/// Runs product-service on already-bound listeners until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (pool, reads) = SERVICE.connect_with_reads(&config.common).await?;
    let store = Store::new(pool.clone(), reads);
    if config.seed_demo_catalog {
        let seeded = store.seed(&seed::demo_catalog()?).await?;
        if seeded > 0 {
            tracing::info!(products = seeded, "seeded the demo catalog");
        }
    }
    let sweeper = tokio::spawn(expire_reservations(store.clone(), config.sweep_interval));
    let relay = config.common.spawn_relay(COMPONENT, &pool);

    let api = ProductApi::new(
        store,
        PageTokens::new(config.common.page_token_secret.clone()),
        config.reservation_ttl,
    );
    let routes = Routes::new(ProductServiceServer::new(api));
    let result = SERVICE
        .serve(
            &config.common,
            routes,
            pool,
            listener,
            admin_listener,
            shutdown,
        )
        .await;
    sweeper.abort();
    if let Some(relay) = relay {
        relay.abort();
    }
    Ok(result?)
}

/// Gives back the stock of reservations whose TTL ran out, forever, and
/// publishes the units still held (`reservations_held_units`).
async fn expire_reservations(store: Store, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match store.expire_due(500).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(reservations = n, "expired held reservations");
                metrics::counter!("reservations_expired_total").increment(n as u64);
            }
            Err(e) => tracing::warn!(error = %e, "reservation sweep failed; retrying"),
        }
        if let Ok(held) = store.held_units().await {
            metrics::gauge!("reservations_held_units").set(held as f64);
        }
    }
}
