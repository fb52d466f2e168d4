//! The process-wide maximum level that `telemetry::init` installs. Tracing's
//! macros compare a callsite's level with it before anything else, so a
//! maximum finer than needed makes every debug and trace callsite in the
//! dependencies (h2, hyper, sqlx) ask the filters on every hit. Each test
//! binary is its own process: `init` installs the global subscriber once.

use std::collections::HashMap;

use shop_runtime::{Env, telemetry};
use tracing::level_filters::LevelFilter;

#[test]
fn export_on_keeps_the_maximum_level_at_info_so_finer_callsites_cost_one_comparison() {
    let env = Env::from_map(HashMap::from([
        ("RUST_LOG".into(), "warn".into()),
        // Nothing listens here; the exporter connects lazily and no span is
        // ended in this test.
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        ),
    ]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let _telemetry = telemetry::init(&env, "max-level-test").unwrap();

    // Logs at warn, spans for the trace at info: the maximum is info, not
    // trace (which is what tracing-subscriber reports when a per-layer
    // filter sits above an unfiltered layer).
    assert_eq!(LevelFilter::current(), LevelFilter::INFO);
    assert!(!tracing::enabled!(target: "h2::codec", tracing::Level::DEBUG));
    assert!(tracing::span_enabled!(tracing::Level::INFO));
}
