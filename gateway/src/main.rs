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
    shop_runtime::main_entry(gateway::COMPONENT, gateway::serve_from_env(&Env::process())).await
}
