//! Faults injected live through each component's admin port (`/faults`,
//! `shop_runtime::chaos`) and `shop faults`: what a client of the REST API
//! sees while one is set, and that clearing it puts everything back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shop_testkit::{Running, TEST_FAULTS_TOKEN};

use crate::support::{Api, problem};

/// Replaces the faults of `component` with `faults`; the admin port's answer.
async fn set_faults(component: &Running, faults: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("http://{}/faults", component.admin_addr))
        .bearer_auth(TEST_FAULTS_TOKEN)
        .body(faults.to_string())
        .send()
        .await
        .expect("admin port answers")
}

/// The faults `component` lists, one per line.
async fn listed(component: &Running) -> String {
    let url = format!("http://{}/faults", component.admin_addr);
    reqwest::get(&url).await.unwrap().text().await.unwrap()
}

/// Clears the faults of `component`.
async fn clear_faults(component: &Running) {
    let response = reqwest::Client::new()
        .delete(format!("http://{}/faults", component.admin_addr))
        .bearer_auth(TEST_FAULTS_TOKEN)
        .send()
        .await
        .expect("admin port answers");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_error_fault_on_get_product_answers_503_for_that_route_only_until_cleared() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    let response = set_faults(&api.stack.product, "error unavailable on GetProduct").await;
    assert_eq!(response.status(), StatusCode::OK);

    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    problem(read, StatusCode::SERVICE_UNAVAILABLE).await;
    let list = api.get("/api/v1/products", None).await;
    assert_eq!(list.status(), StatusCode::OK, "ListProducts is not hit");

    clear_faults(&api.stack.product).await;
    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_latency_fault_delays_the_calls_it_names() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    set_faults(&api.stack.product, "latency 300ms on GetProduct").await;

    let started = Instant::now();
    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(read.status(), StatusCode::OK, "a slow call still succeeds");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_admin_port_lists_the_faults_in_force_in_their_own_words() {
    let api = Api::start().await;
    let set = set_faults(&api.stack.cart, "abort on GetCart 20%; latency 10ms..50ms").await;
    let listed = set.text().await.unwrap();
    assert_eq!(listed, "abort on GetCart 20%\nlatency 10ms..50ms\n");
    let url = format!("http://{}/faults", api.stack.cart.admin_addr);
    assert_eq!(
        reqwest::get(&url).await.unwrap().text().await.unwrap(),
        listed
    );
}

#[tokio::test]
async fn a_fault_that_does_not_parse_is_refused_with_a_400_that_says_why() {
    let api = Api::start().await;
    let response = set_faults(&api.stack.product, "latency soon").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("latency is `200ms` or `50ms..400ms`"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unready_fault_takes_the_component_and_then_the_gateway_out_of_readiness() {
    let api = Api::start().await;
    assert_eq!(api.readiness(StatusCode::OK).await, StatusCode::OK);
    set_faults(&api.stack.product, "unready").await;

    let url = format!("http://{}/readyz", api.stack.product.admin_addr);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), "unready: fault injected");
    // product-service's gRPC health follows, and the gateway follows it.
    assert_eq!(
        api.readiness(StatusCode::SERVICE_UNAVAILABLE).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    clear_faults(&api.stack.product).await;
    assert_eq!(api.readiness(StatusCode::OK).await, StatusCode::OK);
}

#[tokio::test]
async fn a_gateway_route_fault_answers_the_status_s_http_mapping_as_problem_json() {
    let api = Api::start().await;
    let token = api.guest().await;
    set_faults(&api.stack.gateway, "error internal on /api/v1/orders").await;

    let orders = api.get("/api/v1/orders", Some(&token)).await;
    let body = problem(orders, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(
        body["detail"], "internal error",
        "no detail leaks, injected or not"
    );
    let products = api.get("/api/v1/products", None).await;
    assert_eq!(products.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_abort_fault_on_the_gateway_cuts_the_connection_unanswered() {
    let api = Api::start().await;
    set_faults(&api.stack.gateway, "abort on /api/v1/products").await;

    let error = reqwest::get(format!("{}/api/v1/products", api.base))
        .await
        .expect_err("no answer comes");
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );
    let docs = api.get("/openapi.json", None).await;
    assert_eq!(docs.status(), StatusCode::OK, "other routes still answer");
}

#[tokio::test]
async fn a_fault_on_the_calls_the_gateway_makes_fails_those_calls_as_unavailable() {
    let api = Api::start().await;
    let token = api.guest().await;
    set_faults(&api.stack.gateway, "error unavailable on calls to GetCart").await;

    let cart = api.get("/api/v1/cart", Some(&token)).await;
    problem(cart, StatusCode::SERVICE_UNAVAILABLE).await;
    let products = api.get("/api/v1/products", None).await;
    assert_eq!(products.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_fault_that_hits_a_share_of_calls_fails_about_that_share() {
    let api = Api::start().await;
    set_faults(&api.stack.product, "error unavailable on ListProducts 50%").await;
    let mut failed = 0;
    for _ in 0..200 {
        if api.get("/api/v1/products", None).await.status() == StatusCode::SERVICE_UNAVAILABLE {
            failed += 1;
        }
    }
    // Binomial(200, 0.5): 70..130 holds with overwhelming probability.
    assert!((70..130).contains(&failed), "{failed} of 200 failed");
}

#[tokio::test]
async fn shop_faults_sets_lists_and_clears_a_component_s_faults() {
    let api = Api::start().await;
    let admin = format!("product-service=http://{}", api.stack.product.admin_addr);
    // Not std's blocking Command: the stack runs on this test's one thread.
    let shop = async |args: &[&str]| {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_shop"))
            .arg("faults")
            .env("FAULTS_TOKEN", TEST_FAULTS_TOKEN)
            .args(args)
            .args(["--admin", &admin, "--host", "127.0.0.254"])
            .output()
            .await
            .expect("shop runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };

    let (code, out) = shop(&["set", "product-service", "latency 5ms on GetProduct"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("latency 5ms on GetProduct"), "{out}");
    assert_eq!(
        listed(&api.stack.product).await,
        "latency 5ms on GetProduct\n"
    );

    let (code, out) = shop(&["clear", "product-service"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(listed(&api.stack.product).await, "");

    let (code, _) = shop(&["set", "payment-service", "abort"]).await;
    assert_eq!(code, Some(2), "an unknown component is refused");
}

#[tokio::test]
async fn shop_faults_schedule_turns_a_scenario_on_then_everything_off_and_ends_clear() {
    let api = Api::start().await;
    let admins: Vec<String> = [
        ("product-service", &api.stack.product),
        ("cart-service", &api.stack.cart),
        ("order-service", &api.stack.order),
        ("fulfillment-service", &api.stack.fulfillment),
        ("gateway", &api.stack.gateway),
    ]
    .iter()
    .map(|(name, running)| format!("{name}=http://{}", running.admin_addr))
    .collect();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_shop"));
    command.env("FAULTS_TOKEN", TEST_FAULTS_TOKEN);
    command.args([
        "faults",
        "schedule",
        "cart-flaky",
        "--on",
        "2",
        "--off",
        "2",
        "--duration",
        "3",
    ]);
    for admin in &admins {
        command.args(["--admin", admin]);
    }
    let child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("shop runs");

    // While it is on, cart-service holds the scenario's fault.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(listed(&api.stack.cart).await, "error unavailable 20%\n");

    let output = child.wait_with_output().await.unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{printed}");
    assert!(printed.contains("on: cart flaky 20 %"), "{printed}");
    assert!(printed.contains("every fault cleared"), "{printed}");
    assert_eq!(listed(&api.stack.cart).await, "", "the schedule ends clear");
}

#[tokio::test]
async fn a_latency_fault_on_the_calls_a_component_makes_delays_them_before_they_leave() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    set_faults(&api.stack.gateway, "latency 300ms on calls to GetProduct").await;

    let started = Instant::now();
    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(read.status(), StatusCode::OK, "the call still goes out");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_client_latency_past_the_call_s_deadline_ends_it_as_deadline_exceeded_at_the_deadline() {
    let api = Api::start_with(&[("DOWNSTREAM_TIMEOUT_MILLIS", "300")]).await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    set_faults(&api.stack.gateway, "latency 5s on calls to GetProduct").await;

    let started = Instant::now();
    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    problem(read, StatusCode::GATEWAY_TIMEOUT).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ended at the 300 ms deadline, not after the 5 s hold: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_abort_fault_on_a_grpc_server_resets_the_call_and_the_gateway_answers_503() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    set_faults(&api.stack.product, "abort on GetProduct").await;

    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    problem(read, StatusCode::SERVICE_UNAVAILABLE).await;
    let list = api.get("/api/v1/products", None).await;
    assert_eq!(
        list.status(),
        StatusCode::OK,
        "the connection serves other calls"
    );
}

#[tokio::test]
async fn a_fault_change_without_the_token_is_refused_and_changes_nothing() {
    let api = Api::start().await;
    let id = api.product_in_stock("MUG", 100, 5).await;
    let url = format!("http://{}/faults", api.stack.product.admin_addr);
    let client = reqwest::Client::new();
    for request in [
        client.put(&url).body("error unavailable on GetProduct"),
        client.post(&url).body("error unavailable on GetProduct"),
        client
            .put(&url)
            .bearer_auth("not-the-faults-token")
            .body("error unavailable on GetProduct"),
    ] {
        let response = request.send().await.expect("admin port answers");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(listed(&api.stack.product).await, "");
    let read = api.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(read.status(), StatusCode::OK, "no fault was applied");
}

#[tokio::test]
async fn a_cross_site_form_post_to_faults_is_refused() {
    let api = Api::start().await;
    let url = format!("http://{}/faults", api.stack.gateway.admin_addr);
    // What a page on another site can make a browser send: a simple form
    // POST, with the browser's Origin; with or without the token, refused.
    for token in [None, Some(TEST_FAULTS_TOKEN)] {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("abort");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("admin port answers");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token: {token:?}");
    }
    assert_eq!(listed(&api.stack.gateway).await, "");
    let answer = api.get("/api/v1/products", None).await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_component_with_fault_control_off_never_applies_a_fault_whatever_it_is_sent() {
    // The gateway without FAULTS_TOKEN: fault control off.
    let api = Api::start_with(&[("FAULTS_TOKEN", "")]).await;
    let url = format!("http://{}/faults", api.stack.gateway.admin_addr);
    let client = reqwest::Client::new();
    for request in [
        client.get(&url),
        client.put(&url).body("abort"),
        client
            .post(&url)
            .bearer_auth(TEST_FAULTS_TOKEN)
            .body("abort"),
        client.delete(&url).bearer_auth(TEST_FAULTS_TOKEN),
    ] {
        let response = request.send().await.expect("admin port answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    for _ in 0..5 {
        let answer = api.get("/api/v1/products", None).await;
        assert_eq!(answer.status(), StatusCode::OK, "no fault is applied");
    }
}
