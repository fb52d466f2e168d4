//! Test support (cargo feature `test-util`, enabled only by test builds):
//! cart-service running in-process on port 0.

use shop_testkit::{Running, TEST_FAULTS_TOKEN, TEST_PAGE_TOKEN_SECRET, TestDb, env};

/// Runs cart-service against `db`, calling product-service at `product`.
/// `extra` adds or overrides variables.
pub async fn spawn_cart(db: &TestDb, product: &Running, extra: &[(&str, &str)]) -> Running {
    let url = db.url("cart_svc");
    let product_url = product.url();
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("PAGE_TOKEN_SECRET", TEST_PAGE_TOKEN_SECRET),
        ("FAULTS_TOKEN", TEST_FAULTS_TOKEN),
        ("PRODUCT_SERVICE_ADDR", product_url.as_str()),
        ("DOWNSTREAM_TIMEOUT_MILLIS", "1000"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
