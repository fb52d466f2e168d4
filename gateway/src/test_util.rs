//! Test support (cargo feature `test-util`, enabled only by test builds):
//! the gateway running in-process on port 0.

use shop_testkit::{Running, TEST_ADMIN_PASSWORD, TEST_AUTH_SECRET, TEST_FAULTS_TOKEN, env};
use shop_topology::Component;

/// Runs the gateway in front of `backends` (every service it calls, as
/// the component list says); `extra` adds or overrides variables.
pub async fn spawn_gateway(backends: &[(Component, &Running)], extra: &[(&str, &str)]) -> Running {
    let addrs: Vec<(&str, String)> = backends
        .iter()
        .filter_map(|(service, running)| Some((service.spec().addr_var?, running.url())))
        .collect();
    let mut vars: Vec<(&str, &str)> = addrs
        .iter()
        .map(|(var, url)| (*var, url.as_str()))
        .collect();
    vars.extend([
        ("AUTH_SECRET", TEST_AUTH_SECRET),
        ("FAULTS_TOKEN", TEST_FAULTS_TOKEN),
        ("ADMIN_PASSWORD", TEST_ADMIN_PASSWORD),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
    ]);
    vars.extend_from_slice(extra);
    let config = crate::Config::from_env(&env(&vars)).expect("valid test config");
    Running::start(|listener, admin, shutdown| crate::run(config, listener, admin, shutdown)).await
}
