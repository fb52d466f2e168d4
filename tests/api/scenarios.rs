//! Every named scenario of deploy/chaos/scenarios.yaml, turned on in a real
//! stack through the admin ports as `shop faults scenario` does, under a
//! short load of the request it names: the share of failures and the
//! latency it promises show, and once it is off and the saga's recovery
//! has run, the contract's invariants hold, and once the events have
//! caught up, so do the event flow's: one shipment per confirmed order,
//! every outbox drained, dead letters only where the scenario makes them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use shop_testkit::Running;

use crate::support::{Api, Stack, eventually, invariant_violations};

#[derive(Debug, Deserialize)]
struct File {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    name: String,
    faults: BTreeMap<String, String>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
struct Expect {
    request: String,
    failed_percent: [f64; 2],
    slower_than_ms: Option<u64>,
    /// The scenario leaves dead letters in the DLQ (and only then are there any).
    #[serde(default)]
    dead_letters: bool,
}

fn scenarios() -> Vec<Scenario> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/chaos/scenarios.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/chaos/scenarios.yaml");
    serde_norway::from_str::<File>(&text)
        .expect("scenarios parse")
        .scenarios
}

fn component<'a>(stack: &'a Stack, name: &str) -> &'a Running {
    match name {
        "product-service" => &stack.product,
        "cart-service" => &stack.cart,
        "order-service" => &stack.order,
        "fulfillment-service" => &stack.fulfillment,
        "gateway" => &stack.gateway,
        other => panic!("scenario names an unknown component `{other}`"),
    }
}

async fn put_faults(target: &Running, faults: Option<&str>) {
    let url = format!("http://{}/faults", target.admin_addr);
    let client = reqwest::Client::new();
    let request = match faults {
        Some(text) => client.put(url).body(text.to_string()),
        None => client.delete(url),
    };
    let response = request
        .bearer_auth(crate::support::TEST_FAULTS_TOKEN)
        .send()
        .await
        .expect("admin port answers");
    assert_eq!(response.status(), StatusCode::OK, "{faults:?}");
}

/// Sends the scenario's request a few dozen times: (failed, sent, the
/// quickest answer).
async fn load(api: &Api, request: &str) -> (usize, usize, Duration) {
    let mut quickest = Duration::MAX;
    let mut failed = 0;
    let mut sent = 0;
    match request {
        "GET /api/v1/products/{id}" => {
            let id = api.product_in_stock("MUG", 100, 5).await;
            for _ in 0..20 {
                let started = Instant::now();
                let response = api.get(&format!("/api/v1/products/{id}"), None).await;
                quickest = quickest.min(started.elapsed());
                failed += usize::from(!response.status().is_success());
                sent += 1;
            }
        }
        "GET /api/v1/cart" => {
            let token = api.guest().await;
            for _ in 0..60 {
                let response = api.get("/api/v1/cart", Some(&token)).await;
                failed += usize::from(!response.status().is_success());
                sent += 1;
            }
        }
        "POST /api/v1/orders" => {
            let id = api.product_in_stock("MUG", 100, 1_000).await;
            for i in 0..40 {
                let token = api.shopper_with(&id, 1).await;
                let response = api.place(&token, Some(&format!("key-{i}"))).await;
                let status = response.status();
                assert!(
                    status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE,
                    "a fault answers 503, nothing else: {status}"
                );
                failed += usize::from(!status.is_success());
                sent += 1;
            }
        }
        "GET /readyz" => {
            let status = api.readiness(StatusCode::SERVICE_UNAVAILABLE).await;
            failed += usize::from(status == StatusCode::SERVICE_UNAVAILABLE);
            sent += 1;
        }
        other => panic!("no load for `{other}`"),
    }
    (failed, sent, quickest)
}

/// Waits until no order is left PENDING or with work left (10 s at most).
async fn settled(api: &Api) {
    let pool = api.stack.db.admin_pool().await;
    eventually(Duration::from_secs(10), async || {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders.orders o WHERE o.status = 'PENDING' OR EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        match left {
            0 => Ok(()),
            _ => Err(format!("{left} orders unsettled after the faults were cleared")),
        }
    })
    .await
}

#[tokio::test]
async fn every_named_scenario_shows_its_promised_symptom_and_the_invariants_hold_after() {
    for scenario in scenarios() {
        // No auth limit (each checkout is a fresh guest); a recovery that
        // settles within a second of the faults being cleared.
        // Events on, through a broker of the scenario's own.
        let nats = shop_natstemp::NatsServer::start()
            .await
            .expect("nats-server");
        let nats_url = nats.url();
        let stack = Stack::start_services_with(
            &[("AUTH_RATE_LIMIT_PER_MINUTE", "0")],
            &[("NATS_URL", &nats_url)],
            &[
                ("RECOVERY_HORIZON_SECONDS", "1"),
                ("RECOVERY_INTERVAL_MILLIS", "100"),
                ("NATS_URL", &nats_url),
            ],
        )
        .await;
        let api = Api::on(stack);
        // Every component up and migrated before the scenario starts.
        assert_eq!(api.readiness(StatusCode::OK).await, StatusCode::OK);
        for (name, faults) in &scenario.faults {
            put_faults(component(&api.stack, name), Some(faults)).await;
        }

        let (failed, sent, quickest) = load(&api, &scenario.expect.request).await;

        let percent = failed as f64 * 100.0 / sent as f64;
        let [low, high] = scenario.expect.failed_percent;
        assert!(
            (low..=high).contains(&percent),
            "{}: {failed} of {sent} failed ({percent:.0} %), promised {low}..{high} %",
            scenario.name
        );
        if let Some(ms) = scenario.expect.slower_than_ms {
            assert!(
                quickest >= Duration::from_millis(ms),
                "{}: an answer came in {quickest:?}, promised no faster than {ms} ms",
                scenario.name
            );
        }
        for name in scenario.faults.keys() {
            put_faults(component(&api.stack, name), None).await;
        }
        settled(&api).await;
        let violations = invariant_violations(&api.stack.db).await;
        assert!(violations.is_empty(), "{}: {violations:?}", scenario.name);
        // The relays back off up to 5 s, a crashed event comes back after
        // the consumers' 10 s ack wait.
        let violations =
            shop_testkit::event_invariant_violations(&api.stack.db, Duration::from_secs(30)).await;
        assert!(violations.is_empty(), "{}: {violations:?}", scenario.name);
        let dead = dead_letters(&nats_url).await;
        assert_eq!(
            dead > 0,
            scenario.expect.dead_letters,
            "{}: {dead} dead letters",
            scenario.name
        );
    }
}

/// Messages in the broker's DLQ stream.
async fn dead_letters(nats_url: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.expect("nats"));
    let mut dlq = js.get_stream("DLQ").await.expect("the DLQ stream");
    dlq.info().await.expect("DLQ info").state.messages
}

#[test]
fn every_scenario_s_faults_parse_and_name_a_component() {
    for scenario in scenarios() {
        for (name, faults) in &scenario.faults {
            assert!(
                [
                    "product-service",
                    "cart-service",
                    "order-service",
                    "fulfillment-service",
                    "gateway"
                ]
                .contains(&name.as_str()),
                "{}: {name}",
                scenario.name
            );
            shop_runtime::chaos::parse_list(faults)
                .unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
        }
    }
}
