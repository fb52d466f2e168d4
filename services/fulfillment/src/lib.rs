//! fulfillment-service: shipments, made and cancelled by order events.
//!
//! Read top to bottom: `main.rs` starts [`serve_from_env`]; [`run`] here
//! wires the pieces; `grpc.rs` holds the one handler; `events.rs` what an
//! order event does and the shipper that ships due shipments; `store.rs`
//! every SQL statement; `error.rs` the one error type. It calls no other
//! service: all it knows of orders comes through NATS JetStream
//! (docs/events.md), so without `NATS_URL` it serves, and ships, nothing.

mod error;
mod events;
mod grpc;
mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use error::Error;

use std::future::Future;
use std::time::Duration;

use shop_proto::fulfillment::fulfillment_service_server::FulfillmentServiceServer;
use shop_runtime::{CommonConfig, ConfigError, Env, ServiceSpec};
use shop_topology::Component;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::grpc::FulfillmentApi;
use crate::store::Store;

/// Fully qualified gRPC service name, as health reports it.
pub const SERVICE_NAME: &str = shop_proto::fulfillment::fulfillment_service_server::SERVICE_NAME;
const _: () = assert!(
    Component::Fulfillment.serves(SERVICE_NAME),
    "shop-topology names another gRPC service"
);
/// Component name in logs, metrics and traces.
pub const COMPONENT: &str = Component::Fulfillment.name();
/// The schema this service owns; created by `db/bootstrap.sql`.
pub const SCHEMA: &str = match Component::Fulfillment.spec().database {
    Some(db) => db.schema,
    None => panic!("a service has a schema"),
};
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = Component::Fulfillment.spec().port;
/// Default admin port.
pub const DEFAULT_ADMIN_PORT: u16 = Component::Fulfillment.spec().admin_port;

/// Migrations embedded in the binary; applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What the runtime connects and serves.
static SERVICE: ServiceSpec = ServiceSpec {
    name: SERVICE_NAME,
    component: COMPONENT,
    schema: SCHEMA,
    migrator: &MIGRATOR,
};

/// Configuration of fulfillment-service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings every service shares (`NATS_URL` among them).
    pub common: CommonConfig,
    /// How long a shipment prepares before it ships (`SHIP_AFTER_SECONDS`,
    /// default 5, so the demo shows it).
    pub ship_after: Duration,
    /// Pause between two runs of the shipper (`SHIP_INTERVAL_MILLIS`).
    pub ship_interval: Duration,
}

impl Config {
    /// Reads the configuration; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT, DEFAULT_ADMIN_PORT)?,
            ship_after: env.seconds_or("SHIP_AFTER_SECONDS", 5)?,
            ship_interval: Duration::from_millis(env.parse_or("SHIP_INTERVAL_MILLIS", 500)?),
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

/// Runs fulfillment-service on already-bound listeners until `shutdown`
/// completes: the gRPC API, the order-event consumer, the shipper and the
/// outbox relay.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let pool = SERVICE.connect(&config.common).await?;
    let store = Store::new(pool.clone());
    let consumer = config.common.spawn_consumer(
        &pool,
        events::ORDER_EVENTS,
        events::OrderEvents::new(config.ship_after),
    );
    let shipper = tokio::spawn(events::ship_forever(store.clone(), config.ship_interval));
    let relay = config.common.spawn_relay(COMPONENT, &pool);
    let routes = Routes::new(FulfillmentServiceServer::new(FulfillmentApi::new(store)));
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
    shipper.abort();
    for task in [consumer, relay].into_iter().flatten() {
        task.abort();
    }
    Ok(result?)
}
