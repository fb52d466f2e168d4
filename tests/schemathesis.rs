//! The whole REST surface fuzzed from its own OpenAPI document by
//! schemathesis (pinned, installed by `scripts/test` into
//! `target/test-tools`), against the real stack: every operation, with
//! generated valid and invalid paths, queries, headers and bodies, as a
//! shopper and as the admin. The one check is the contract's promise that
//! nothing a client sends causes a 5xx.
//!
//! Bounded for CI: the `examples` and `fuzzing` phases, at most
//! `SCHEMATHESIS_MAX_EXAMPLES` (default 25) examples per operation and
//! `SCHEMATHESIS_MAX_TIME` (default 30) seconds per token, some 3,000
//! requests each. The longer run adds schemathesis's `coverage` phase
//! (every boundary and invalid value it derives from the schema; ~9,000
//! cases per token, figures in docs/reliability.md):
//!
//! ```sh
//! SCHEMATHESIS_PHASES=examples,coverage,fuzzing SCHEMATHESIS_MAX_TIME=600 \
//!     cargo test --test schemathesis -- --nocapture
//! ```

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Stack, TEST_ADMIN_PASSWORD};

/// The `st` of the pinned install, or `SCHEMATHESIS` when set.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return path.into();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("test-tools/bin/st")
}

async fn token(client: &reqwest::Client, base: &str, admin: bool) -> String {
    let request = if admin {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": TEST_ADMIN_PASSWORD}))
    } else {
        client.post(format!("{base}/api/v1/auth/guest"))
    };
    let body: Value = request
        .send()
        .await
        .expect("auth")
        .json()
        .await
        .expect("auth JSON");
    body["token"].as_str().expect("a token").to_string()
}

/// Runs schemathesis over the whole schema with `token`; panics with its
/// report when a check fails or the run could not do its job.
async fn fuzz(base: &str, token: &str, who: &str) {
    let st = schemathesis();
    assert!(
        st.exists(),
        "schemathesis not installed at {}: run scripts/test, which installs it (pinned) from PyPI, \
         or point SCHEMATHESIS at an `st` binary",
        st.display()
    );
    let setting = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    let max_examples = setting("SCHEMATHESIS_MAX_EXAMPLES", "25");
    let phases = setting("SCHEMATHESIS_PHASES", "examples,fuzzing");
    let max_time = setting("SCHEMATHESIS_MAX_TIME", "30");
    // It keeps caches in its working directory: give it a throw-away one.
    let cwd = std::env::temp_dir().join(format!("shop-schemathesis-{}-{who}", std::process::id()));
    std::fs::create_dir_all(&cwd).expect("working directory");
    let output = tokio::process::Command::new(&st)
        .current_dir(&cwd)
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", &max_examples])
        .args(["--phases", &phases])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--request-timeout", "10", "--max-time", &max_time])
        .args(["--generation-database", "none", "--seed", "1", "--no-color"])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run schemathesis");
    let _ = std::fs::remove_dir_all(&cwd);
    let report = String::from_utf8_lossy(&output.stdout);
    // The summary, for the record (visible with --nocapture).
    for line in report.lines().filter(|l| {
        l.contains("passed")
            || l.contains("failed")
            || l.contains("cases")
            || l.contains("Operations")
    }) {
        println!("schemathesis ({who}): {}", line.trim());
    }
    assert!(
        output.status.success(),
        "schemathesis as {who} found server errors or could not run ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_every_operation_from_the_openapi_document_finds_no_5xx() {
    let stack = Stack::start(&[
        ("RATE_LIMIT_PER_SECOND", "0"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
    ])
    .await;
    let base = stack.base_url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // Something to find: a product, and a cart holding it.
    let admin = token(&client, &base, true).await;
    let shopper = token(&client, &base, false).await;
    let product: Value = client
        .post(format!("{base}/api/v1/products"))
        .bearer_auth(&admin)
        .json(
            &json!({"sku": "FUZZ-1", "name": "Fuzzed", "description": "d", "category": "test",
                      "unit_price_cents": 100, "currency": "USD", "available": 1000}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("product JSON");
    let added = client
        .post(format!("{base}/api/v1/cart/items"))
        .bearer_auth(&shopper)
        .json(&json!({"product_id": product["id"], "quantity": 1}))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 200);

    fuzz(&base, &shopper, "shopper").await;
    fuzz(&base, &admin, "admin").await;
}
