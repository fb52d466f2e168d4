//! The gateway binary, run as its own process, counts every request from its
//! start: the Prometheus recorder is installed before the first request, not
//! by the first scrape.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A loopback address of this test's own, so the design ports are free.
const HOST: &str = "127.0.0.82";

fn gateway() -> Child {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .env("LISTEN_ADDR", format!("{HOST}:8080"))
        .env("ADMIN_ADDR", format!("{HOST}:8081"))
        .env("PRODUCT_SERVICE_ADDR", format!("http://{HOST}:50051"))
        .env("CART_SERVICE_ADDR", format!("http://{HOST}:50052"))
        .env("ORDER_SERVICE_ADDR", format!("http://{HOST}:50053"))
        .env("AUTH_SECRET", shop_testkit::TEST_AUTH_SECRET)
        .env("ADMIN_PASSWORD", shop_testkit::TEST_ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .env("SHUTDOWN_GRACE_SECONDS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the gateway binary")
}

#[tokio::test]
async fn requests_before_the_first_scrape_are_counted_and_timed() {
    let _gateway = gateway();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let base = format!("http://{HOST}:8080");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Wait on the main port only: the admin port is not touched before the scrape.
    loop {
        match client.get(format!("{base}/no-such-page")).send().await {
            Ok(response) => {
                assert_eq!(response.status(), 404);
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("gateway not up after 30 s: {e}"),
        }
    }
    for _ in 0..3 {
        // A malformed id is refused by the gateway itself: no backend needed.
        let response = client
            .get(format!("{base}/api/v1/products/not-a-uuid"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400);
    }

    let metrics = client
        .get(format!("http://{HOST}:8081/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    let counter = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(r#"route="/api/v1/products/{id}""#)
                && l.contains(r#"status="400""#)
        })
        .unwrap_or_else(|| panic!("no request counter for the product route:\n{metrics}"));
    assert!(counter.ends_with(" 3"), "three requests counted: {counter}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_requests_total{")
                && l.contains(r#"route="unmatched""#)
                && l.contains(r#"status="404""#)),
        "the very first request is counted:\n{metrics}"
    );
    let histogram_count = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_request_duration_seconds_count{")
                && l.contains(r#"route="/api/v1/products/{id}""#)
        })
        .unwrap_or_else(|| panic!("no duration histogram for the product route:\n{metrics}"));
    assert!(histogram_count.ends_with(" 3"), "{histogram_count}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{"),
        "a histogram, with buckets:\n{metrics}"
    );
}
