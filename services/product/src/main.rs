//! The product-service binary: configuration from the environment, then [`product_service::run`].

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
            product_service::DEFAULT_PORT,
            product_service::DEFAULT_ADMIN_PORT,
            product_service::SERVICE_NAME,
        )
        .await;
    }
    shop_runtime::main_entry(
        product_service::COMPONENT,
        product_service::serve_from_env(&Env::process()),
    )
    .await
}
