//! Test support (cargo feature `test-util`, enabled only by test builds):
//! fulfillment-service running in-process on port 0.

use shop_testkit::{Running, TEST_FAULTS_TOKEN, TEST_PAGE_TOKEN_SECRET, TestDb, env};

/// Runs fulfillment-service against `db`. `extra` adds or overrides
/// variables (`NATS_URL` turns its events on).
pub async fn spawn_fulfillment(db: &TestDb, extra: &[(&str, &str)]) -> Running {
    let url = db.url("fulfillment_svc");
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("PAGE_TOKEN_SECRET", TEST_PAGE_TOKEN_SECRET),
        ("FAULTS_TOKEN", TEST_FAULTS_TOKEN),
        ("SHIP_INTERVAL_MILLIS", "50"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    let config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
