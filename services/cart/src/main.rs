//! The cart-service binary: [`cart_service::serve_from_env`] with the process
//! environment, or `cart-service healthcheck`.

/// mimalloc: fewer cycles per allocation than glibc under many threads
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shop_runtime::binary_main(shop_topology::Component::Cart, cart_service::serve_from_env).await
}
