//! The open-loop mode's arithmetic, against a fixture HTTP server that
//! stalls once: the load generator is under test here, not the shop (the
//! smoke load in `tests/smoke_load.rs` drives the real stack).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use shop_loadtest::open_loop::Workload;
use shop_loadtest::{LoadArgs, Verdict};

/// Requests served so far.
#[derive(Clone, Default)]
struct Served(Arc<AtomicU64>);

/// What every fixture answers like the gateway: a catalog of one product
/// and guest tokens.
fn catalog_and_guest<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/api/v1/products",
            get(|| async {
                Json(json!({"items": [{"id": "p1", "category": "c"}], "next_page_token": null}))
            }),
        )
        .route(
            "/api/v1/auth/guest",
            post(|| async { (axum::http::StatusCode::CREATED, Json(json!({"token": "t"}))) }),
        )
}

/// A gateway-shaped fixture: one product, guest tokens, and a product read
/// that stalls for `STALL` on the 100th request.
async fn fixture() -> (String, Served) {
    let served = Served::default();
    let app = catalog_and_guest()
        .route(
            "/api/v1/products/{id}",
            get(|State(served): State<Served>| async move {
                if served.0.fetch_add(1, Ordering::SeqCst) == 99 {
                    tokio::time::sleep(STALL).await;
                }
                Json(json!({"id": "p1"}))
            }),
        )
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), served)
}

const STALL: Duration = Duration::from_millis(500);

fn args(target: &str, report_dir: &std::path::Path, rate: &str) -> LoadArgs {
    LoadArgs {
        target: target.parse().unwrap(),
        users: 1,
        ramp_up: 0,
        duration: 3,
        mix: "browse=1".parse().unwrap(),
        think_ms: 0,
        admin_password: None,
        max_error_rate: Some(0.0),
        max_p99_ms: None,
        report_dir: report_dir.to_path_buf(),
        rate: Some(rate.parse().unwrap()),
        workload: Workload::Product,
    }
}

fn summary(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("open-loop.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn open_loop_keeps_the_schedule_and_charges_a_stall_to_every_request_it_delayed() {
    let (target, served) = fixture().await;
    let dir = std::env::temp_dir().join(format!("open-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One connection at 100 req/s for 3 s: 300 requests on a 10 ms grid. The
    // 100th stalls 500 ms; the ~50 requests scheduled meanwhile wait for it.
    let verdict = shop_loadtest::run(args(&target, &dir, "100"))
        .await
        .unwrap();
    assert_eq!(verdict, Verdict::Passed);
    let s = summary(&dir);
    let ok = s["ok"].as_u64().unwrap();
    assert!((295..=300).contains(&ok), "sent on schedule: {ok} of 300");
    assert_eq!(served.0.load(Ordering::SeqCst), ok);
    assert_eq!(s["errors"].as_u64(), Some(0));
    // Measured from the actual send, only 1 of 300 requests would be slow
    // and p99 would stay near the normal latency. From the intended send,
    // the stall shows in every request it delayed: ~1/6 of them.
    let p99 = s["latency_us"]["p99"].as_u64().unwrap();
    let p90 = s["latency_us"]["p90"].as_u64().unwrap();
    assert!(p99 >= 400_000, "p99 {p99} µs should carry the 500 ms stall");
    assert!(p90 >= 50_000, "p90 {p90} µs should carry the stall too");
    assert!(s["latency_us"]["p50"].as_u64().unwrap() < 50_000);
}

#[tokio::test]
async fn a_broken_bound_fails_the_run() {
    let (target, _served) = fixture().await;
    let dir = std::env::temp_dir().join(format!("open-loop-bound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut strict = args(&target, &dir, "100");
    strict.max_p99_ms = Some(100.0);
    match shop_loadtest::run(strict).await.unwrap() {
        Verdict::Failed(broken) => assert!(broken[0].starts_with("p99"), "{broken:?}"),
        Verdict::Passed => panic!("a 500 ms stall must break a 100 ms p99 bound"),
    }
}

#[tokio::test]
async fn closed_loop_sends_as_fast_as_answers_come() {
    let (target, _served) = fixture().await;
    let dir = std::env::temp_dir().join(format!("closed-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let verdict = shop_loadtest::run(args(&target, &dir, "0")).await.unwrap();
    assert_eq!(verdict, Verdict::Passed);
    let s = summary(&dir);
    assert_eq!(s["mode"], "closed");
    // Far above the 100 req/s of the open-loop test, even in a debug build.
    assert!(s["ok"].as_u64().unwrap() > 1_000, "{s}");
}

/// A fixture whose product read takes `SERVICE`: one connection serves at
/// most 1 / SERVICE requests per second.
async fn slow_fixture() -> String {
    let app = catalog_and_guest().route(
        "/api/v1/products/{id}",
        get(|| async {
            tokio::time::sleep(SERVICE).await;
            Json(json!({"id": "p1"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

const SERVICE: Duration = Duration::from_millis(10);

#[tokio::test]
async fn a_sweep_finds_the_rate_one_connection_cannot_serve_and_reports_it() {
    let target = slow_fixture().await;
    let dir = std::env::temp_dir().join(format!("sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One connection, 10 ms a request: 100 req/s at most. 20 and 50 are
    // served; 200 is not.
    let mut sweep = args(&target, &dir, "20,50,200");
    sweep.duration = 1;
    sweep.max_error_rate = None;
    assert_eq!(shop_loadtest::run(sweep).await.unwrap(), Verdict::Passed);
    let s: Value = serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    let steps = s["steps"].as_array().unwrap();
    let offered: Vec<f64> = steps
        .iter()
        .map(|x| x["offered"].as_f64().unwrap())
        .collect();
    assert_eq!(offered, [20.0, 50.0, 200.0]);
    let achieved: Vec<f64> = steps
        .iter()
        .map(|x| x["achieved"].as_f64().unwrap())
        .collect();
    assert!(achieved[0] >= 19.0 && achieved[1] >= 47.5, "{achieved:?}");
    assert!(achieved[2] < 110.0, "one connection at 10 ms: {achieved:?}");
    assert_eq!(s["saturation"]["index"], 2, "{s}");
    assert_eq!(s["saturation"]["rate"], 200.0);

    // The time series holds the one kind the workload sends, over the
    // whole sweep: 1 s + 1 s + about 2 s to serve 200 requests.
    let t: Value =
        serde_json::from_slice(&std::fs::read(dir.join("timeseries.json")).unwrap()).unwrap();
    let kinds = t["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 1);
    assert_eq!(kinds[0]["kind"], "GET /api/v1/products/{id}");
    assert_eq!(kinds[0]["totals"]["ok"], 20 + 50 + 200);
    assert!(kinds[0]["points"].as_array().unwrap().len() >= 4, "{t}");

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"sweep-latency\""));
    assert!(html.contains("saturation: 200 req/s"));
    assert!(
        !dir.join("open-loop.json").exists(),
        "a sweep writes sweep.json"
    );
}
