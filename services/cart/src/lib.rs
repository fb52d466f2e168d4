//! cart-service: per-shopper carts, validated and priced through product-service.
//!
//! Read top to bottom: `main.rs` starts [`serve_from_env`]; [`run`] here
//! wires the pieces; `grpc.rs` holds the handlers; `domain.rs` the limits,
//! the validation and the pricing rules; `catalog.rs` the product-service
//! client; `store.rs` every SQL statement; `error.rs` the one error type.

mod catalog;
mod domain;
mod error;
mod events;
mod grpc;
mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use error::Error;

use std::future::Future;

use shop_proto::cart::cart_service_server::CartServiceServer;
use shop_runtime::client::CallPolicy;
use shop_runtime::{CommonConfig, ConfigError, Env, ServiceSpec};
use shop_topology::Component;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::catalog::Catalog;
use crate::grpc::CartApi;
use crate::store::Store;

/// Fully qualified gRPC service name, as health reports it.
pub const SERVICE_NAME: &str = shop_proto::cart::cart_service_server::SERVICE_NAME;
const _: () = assert!(
    Component::Cart.serves(SERVICE_NAME),
    "shop-topology names another gRPC service"
);
/// Component name in logs, metrics and traces.
pub const COMPONENT: &str = Component::Cart.name();
/// The schema this service owns; created by `db/bootstrap.sql`.
pub const SCHEMA: &str = match Component::Cart.spec().database {
    Some(db) => db.schema,
    None => panic!("a service has a schema"),
};
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = Component::Cart.spec().port;
/// Default admin port.
pub const DEFAULT_ADMIN_PORT: u16 = Component::Cart.spec().admin_port;

/// Migrations embedded in the binary; applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What the runtime connects and serves.
static SERVICE: ServiceSpec = ServiceSpec {
    name: SERVICE_NAME,
    component: COMPONENT,
    schema: SCHEMA,
    migrator: &MIGRATOR,
};

/// Configuration of cart-service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings every service shares.
    pub common: CommonConfig,
    /// product-service, with scheme (`PRODUCT_SERVICE_ADDR`).
    pub product_service_addr: String,
    /// Deadline of each call to product-service (`DOWNSTREAM_TIMEOUT_MILLIS`)
    /// and its retries.
    pub downstream: CallPolicy,
}

impl Config {
    /// Reads the configuration; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT, DEFAULT_ADMIN_PORT)?,
            product_service_addr: env.addr_of(Component::Product),
            downstream: CallPolicy::from_env(env)?,
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

/// Runs cart-service on already-bound listeners until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let product = config
        .common
        .client(Component::Product, &config.product_service_addr)?;
    let pool = SERVICE.connect(&config.common).await?;
    let api = CartApi::new(
        Store::new(pool.clone()),
        Catalog::new(product, config.downstream),
    );
    let consumer = config
        .common
        .spawn_consumer(&pool, events::PRICE_CHANGES, events::PriceChanges);
    let routes = Routes::new(CartServiceServer::new(api));
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
    if let Some(consumer) = consumer {
        consumer.abort();
    }
    Ok(result?)
}
