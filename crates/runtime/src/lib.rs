//! The runtime kit every Shop service stands on.
//!
//! A service provides its gRPC routes, its migrations and its config; this
//! crate does the rest the same way everywhere: typed configuration from the
//! environment ([`config`]), logs ([`telemetry`]), a database pool confined
//! to the service's schema ([`db`]), the gRPC server with health, reflection,
//! timeouts and tracing ([`grpc`]), the admin HTTP server with `/metrics`,
//! `/healthz` and `/readyz` ([`admin`]), and a graceful, bounded shutdown
//! ([`shutdown`]).

pub mod admin;
pub mod client;
pub mod config;
pub mod db;
pub mod detach;
pub mod grpc;
pub mod healthcheck;
pub mod metrics;
pub mod page_token;
pub mod propagation;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod validate;

pub use config::{CommonConfig, ConfigError, Env};
pub use grpc::{GrpcService, serve};

use std::future::Future;
use std::process::ExitCode;

use tokio::net::TcpListener;

/// Binds the gRPC and admin listeners of a service, naming the variable when
/// an address is taken or invalid.
pub async fn bind(config: &CommonConfig) -> Result<(TcpListener, TcpListener), ConfigError> {
    let listen = |var: &'static str, addr: std::net::SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|e| ConfigError {
            var: var.to_string(),
            message: format!("cannot listen on {addr}: {e}"),
        })
    };
    Ok((
        listen("LISTEN_ADDR", config.listen_addr).await?,
        listen("ADMIN_ADDR", config.admin_addr).await?,
    ))
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
