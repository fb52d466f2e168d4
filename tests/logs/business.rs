//! The four components as processes: each business event logged once,
//! with the order number and the trace id through every service.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shop_topology::Component;
use tokio::process::{Child, Command};

use crate::support::own_process_env;
use crate::*;

/// A process's environment besides `PATH`.
type ProcessEnv = Vec<(&'static str, String)>;

/// One `shop serve` process of the stack, its output in `log`.
fn serve(component: &str, log: &Path, env: &[(&str, String)]) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["serve", component])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log handle"))
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shop serve")
}

/// Waits until `readyz` answers 200; panics with the log's end if the
/// process exits or 20 s pass.
async fn wait_ready(client: &reqwest::Client, readyz: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(readyz).send().await
            && response.status().is_success()
        {
            return;
        }
        let exited = child.try_wait().expect("try_wait");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(exited.is_none(), "{readyz}: exited {exited:?}:\n{text}");
        assert!(Instant::now() < deadline, "{readyz}: not ready:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_events_are_logged_once_with_order_number_and_the_trace_id_through_every_service()
{
    // Arrange: PostgreSQL, then the four components as processes, export
    // off, JSON logs at info. product and cart also log their SQL
    // statements (debug, inside the request's spans): at info nothing else
    // there runs inside a checkout, and those lines show the trace id
    // arrived.
    const CHECKOUT: &str = "0af7651916cd43dd8448eb211c80319c";
    const CANCEL: &str = "5b8efff798038103d269b633813fc60c";
    const RESTOCK: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const BROWSE: &str = "a3ce929d0e0e47364bf92f3577b34da6";
    let started = Instant::now();
    let pg = shop_pgtemp::PgServer::start().await.expect("PostgreSQL");
    let shop_admin = pg.create_database("shop").await.expect("database");
    shop_pgtemp::bootstrap(&shop_admin)
        .await
        .expect("bootstrap");
    let dir = std::env::temp_dir().join(format!("shop-business-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log directory");
    let specs: Vec<(Component, ProcessEnv)> = Component::ALL
        .into_iter()
        .map(|component| {
            let mut env = own_process_env(component, STACK_HOST, |role| pg.url(role, "shop"));
            env.extend([
                (
                    "PAGE_TOKEN_SECRET",
                    "logs-test-page-token-key-long-enough".into(),
                ),
                ("SHUTDOWN_GRACE_SECONDS", "1".into()),
                ("LOG_FORMAT", "json".into()),
            ]);
            // The SQL debug lines of the services that answer shoppers'
            // reads are the ones the test looks for.
            let rust_log = if matches!(component, Component::Product | Component::Cart) {
                "info,sqlx::query=debug"
            } else {
                "info"
            };
            env.push(("RUST_LOG", rust_log.into()));
            if component == Component::Gateway {
                env.push(("AUTH_SECRET", "logs-test-signing-key-of-32-bytes!!".into()));
                env.push(("ADMIN_PASSWORD", "logs-test-admin-password".into()));
            }
            (component, env)
        })
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut processes = Vec::new();
    for (component, env) in &specs {
        let spec = component.spec();
        let log = dir.join(format!("{}.log", spec.short));
        let mut child = serve(spec.short, &log, env);
        let readyz = format!("http://{STACK_HOST}:{}/readyz", spec.admin_port);
        wait_ready(&client, &readyz, &mut child, &log).await;
        processes.push((spec.short, child, log));
    }
    let base = format!("http://{STACK_HOST}:8080");
    let answer = |request: reqwest::RequestBuilder, trace_id: Option<&str>| {
        let request = match trace_id {
            Some(id) => request.header("traceparent", traceparent(id)),
            None => request,
        };
        async move {
            let response = request.send().await.expect("an answer");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, login) = answer(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": "logs-test-admin-password"})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let admin = login["token"].as_str().expect("admin token").to_string();
    let (status, product) = answer(
        client
            .post(format!("{base}/api/v1/products"))
            .bearer_auth(&admin)
            .json(&json!({
                "sku": "LOG-MUG", "name": "Mug", "description": "a mug", "category": "kitchen",
                "unit_price_cents": 1200, "currency": "USD", "available": 0
            })),
        None,
    )
    .await;
    assert_eq!(status, 201, "{product}");
    let product_id = product["id"].as_str().expect("product id").to_string();
    let (guest_status, guest) =
        answer(client.post(format!("{base}/api/v1/auth/guest")), None).await;
    assert_eq!(guest_status, 201, "{guest}");
    let shopper = guest["token"].as_str().expect("guest token").to_string();

    // Act: a restock, a plain read, a checkout and a cancel, each with a
    // trace of its own; then a second checkout with no trace context.
    let (status, body) = answer(
        client
            .post(format!("{base}/api/v1/products/{product_id}/stock"))
            .bearer_auth(&admin)
            .json(&json!({"delta": 10})),
        Some(RESTOCK),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = answer(
        client.get(format!("{base}/api/v1/products/{product_id}")),
        Some(BROWSE),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let add = || {
        client
            .post(format!("{base}/api/v1/cart/items"))
            .bearer_auth(&shopper)
            .json(&json!({"product_id": product_id, "quantity": 2}))
    };
    let (status, body) = answer(add(), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, order) = answer(
        client
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&shopper)
            .header("idempotency-key", "logs-test-1"),
        Some(CHECKOUT),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    let number = order["number"].as_str().expect("order number").to_string();
    let id = order["id"].as_str().expect("order id");
    let (status, body) = answer(
        client
            .post(format!("{base}/api/v1/orders/{id}/cancel"))
            .bearer_auth(&shopper),
        Some(CANCEL),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = answer(add(), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, second) = answer(
        client
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&shopper)
            .header("idempotency-key", "logs-test-2"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second_number = second["number"].as_str().expect("order number").to_string();

    let mut logs = std::collections::HashMap::new();
    for (component, process, log) in processes {
        let text = stop(process, &log).await;
        logs.insert(component, json_lines(&text));
    }
    drop(pg);

    // Assert: each business event once, with its order number and the
    // trace id of the request that caused it.
    let event = |component: &str, message: &str| -> Vec<Value> {
        logs[component]
            .iter()
            .filter(|line| line["message"] == message)
            .cloned()
            .collect()
    };
    let once = |component: &str, message: &str, number: &str| -> Value {
        let lines: Vec<Value> = event(component, message)
            .into_iter()
            .filter(|line| line["order_number"] == number)
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{message} {number} in {component}: {lines:?}"
        );
        assert_eq!(lines[0]["level"], "INFO", "{}", lines[0]);
        lines[0].clone()
    };
    let placed = once("order", "order placed", &number);
    assert_eq!(placed["trace_id"], CHECKOUT, "{placed}");
    let confirmed = once("order", "order confirmed", &number);
    assert_eq!(confirmed["trace_id"], CHECKOUT, "{confirmed}");
    let cancelled = once("order", "order cancelled", &number);
    assert_eq!(cancelled["trace_id"], CANCEL, "{cancelled}");
    assert_eq!(event("order", "order placed").len(), 2, "two checkouts");
    assert_eq!(event("order", "order confirmed").len(), 2, "two checkouts");
    assert_eq!(event("order", "order cancelled").len(), 1, "one cancel");
    for line in [&placed, &confirmed, &cancelled] {
        let span_id = line["span_id"].as_str().unwrap_or_default();
        assert!(
            span_id.len() == 16 && span_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "a line in a trace names its span: {line}"
        );
    }
    let adjusted = event("product", "stock adjusted");
    assert_eq!(adjusted.len(), 1, "{adjusted:?}");
    assert_eq!(adjusted[0]["trace_id"], RESTOCK, "{}", adjusted[0]);
    assert_eq!(adjusted[0]["level"], "INFO");
    assert_eq!(adjusted[0]["delta"], 10);

    // The checkout's trace reached cart-service and product-service: their
    // statements (reading the cart, reserving the stock) ran in it.
    for component in ["cart", "product"] {
        assert!(
            logs[component]
                .iter()
                .any(|line| line["trace_id"] == CHECKOUT),
            "no {component} line in the checkout's trace"
        );
    }
    // With no trace context from the client, the gateway starts a trace,
    // and the order's lines and the services it called share it.
    let second_placed = once("order", "order placed", &second_number);
    let made = second_placed["trace_id"].as_str().expect("a trace id");
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()) && made != "0".repeat(32),
        "{second_placed}"
    );
    assert!(![CHECKOUT, CANCEL, RESTOCK, BROWSE].contains(&made));
    assert_eq!(
        once("order", "order confirmed", &second_number)["trace_id"],
        made
    );
    for component in ["cart", "product"] {
        assert!(
            logs[component].iter().any(|line| line["trace_id"] == made),
            "no {component} line in the gateway-made trace {made}"
        );
    }

    // No access log: a plain read logs nothing at info anywhere, and every
    // info line inside a request is a business event.
    let business = [
        "order placed",
        "order confirmed",
        "order cancelled",
        "stock adjusted",
    ];
    for (component, lines) in &logs {
        for line in lines.iter().filter(|line| line["level"] == "INFO") {
            assert_ne!(
                line["trace_id"], BROWSE,
                "{component} logged a read: {line}"
            );
            if line.get("trace_id").is_some() {
                let message = line["message"].as_str().unwrap_or_default();
                assert!(
                    business.contains(&message),
                    "{component}: an info line per request: {line}"
                );
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
