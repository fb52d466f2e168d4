//! The metrics endpoints of every component.

use std::net::SocketAddr;

use reqwest::StatusCode;

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

/// The sum of the values of the series named `prefix…` whose text contains `needle`.
fn sum(series: &[(String, f64)], prefix: &str, needle: &str) -> f64 {
    series
        .iter()
        .filter(|(s, _)| s.starts_with(prefix) && s.contains(needle))
        .map(|(_, v)| v)
        .sum()
}

/// The parsed `/metrics` of the component whose admin listener is `addr`.
async fn scrape(addr: SocketAddr) -> Vec<(String, f64)> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_exposition(&text)
}

/// The admin listeners of the gateway, product, cart and order components.
fn admin_addrs(api: &Api) -> [SocketAddr; 4] {
    [
        api.stack.gateway.admin_addr,
        api.stack.product.admin_addr,
        api.stack.cart.admin_addr,
        api.stack.order.admin_addr,
    ]
}

/// One confirmed checkout of a mug; the mug's id.
async fn checkout(api: &Api) -> String {
    let mug = api.product_in_stock("MUG", 100, 5).await;
    let shopper = api.shopper_with(&mug, 1).await;
    assert_eq!(
        api.place(&shopper, Some("metrics")).await.status(),
        StatusCode::CREATED
    );
    mug
}

/// The stack, the gateway's metrics before and after one [`checkout`], and the mug's id.
///
/// The recorder is process-wide, so other tests' traffic moves the counters
/// too: the tests compare before with after rather than with zero.
async fn around_a_checkout() -> (Api, Vec<(String, f64)>, Vec<(String, f64)>, String) {
    let api = Api::start().await;
    let gateway = api.stack.gateway.admin_addr;
    let before = scrape(gateway).await;
    let mug = checkout(&api).await;
    let after = scrape(gateway).await;
    (api, before, after, mug)
}

#[tokio::test]
async fn every_component_exposes_metrics_in_the_prometheus_text_format() {
    let api = Api::start().await;
    checkout(&api).await;
    for addr in admin_addrs(&api) {
        let metrics = scrape(addr).await;
        assert!(!metrics.is_empty(), "{addr} exposes metrics");
    }
}

#[tokio::test]
async fn every_component_exposes_the_http_grpc_checkout_and_process_metrics() {
    let api = Api::start().await;
    checkout(&api).await;
    for addr in admin_addrs(&api) {
        let metrics = scrape(addr).await;
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
                metrics.iter().any(|(s, _)| s.starts_with(name)),
                "{addr}: missing {name}"
            );
        }
    }
}

#[tokio::test]
async fn a_request_counts_under_its_route_in_http_requests_total() {
    let (_api, before, after, _) = around_a_checkout().await;
    let orders = r#"route="/api/v1/orders""#;
    assert!(
        sum(&after, "http_requests_total", orders) > sum(&before, "http_requests_total", orders)
    );
}

#[tokio::test]
async fn a_checkout_counts_its_place_order_call_in_grpc_server_requests_total() {
    let (_api, before, after, _) = around_a_checkout().await;
    let counted = |series| sum(series, "grpc_server_requests_total", "PlaceOrder");
    assert!(counted(&after) >= 1.0);
    assert!(counted(&after) > counted(&before));
}

#[tokio::test]
async fn a_checkout_times_its_reserve_stock_call_in_grpc_server_request_duration_seconds() {
    let (_api, before, after, _) = around_a_checkout().await;
    let timed = |series| {
        sum(
            series,
            "grpc_server_request_duration_seconds_count",
            "ReserveStock",
        )
    };
    assert!(timed(&after) >= 1.0);
    assert!(timed(&after) > timed(&before));
}

#[tokio::test]
async fn a_confirmed_checkout_counts_as_a_confirmed_outcome() {
    let (_api, before, after, _) = around_a_checkout().await;
    let confirmed = |series| sum(series, "checkout_outcomes_total", r#"outcome="confirmed""#);
    assert!(confirmed(&after) >= 1.0);
    assert!(confirmed(&after) > confirmed(&before));
}

#[tokio::test]
async fn the_database_pools_are_gauged() {
    // A service's admin port gauges its pool as it is scraped (the gateway
    // has none).
    let (api, _, _, _) = around_a_checkout().await;
    let order = scrape(api.stack.order.admin_addr).await;
    assert!(
        order
            .iter()
            .any(|(s, _)| s.starts_with("db_pool_connections")
                && s.contains(r#"service="order-service""#)),
        "pool gauges"
    );
}

#[tokio::test]
async fn labels_carry_route_templates_never_raw_ids() {
    let (_api, _, after, mug) = around_a_checkout().await;
    assert!(
        !after.iter().any(|(s, _)| s.contains(mug.as_str())),
        "no raw ids in labels"
    );
}
