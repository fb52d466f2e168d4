//! The fulfillment-service binary: [`fulfillment_service::serve_from_env`]
//! with the process environment, or `fulfillment-service healthcheck`.

/// mimalloc: fewer cycles per allocation than glibc under many threads
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shop_runtime::binary_main(
        shop_topology::Component::Fulfillment,
        fulfillment_service::serve_from_env,
    )
    .await
}
