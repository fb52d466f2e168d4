//! The smoke load: `shop up` as a user starts it (its own process, an
//! ephemeral PostgreSQL), then 10 s of mixed journeys from `shop loadtest`
//! with no failed request allowed, and a short open-loop sweep past the
//! saturation point. Both load reports (`report.html`) are then opened in
//! headless Chromium, offline, and checked for their tables and charts.
//! Reports land in `target/artifacts/smoke-load/` (the sweep's in `sweep/`),
//! with a screenshot of each page.
//!
//! The browser is `support::browser` (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::browser::{Browser, csp_violations};

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
fn ten_seconds_of_mixed_journeys_and_a_sweep_against_shop_up_make_reports_a_browser_shows() {
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
    let _ = std::fs::remove_dir_all(&reports);
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

    // The sweep: 20 and 100 req/s, then 3000 over two connections, which
    // the shop cannot serve (a debug build; and past 800 req/s from one
    // address its rate limit answers 429), so the sweep saturates.
    let sweep_reports = reports.join("sweep");
    let status = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args([
            "loadtest",
            "--target",
            &format!("http://{HOST}:{}", gateway::DEFAULT_PORT),
            "--workload",
            "product",
            "--users",
            "2",
            "--rate",
            "20,100,3000",
            "--duration",
            "2",
            "--report-dir",
        ])
        .arg(&sweep_reports)
        .stdout(Stdio::null())
        .status()
        .expect("shop loadtest --rate runs");
    assert!(status.success(), "the sweep ran: {status}");
    drop(up);

    // Goose's JSON report says every journey ran and nothing failed.
    let report: Value =
        serde_json::from_slice(&std::fs::read(reports.join("goose-report.json")).unwrap()).unwrap();
    // One row per request kind, and an "Aggregated" row without a method.
    let requests: Vec<&Value> = report["raw_request_metrics"]
        .as_array()
        .expect("per-request metrics")
        .iter()
        .filter(|r| !r["method"].as_str().unwrap_or_default().is_empty())
        .collect();
    let kind = |r: &&Value| {
        format!(
            "{} {}",
            r["method"].as_str().unwrap_or_default(),
            r["name"].as_str().unwrap_or_default()
        )
    };
    let count = |name: &str| {
        requests
            .iter()
            .filter(|r| kind(r) == name)
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
    let goose_html = std::fs::read_to_string(reports.join("goose-report.html")).unwrap();
    assert!(
        !goose_html.contains("<script src=\"http"),
        "goose's HTML report loads nothing from the network"
    );
    // Our time series counted the requests goose counted (over the whole
    // run, ramp-up included), by the same names.
    let series: Value =
        serde_json::from_slice(&std::fs::read(reports.join("timeseries.json")).unwrap()).unwrap();
    let ours: BTreeMap<String, u64> = series["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let t = &k["totals"];
            let n = t["ok"].as_u64().unwrap() + t["errors"].as_u64().unwrap();
            (k["kind"].as_str().unwrap().to_string(), n)
        })
        .collect();
    let theirs: BTreeMap<String, u64> = requests
        .iter()
        .map(|r| (kind(r), r["number_of_requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(ours, theirs);
    let goose_kinds: BTreeSet<String> = theirs.into_keys().collect();

    let sweep: Value =
        serde_json::from_slice(&std::fs::read(sweep_reports.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(sweep["steps"].as_array().unwrap().len(), 3, "{sweep}");
    assert!(
        sweep["saturation"]["rate"].as_f64().is_some(),
        "3000 req/s over two connections saturates: {sweep}"
    );

    // Both pages as the browser shows them, read before any check so that
    // a failed one leaves no browser behind.
    let (journeys, swept) = runtime.block_on(async {
        let browser = Browser::start(1240, 1400).await;
        let c = &browser.client;
        let journeys = read(c, &reports.join("report.html"), "journeys-report.png").await;
        let swept = read(c, &sweep_reports.join("report.html"), "sweep-report.png").await;
        browser.close().await;
        (journeys, swept)
    });
    for page in [&journeys, &swept] {
        assert_eq!(page["urls"], json!([]), "no element refers to the network");
        assert_eq!(page["resources"], json!([]), "the page loaded nothing");
        assert_eq!(page["external"], 0, "no script, stylesheet, image or frame");
        assert_eq!(page["csp_violations"], json!([]));
        assert_eq!(
            page["undrawn"], 0,
            "every line of two points or more has an extent on screen"
        );
    }

    {
        // The journeys: one summary row per kind goose saw, and per kind
        // the requests/s and latency charts, drawn second by second.
        let page = &journeys;
        let kinds: BTreeSet<String> = strings(&page["summary_kinds"]).into_iter().collect();
        assert_eq!(kinds, goose_kinds);
        assert_eq!(page["summary_rows"], goose_kinds.len(), "{page}");
        assert_eq!(page["sections"], goose_kinds.len() + 1, "{page}");
        let seconds = series["all"]["points"].as_array().unwrap().len() as u64;
        assert!(
            seconds >= 11,
            "10 s of load and 1 s of ramp-up: {seconds} s"
        );
        // Every second has a rate of requests and of errors; the last one,
        // cut short by the end of the run, only if it covered 0.25 s.
        let end = series["duration_seconds"].as_f64().unwrap();
        let rated = seconds - u64::from(end - ((seconds - 1) as f64) < 0.25);
        for section in page["charts"].as_array().unwrap() {
            assert_eq!(section["ok"], rated, "{section}");
            assert_eq!(section["errors"], rated, "{section}");
            assert_eq!(section["svgs"], 2, "{section}");
        }
        let all = &page["charts"][0];
        assert_eq!(all["kind"], "all requests");
        assert!(
            all["p50"].as_u64().unwrap() >= seconds - 1
                && all["p99"].as_u64().unwrap() >= seconds - 1,
            "the latency of every request together, second by second: {all}"
        );
    }
    {
        // The sweep: a row and a point per rate, the saturation marked.
        let page = &swept;
        assert_eq!(
            strings(&page["summary_kinds"]),
            ["GET /api/v1/products/{id}"]
        );
        assert_eq!(page["sweep_rows"], 3, "{page}");
        assert_eq!(
            page["sweep_points"],
            json!([3, 3, 3]),
            "p50, p99, p99.9: {page}"
        );
        assert_eq!(
            page["saturation_markers"], 2,
            "on both sweep charts: {page}"
        );
        assert_eq!(page["saturated_rows"], 1, "{page}");
    }
}

/// Opens `file` in the browser and reads what the checks need: the
/// tables, the points of each chart's lines, every attribute naming an
/// http(s) URL, what the page loaded, and the reports of its
/// Content-Security-Policy. Saves a screenshot as `png`.
async fn read(c: &fantoccini::Client, file: &Path, png: &str) -> Value {
    let url = format!("file://{}", file.canonicalize().unwrap().display());
    c.goto(&url).await.unwrap();
    let script = r"
        const points = (path) => path ? (path.getAttribute('d').match(/[ML]/g) || []).length : 0;
        const series = (svg, name) => points(svg && svg.querySelector(`g[data-series='${name}'] path`));
        const urls = [];
        for (const el of document.querySelectorAll('*')) {
            for (const a of el.attributes) {
                if (/https?:/i.test(a.value)) urls.push(`${el.tagName} ${a.name}=${a.value}`);
            }
        }
        const drawn = [...document.querySelectorAll('svg.chart path.line')]
            .filter((p) => points(p) >= 2 && p.getBBox().width === 0 && p.getBBox().height === 0);
        return {
            summary_kinds: [...document.querySelectorAll('#summary tbody tr')].map((r) => r.dataset.kind),
            summary_rows: document.querySelectorAll('#summary tbody tr').length,
            sections: document.querySelectorAll('section.kind').length,
            charts: [...document.querySelectorAll('section.kind')].map((s) => {
                const [rate, latency] = s.querySelectorAll('svg.chart');
                return { kind: s.dataset.kind, svgs: s.querySelectorAll('svg.chart').length,
                         ok: series(rate, 'ok'), errors: series(rate, 'errors'),
                         p50: series(latency, 'p50'), p99: series(latency, 'p99') };
            }),
            sweep_rows: document.querySelectorAll('#sweep-table tbody tr').length,
            sweep_points: ['p50', 'p99', 'p99.9'].map((n) => series(document.querySelector('#sweep-latency'), n)),
            saturation_markers: document.querySelectorAll('svg.chart .marker').length,
            saturated_rows: document.querySelectorAll('#sweep-table tr.saturated').length,
            urls,
            undrawn: drawn.length,
            resources: performance.getEntriesByType('resource').map((r) => r.name),
            external: document.querySelectorAll('script, link, img, iframe, object, embed').length,
        };
    ";
    let mut page = c.execute(script, vec![]).await.unwrap();
    page["csp_violations"] = Value::Array(csp_violations(c).await);
    let shot = c.screenshot().await.unwrap();
    std::fs::write(file.with_file_name(png), shot).unwrap();
    page
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}
