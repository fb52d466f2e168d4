//! The runtime kit every Shop component stands on: a service provides its
//! gRPC routes, its migrations and its config, and this crate does the rest
//! the same way everywhere.
//!
//! # Layout
//!
//! - [`config`]: typed configuration from the environment ([`Env`],
//!   [`ConfigError`] naming the variable, secrets wrapped) and TLS material.
//! - [`server`]: the gRPC server of a service ([`ServiceSpec`], [`serve`]:
//!   health, reflection, deadlines, the server layers), the admin server
//!   (`/metrics`, `/readyz`, `/faults`), the one drain at shutdown
//!   ([`server::shutdown`]), the `healthcheck` subcommand, and what a handler
//!   answers: field errors ([`server::validate`]), signed page tokens
//!   ([`server::page_token`]) and the failures that are not the caller's
//!   ([`Failure`]: UNAVAILABLE when a retry may help, INTERNAL otherwise).
//! - [`client`]: a channel to another service with the client layers
//!   (span, metrics, faults, transport errors), the call policy (deadline,
//!   retries) and the meaning of a failed call.
//! - [`db`]: the pool confined to the service's schema, one-statement
//!   [`db::Reads`], the `#[sql]` span, and one classification of database
//!   errors ([`db::classify`], [`db::OnConstraint`]).
//! - [`http`]: the HTTP server of the gateway, with its limits.
//! - [`telemetry`]: logs, traces (W3C trace context across processes) and
//!   metrics.
//! - [`chaos`]: faults injected on purpose, on every server and client.
//!
//! Dependencies point one way: `config` is a leaf; `telemetry`, `chaos` and
//! `db` use `config`; `client`, `http` and `server` use those.

pub mod chaos;
pub mod client;
pub mod config;
pub mod db;
pub mod events;
pub mod http;
pub mod server;
pub mod telemetry;

pub use config::{ConfigError, Env};
pub use server::{CommonConfig, Failure, GrpcService, ServiceSpec, serve};

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
    telemetry::metrics_handle();
    let config = config(env)?;
    let (listen_addr, admin_addr) = addrs(&config);
    let (listener, admin) = bind(listen_addr, admin_addr).await?;
    let result = run(
        config,
        listener,
        admin,
        Box::pin(server::shutdown::signal()),
    )
    .await;
    telemetry.shutdown();
    result
}

/// The whole `main` of a component's binary: `<binary> healthcheck`
/// probes the running process (gRPC health for a service, `/readyz` for
/// the gateway); anything else runs `serve` with the process environment
/// through [`main_entry`].
pub async fn binary_main<Fut>(
    component: shop_topology::Component,
    serve: impl FnOnce(Env) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let spec = component.spec();
    if server::healthcheck::requested() {
        return match spec.grpc_service {
            Some(service) => server::healthcheck::grpc(spec.port, spec.admin_port, service).await,
            None => server::healthcheck::http(spec.admin_port).await,
        };
    }
    main_entry(spec.name, serve(Env::process())).await
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
