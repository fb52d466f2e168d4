//! The cart-service binary: configuration from the environment, then [`cart_service::run`].

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
            cart_service::DEFAULT_PORT,
            cart_service::DEFAULT_ADMIN_PORT,
            cart_service::SERVICE_NAME,
        )
        .await;
    }
    shop_runtime::main_entry(
        cart_service::COMPONENT,
        cart_service::serve_from_env(&Env::process()),
    )
    .await
}
