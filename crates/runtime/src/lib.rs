//! The runtime kit every Shop service stands on.
//!
//! A service provides its gRPC routes, its migrations and its config; this
//! crate does the rest the same way everywhere: typed configuration from the
//! environment ([`config`]), logs ([`telemetry`]), a database pool confined
//! to the service's schema ([`db`]) and one classification of its errors
//! ([`db_error`]), the gRPC server with health, reflection,
//! timeouts and tracing ([`grpc`], [`ServiceSpec`]), the admin HTTP server
//! with `/metrics`, `/healthz` and `/readyz` ([`admin`]), and a graceful,
//! bounded shutdown ([`shutdown`]).
//!
//! What every service's errors share comes from here too: field errors
//! ([`validate`], INVALID_ARGUMENT naming the field), the failures that are
//! not the caller's fault ([`fault`]: UNAVAILABLE when a retry may help,
//! INTERNAL otherwise), the meaning of a failed call to another service
//! ([`client::CallError`]), and pagination ([`page_token::Page`]).

pub mod admin;
pub mod chaos;
pub mod client;
pub mod config;
pub mod db;
pub mod db_error;
pub mod detach;
pub mod fault;
pub mod grpc;
pub mod healthcheck;
pub mod http;
pub mod metrics;
pub mod page_token;
pub mod propagation;
pub mod shutdown;
pub mod stored;
pub mod telemetry;
pub mod tls;
pub mod validate;

pub use config::{CommonConfig, ConfigError, Env};
pub use fault::Fault;
pub use grpc::{GrpcService, ServiceSpec, serve};

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;

/// Binds a component's main (`LISTEN_ADDR`) and admin (`ADMIN_ADDR`)
/// listeners, naming the variable when an address is taken or invalid.
pub async fn bind(
    listen_addr: SocketAddr,
    admin_addr: SocketAddr,
) -> Result<(TcpListener, TcpListener), ConfigError> {
    let listen = |var: &'static str, addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|e| ConfigError {
            var: var.to_string(),
            message: format!("cannot listen on {addr}: {e}"),
        })
    };
    Ok((
        listen("LISTEN_ADDR", listen_addr).await?,
        listen("ADMIN_ADDR", admin_addr).await?,
    ))
}

/// The shutdown future [`serve_from_env`] hands a component's `run`.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a component as its binary does: telemetry and `config` from `env`,
/// its main and admin listeners on `addrs(&config)`, `run` until SIGTERM or
/// Ctrl-C, then a flush of what telemetry holds. Every binary and
/// `shop serve` go through here.
pub async fn serve_from_env<C, Fut>(
    env: &Env,
    component: &str,
    config: impl FnOnce(&Env) -> Result<C, ConfigError>,
    addrs: impl FnOnce(&C) -> (SocketAddr, SocketAddr),
    run: impl FnOnce(C, TcpListener, TcpListener, Shutdown) -> Fut,
) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let telemetry = telemetry::init(env, component)?;
    // Before the first request, so no request goes uncounted.
    metrics::handle();
    let config = config(env)?;
    let (listen_addr, admin_addr) = addrs(&config);
    let (listener, admin) = bind(listen_addr, admin_addr).await?;
    let result = run(config, listener, admin, Box::pin(shutdown::signal())).await;
    telemetry.shutdown();
    result
}

/// Runs a binary's body and turns a failure into one line on stderr and exit code 1.
pub async fn main_entry(
    component: &str,
    body: impl Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    match body.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{component}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
