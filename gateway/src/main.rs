//! The gateway binary: configuration from the environment, then [`gateway::run`].

use std::process::ExitCode;

use shop_runtime::Env;

/// mimalloc: fewer cycles per allocation than glibc under many threads
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    if shop_runtime::healthcheck::requested() {
        return shop_runtime::healthcheck::http(gateway::DEFAULT_ADMIN_PORT).await;
    }
    shop_runtime::main_entry(gateway::COMPONENT, async {
        let env = Env::process();
        let telemetry = shop_runtime::telemetry::init(&env, gateway::COMPONENT)?;
        let config = gateway::Config::from_env(&env)?;
        let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
        let admin = tokio::net::TcpListener::bind(config.admin_addr).await?;
        let result = gateway::run(config, listener, admin, shop_runtime::shutdown::signal()).await;
        telemetry.shutdown();
        result
    })
    .await
}
