//! What the real gateway process's logs carry, and never carry. It logs
//! everything it can (`RUST_LOG=trace`, JSON and pretty) into a file.
//!
//! - The admin password appears in no log line and no answer, while the
//!   gateway is logged into, refused, sent the password where a token
//!   belongs and given a bad configuration.
//! - JSON lines logged inside a request carry the `trace_id` and `span_id`
//!   of the trace the request belongs to, so a log line leads to its trace.
//! - Neither format writes terminal colour codes into a file.
//! - With export off and `RUST_LOG=info`, the four components as separate
//!   processes log each business event once, with the order number and
//!   the trace id the client sent (or one the gateway made), and that trace
//!   id reaches every service the request touched; a plain read logs
//!   nothing at info.

use std::path::Path;

use serde_json::Value;
use tokio::process::Child;

mod business;
mod gateway;
#[path = "../support/mod.rs"]
mod support;

/// Loopback addresses of their own, one per test (the fault test uses .78).
const HOST: &str = "127.0.0.79";
const JSON_HOST: &str = "127.0.0.80";
const STACK_HOST: &str = "127.0.0.83";

/// A `traceparent` of a sampled call in `trace_id`.
fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-00f067aa0ba902b7-01")
}

/// The JSON lines of a log; every line must be one.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// Stops the gateway as an orchestrator would (SIGTERM) and returns
/// everything it wrote.
async fn stop(process: Child, log: &Path) -> String {
    let pid = process.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    output(process, log).await
}

/// Everything the process wrote, once it has exited.
async fn output(mut child: Child, log: &Path) -> String {
    child.wait().await.expect("wait");
    std::fs::read_to_string(log).expect("read the log")
}
