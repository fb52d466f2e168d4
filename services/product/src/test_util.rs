//! Test support (cargo feature `test-util`, enabled only by test and bench
//! builds): product-service running in-process on port 0.

use shop_testkit::{Running, TEST_FAULTS_TOKEN, TEST_PAGE_TOKEN_SECRET, TestDb, env};

/// Runs product-service against `db`, with a quick sweeper and a short drain.
/// `extra` adds or overrides variables.
pub async fn spawn_product(db: &TestDb, extra: &[(&str, &str)]) -> Running {
    let url = db.url("product_svc");
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("PAGE_TOKEN_SECRET", TEST_PAGE_TOKEN_SECRET),
        ("FAULTS_TOKEN", TEST_FAULTS_TOKEN),
        ("SEED_DEMO_CATALOG", "false"),
        ("RESERVATION_SWEEP_MILLIS", "100"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
