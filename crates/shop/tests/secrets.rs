//! The admin password never appears in the gateway's logs or answers: the
//! real gateway process logs everything it can (`RUST_LOG=trace`, JSON and
//! pretty) while it is logged into, refused, sent the password where a token
//! belongs and given a bad configuration.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

/// A loopback address of its own (the fault test uses .78).
const HOST: &str = "127.0.0.79";

/// The gateway process, writing everything to `log` (a file, not a pipe:
/// trace logging would fill a pipe nobody reads yet and stall it).
fn gateway(password: &str, format: &str, log: &Path, extra: &[(&str, &str)]) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["serve", "gateway"])
        .env_clear()
        .env("LISTEN_ADDR", format!("{HOST}:8080"))
        .env("ADMIN_ADDR", format!("{HOST}:8081"))
        .env("PRODUCT_SERVICE_ADDR", format!("http://{HOST}:50051"))
        .env("CART_SERVICE_ADDR", format!("http://{HOST}:50052"))
        .env("ORDER_SERVICE_ADDR", format!("http://{HOST}:50053"))
        .env("AUTH_SECRET", "secrets-test-signing-key")
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

/// Everything the process wrote, once it has exited.
async fn output(mut child: Child, log: &Path) -> String {
    child.wait().await.expect("wait");
    std::fs::read_to_string(log).expect("read the log")
}

async fn wait_live(client: &reqwest::Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://{HOST}:8081/healthz"))
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
        let process = gateway(&password, format, &log, &[]);
        wait_live(&client).await;
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

        let pid = process.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let logs = output(process, &log).await;
        assert!(
            logs.lines().count() > 20,
            "trace logging produced too little: {logs}"
        );
        assert!(
            !logs.contains(&password),
            "the {format} logs carry the password"
        );
    }

    // A configuration the gateway refuses: its error names the variable,
    // never the password beside it.
    let refused = gateway(&password, "pretty", &log, &[("AUTH_SECRET", "short")]);
    let logs = output(refused, &log).await;
    assert!(logs.contains("AUTH_SECRET"), "{logs}");
    assert!(!logs.contains(&password), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `admin:<password>` as HTTP Basic credentials.
fn base64_basic(password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"))
}
