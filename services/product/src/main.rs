//! The product-service binary: [`product_service::serve_from_env`] with the process
//! environment, or `product-service healthcheck`.

/// mimalloc: fewer cycles per allocation than glibc under many threads
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shop_runtime::binary_main(
        shop_topology::Component::Product,
        product_service::serve_from_env,
    )
    .await
}
