//! The order-service binary: configuration from the environment, then [`order_service::run`].

use std::process::ExitCode;

use shop_runtime::Env;

/// mimalloc: fewer cycles per allocation than glibc under many threads
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    if shop_runtime::healthcheck::requested() {
        return shop_runtime::healthcheck::grpc(
            order_service::DEFAULT_PORT,
            order_service::DEFAULT_ADMIN_PORT,
            order_service::SERVICE_NAME,
        )
        .await;
    }
    shop_runtime::main_entry(
        order_service::COMPONENT,
        order_service::serve_from_env(&Env::process()),
    )
    .await
}
