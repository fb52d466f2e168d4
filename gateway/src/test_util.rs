//! Test support (cargo feature `test-util`, enabled only by test builds):
//! the gateway running in-process on port 0.

use shop_testkit::{Running, TEST_ADMIN_PASSWORD, TEST_AUTH_SECRET, env};

/// Runs the gateway in front of the three services; `extra` adds or
/// overrides variables.
pub async fn spawn_gateway(
    product: &Running,
    cart: &Running,
    order: &Running,
    extra: &[(&str, &str)],
) -> Running {
    let (p, c, o) = (product.url(), cart.url(), order.url());
    let mut vars = vec![
        ("PRODUCT_SERVICE_ADDR", p.as_str()),
        ("CART_SERVICE_ADDR", c.as_str()),
        ("ORDER_SERVICE_ADDR", o.as_str()),
        ("AUTH_SECRET", TEST_AUTH_SECRET),
        ("ADMIN_PASSWORD", TEST_ADMIN_PASSWORD),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
