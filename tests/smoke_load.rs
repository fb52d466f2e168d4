//! The smoke load: `shop up` as a user starts it (its own process, an
//! ephemeral PostgreSQL), then 10 s of mixed journeys from `shop loadtest`
//! with no failed request allowed. Reports land in
//! `target/artifacts/smoke-load/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback address of its own, so the design ports do not collide with
/// a shop a developer is running on 127.0.0.1.
const HOST: &str = "127.0.0.77";
const ADMIN_PASSWORD: &str = "smoke-load-admin";

/// `shop up`, interrupted (as Ctrl-C would) when dropped.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
    }
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts/smoke-load")
}

#[test]
fn ten_seconds_of_mixed_journeys_against_shop_up_fail_no_request() {
    let log = std::fs::File::create(std::env::temp_dir().join("smoke-load-up.log")).unwrap();
    let up = Up(Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["up", "--host", HOST])
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("shop up starts"));

    // Ready when the gateway says so (it checks its backends).
    let ready = format!("http://{HOST}:{}/readyz", gateway::DEFAULT_ADMIN_PORT);
    let deadline = Instant::now() + Duration::from_secs(60);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    while !runtime.block_on(async {
        reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
    }) {
        assert!(
            Instant::now() < deadline,
            "shop up not ready in 60 s; see {}",
            std::env::temp_dir().join("smoke-load-up.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let reports = artifacts();
    let status = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args([
            "loadtest",
            "--target",
            &format!("http://{HOST}:{}", gateway::DEFAULT_PORT),
            "--users",
            "8",
            "--ramp-up",
            "1",
            "--duration",
            "10",
            "--max-error-rate",
            "0",
            "--report-dir",
        ])
        .arg(&reports)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .status()
        .expect("shop loadtest runs");
    assert!(
        status.success(),
        "shop loadtest failed its bounds: {status}"
    );
    drop(up);

    // The JSON report says every journey ran and nothing failed.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    let requests = report["raw_request_metrics"]
        .as_array()
        .expect("per-request metrics");
    let count = |name: &str| {
        requests
            .iter()
            .filter(|r| {
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap_or_default(),
                    r["name"].as_str().unwrap_or_default()
                ) == name
            })
            .map(|r| r["number_of_requests"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    for name in [
        "GET /api/v1/products/{id}",
        "PUT /api/v1/cart/items/{product_id}",
        "POST /api/v1/orders",
        "GET /api/v1/orders/{id}",
    ] {
        assert!(count(name) > 0, "no {name} request in the smoke load");
    }
    let failures: u64 = requests
        .iter()
        .map(|r| r["number_of_failures"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(failures, 0);
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(
        html.contains("Aggregated"),
        "the HTML report holds the tables"
    );
    assert!(
        !html.contains("<script src=\"http"),
        "the HTML report loads nothing from the network"
    );
}
