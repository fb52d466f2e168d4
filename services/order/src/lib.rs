//! order-service: orders and the checkout saga.
//!
//! Read top to bottom: `main.rs` starts [`serve_from_env`]; [`run`] here
//! wires the pieces and the recovery loop (which also drains the
//! follow-ups); `grpc.rs` holds the handlers;
//! `saga/` the checkout, its recovery and cancellation; `downstream.rs` the
//! cart and product clients; `domain/` the types and the cart checkout
//! reads; `store/` every SQL statement; `error.rs` the one error type.
//! `test_util.rs` (cargo feature `test-util`, tests only) holds the levers
//! tests pull on the saga.

mod domain;
mod downstream;
mod error;
mod events;
mod grpc;
mod saga;
mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use error::Error;

use std::future::Future;
use std::time::Duration;

use shop_proto::order::order_service_server::OrderServiceServer;
use shop_runtime::client::CallPolicy;
use shop_runtime::server::page_token::PageTokens;
use shop_runtime::{CommonConfig, ConfigError, Env, ServiceSpec};
use shop_topology::Component;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::downstream::Downstream;
use crate::grpc::OrderApi;
use crate::saga::Saga;
use crate::store::{Schedule, Store};

/// Fully qualified gRPC service name, as health reports it.
pub const SERVICE_NAME: &str = shop_proto::order::order_service_server::SERVICE_NAME;
const _: () = assert!(
    Component::Order.serves(SERVICE_NAME),
    "shop-topology names another gRPC service"
);
/// Component name in logs, metrics and traces.
pub const COMPONENT: &str = Component::Order.name();
/// The schema this service owns; created by `db/bootstrap.sql`.
pub const SCHEMA: &str = match Component::Order.spec().database {
    Some(db) => db.schema,
    None => panic!("a service has a schema"),
};
/// Default gRPC port.
pub const DEFAULT_PORT: u16 = Component::Order.spec().port;
/// Default admin port.
pub const DEFAULT_ADMIN_PORT: u16 = Component::Order.spec().admin_port;

/// Migrations embedded in the binary; applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What the runtime connects and serves.
static SERVICE: ServiceSpec = ServiceSpec {
    name: SERVICE_NAME,
    component: COMPONENT,
    schema: SCHEMA,
    migrator: &MIGRATOR,
};

/// Configuration of order-service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Settings every service shares.
    pub common: CommonConfig,
    /// cart-service, with scheme (`CART_SERVICE_ADDR`).
    pub cart_service_addr: String,
    /// product-service, with scheme (`PRODUCT_SERVICE_ADDR`).
    pub product_service_addr: String,
    /// Deadline of each downstream call (`DOWNSTREAM_TIMEOUT_MILLIS`) and
    /// its retries.
    pub downstream: CallPolicy,
    /// Age after which an unfinished order is settled by recovery (`RECOVERY_HORIZON_SECONDS`).
    pub recovery_horizon: Duration,
    /// Pause between two recovery runs (`RECOVERY_INTERVAL_MILLIS`).
    pub recovery_interval: Duration,
    /// Tests only: pauses, crashes and failures injected into the saga.
    #[cfg(feature = "test-util")]
    pub hooks: test_util::Hooks,
}

impl Config {
    /// Reads the configuration; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env, DEFAULT_PORT, DEFAULT_ADMIN_PORT)?,
            cart_service_addr: env.addr_of(Component::Cart),
            product_service_addr: env.addr_of(Component::Product),
            downstream: CallPolicy::from_env(env)?,
            recovery_horizon: env.seconds_or("RECOVERY_HORIZON_SECONDS", 15)?,
            recovery_interval: Duration::from_millis(
                env.parse_or("RECOVERY_INTERVAL_MILLIS", 1000)?,
            ),
            #[cfg(feature = "test-util")]
            hooks: test_util::Hooks::default(),
        })
    }
}

impl Config {
    /// When follow-ups are taken and retried: a horizon after they are
    /// enqueued; backing off from one recovery interval to one horizon.
    fn schedule(&self) -> Schedule {
        Schedule {
            horizon: self.recovery_horizon,
            first_retry: self.recovery_interval,
        }
    }
}

/// Runs this component as its binary does: telemetry and configuration
/// from `env`, listeners on the configured addresses, until SIGTERM or
/// Ctrl-C; then the drain and a telemetry flush.
pub async fn serve_from_env(env: Env) -> anyhow::Result<()> {
    let addrs = |c: &Config| c.common.addrs();
    shop_runtime::serve_from_env(&env, COMPONENT, Config::from_env, addrs, run).await
}

/// Runs order-service on already-bound listeners until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (saga, store, pool) = saga(&config).await?;
    let recovery = tokio::spawn(recover_forever(saga.clone(), config.recovery_interval));
    let relay = config.common.spawn_relay(COMPONENT, &pool);
    let consumer = config
        .common
        .spawn_consumer(&pool, events::SHIPMENTS, events::Shipments);
    let api = OrderApi::new(
        saga,
        store,
        PageTokens::new(config.common.page_token_secret.clone()),
    );
    let routes = Routes::new(OrderServiceServer::new(api));
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
    recovery.abort();
    for task in [relay, consumer].into_iter().flatten() {
        task.abort();
    }
    Ok(result?)
}

/// The saga over the database and the downstream clients of `config`; also
/// its store and pool.
async fn saga(config: &Config) -> anyhow::Result<(Saga, Store, sqlx::PgPool)> {
    let cart = config
        .common
        .client(Component::Cart, &config.cart_service_addr)?;
    let product = config
        .common
        .client(Component::Product, &config.product_service_addr)?;
    let pool = SERVICE.connect(&config.common).await?;
    let store = Store::new(pool.clone(), config.schedule());
    let saga = Saga::new(
        store.clone(),
        Downstream::new(cart, product, &config.downstream),
        config.common.faults.clone(),
    );
    #[cfg(feature = "test-util")]
    let saga = saga.with_hooks(config.hooks.clone());
    Ok((saga, store, pool))
}

/// Settles unfinished orders and runs due follow-ups, forever.
async fn recover_forever(saga: Saga, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = saga.recover().await {
            tracing::warn!(error = %e, "recovery run failed; retrying");
        }
    }
}
