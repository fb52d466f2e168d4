//! The gateway process alone: what its logs never carry (the admin
//! password), and what they carry (the trace of each request).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

use crate::*;

/// The gateway process, writing everything to `log` (a file, not a pipe:
/// trace logging would fill a pipe nobody reads yet and stall it).
fn gateway(host: &str, password: &str, format: &str, log: &Path, extra: &[(&str, &str)]) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["serve", "gateway"])
        .env_clear()
        .env("LISTEN_ADDR", format!("{host}:8080"))
        .env("ADMIN_ADDR", format!("{host}:8081"))
        .env("PRODUCT_SERVICE_ADDR", format!("http://{host}:50051"))
        .env("CART_SERVICE_ADDR", format!("http://{host}:50052"))
        .env("ORDER_SERVICE_ADDR", format!("http://{host}:50053"))
        .env("AUTH_SECRET", "secrets-test-signing-key-of-32-bytes")
        .env("ADMIN_PASSWORD", password)
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", format)
        .env("SHUTDOWN_GRACE_SECONDS", "1")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log handle"))
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shop serve gateway")
}

async fn wait_live(client: &reqwest::Client, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://{host}:8081/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "gateway not live after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_admin_password_appears_in_no_log_line_and_no_answer() {
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let base = format!("http://{HOST}:8080");
    let dir = std::env::temp_dir().join(format!("shop-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log directory");
    let log = dir.join("gateway.log");
    for format in ["json", "pretty"] {
        let process = gateway(HOST, &password, format, &log, &[]);
        wait_live(&client, HOST).await;
        let login =
            |body: serde_json::Value| client.post(format!("{base}/api/v1/auth/login")).json(&body);
        let basic = base64_basic(&password);
        let attempts = [
            login(json!({"username": "admin", "password": password})),
            login(json!({"username": "admin", "password": format!("{password}x")})),
            login(json!({"username": "root", "password": password})),
            login(json!({"username": "admin", "password": [password]})),
            login(json!({"user": "admin", "pass": password})),
            client
                .get(format!("{base}/api/v1/cart"))
                .bearer_auth(&password),
            client
                .get(format!("{base}/api/v1/cart"))
                .header("authorization", format!("Basic {basic}")),
            client
                .post(format!("{base}/api/v1/products"))
                .bearer_auth(&password)
                .json(&json!({"sku": password})),
        ];
        let mut statuses = Vec::new();
        for attempt in attempts {
            let response = attempt.send().await.expect("answer");
            statuses.push(response.status().as_u16());
            let body = response.text().await.expect("body");
            assert!(
                !body.contains(&password),
                "an answer carries the password: {body}"
            );
        }
        assert_eq!(statuses[0], 200, "the right password logs in: {statuses:?}");
        assert!(
            statuses[1..].iter().all(|s| (400..500).contains(s)),
            "{statuses:?}"
        );

        let logs = stop(process, &log).await;
        assert!(
            logs.lines().count() > 20,
            "trace logging produced too little: {logs}"
        );
        assert!(
            !logs.contains(&password),
            "the {format} logs carry the password"
        );
        assert!(
            !logs.contains('\u{1b}'),
            "the {format} logs written to a file carry terminal escape codes"
        );
    }

    // A configuration the gateway refuses: its error names the variable,
    // never the password beside it.
    let refused = gateway(HOST, &password, "pretty", &log, &[("AUTH_SECRET", "short")]);
    let logs = output(refused, &log).await;
    assert!(logs.contains("AUTH_SECRET"), "{logs}");
    assert!(!logs.contains(&password), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn json_log_lines_in_a_request_carry_the_trace_id_and_span_id_of_its_trace() {
    // The caller's trace: the gateway's spans, and so its log lines, join it.
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let dir = std::env::temp_dir().join(format!("shop-json-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log directory");
    let log = dir.join("gateway.log");
    // Spans are made as for export; nothing listens at the endpoint, so
    // the exporter only logs that it failed.
    let endpoint = format!("http://{JSON_HOST}:4317");
    let process = gateway(
        JSON_HOST,
        "json-logs-password",
        "json",
        &log,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    wait_live(&client, JSON_HOST).await;
    // No product-service runs: the gateway answers 503, logging on the way.
    let status = client
        .get(format!("http://{JSON_HOST}:8080/api/v1/products"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
        .send()
        .await
        .expect("answer")
        .status();
    assert!(matches!(status.as_u16(), 503 | 504), "{status}");
    let logs = stop(process, &log).await;

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let in_trace: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["trace_id"] == TRACE_ID)
        .collect();
    assert!(
        in_trace.iter().any(|line| line["span"] == "http.server"),
        "no line logged in the request's HTTP span carries its trace id: {logs}"
    );
    for line in &in_trace {
        let span_id = line["span_id"].as_str().unwrap_or_default();
        assert!(
            span_id.len() == 16
                && span_id.bytes().all(|b| b.is_ascii_hexdigit())
                && span_id != CALLER_SPAN_ID,
            "a line in the trace does not name its own span: {line}"
        );
    }
    // One request, one HTTP span: its lines all name the same span.
    let http_spans: std::collections::HashSet<&str> = in_trace
        .iter()
        .filter(|line| line["span"] == "http.server")
        .filter_map(|line| line["span_id"].as_str())
        .collect();
    assert_eq!(http_spans.len(), 1, "{logs}");
    // Lines outside any request carry no trace id.
    assert!(
        lines
            .iter()
            .filter(|line| line.get("span").is_none())
            .all(|line| line.get("trace_id").is_none()),
        "{logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `admin:<password>` as HTTP Basic credentials.
fn base64_basic(password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
}
