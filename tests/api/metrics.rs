//! The metrics endpoints of every component.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::Api;

/// Parses Prometheus exposition text into (series, value); panics on a bad line.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {line:?}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "bad labels in {line:?}");
            }
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            (series.to_string(), value)
        })
        .collect()
}

fn sum(series: &[(String, f64)], prefix: &str, needle: &str) -> f64 {
    series
        .iter()
        .filter(|(s, _)| s.starts_with(prefix) && s.contains(needle))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn every_metrics_endpoint_parses_and_its_counters_move_after_traffic() {
    let api = Api::start().await;
    let admins = [
        api.stack.gateway.admin_addr,
        api.stack.product.admin_addr,
        api.stack.cart.admin_addr,
        api.stack.order.admin_addr,
    ];
    let scrape = |addr: std::net::SocketAddr| async move {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        parse_exposition(&text)
    };
    let before = scrape(admins[0]).await;

    let admin = api.admin().await;
    let shopper = api.guest().await;
    let mug = api.product(&admin, "MUG", 100, 5).await;
    api.post(
        "/api/v1/cart/items",
        Some(&shopper),
        json!({"product_id": mug["id"], "quantity": 1}),
    )
    .await;
    assert_eq!(
        api.place(&shopper, Some("metrics")).await.status(),
        StatusCode::CREATED
    );

    for addr in admins {
        let after = scrape(addr).await;
        assert!(!after.is_empty(), "{addr} exposes metrics");
        for name in [
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "grpc_server_requests_total",
            "grpc_server_request_duration_seconds_bucket",
            "grpc_client_requests_total",
            "checkout_outcomes_total",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
        ] {
            assert!(
                after.iter().any(|(s, _)| s.starts_with(name)),
                "{addr}: missing {name}"
            );
        }
    }
    let after = scrape(admins[0]).await;
    let orders = r#"route="/api/v1/orders""#;
    assert!(
        sum(&after, "http_requests_total", orders) > sum(&before, "http_requests_total", orders)
    );
    assert!(sum(&after, "grpc_server_requests_total", "PlaceOrder") >= 1.0);
    assert!(
        sum(
            &after,
            "grpc_server_request_duration_seconds_count",
            "ReserveStock"
        ) >= 1.0
    );
    assert!(sum(&after, "checkout_outcomes_total", r#"outcome="confirmed""#) >= 1.0);
    assert!(
        after
            .iter()
            .any(|(s, _)| s.starts_with("db_pool_connections")),
        "pool gauges"
    );
    // Route templates, never raw ids.
    assert!(
        !after
            .iter()
            .any(|(s, _)| s.contains(mug["id"].as_str().unwrap())),
        "no raw ids in labels"
    );
}
