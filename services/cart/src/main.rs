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
            cart_service::SERVICE_NAME,
        )
        .await;
    }
    shop_runtime::main_entry(cart_service::COMPONENT, async {
        let env = Env::process();
        let telemetry = shop_runtime::telemetry::init(&env, cart_service::COMPONENT)?;
        let config = cart_service::Config::from_env(&env)?;
        let (listener, admin) = shop_runtime::bind(&config.common).await?;
        let result =
            cart_service::run(config, listener, admin, shop_runtime::shutdown::signal()).await;
        telemetry.shutdown();
        result
    })
    .await
}
