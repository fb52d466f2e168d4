//! Client-side balancing over several real product-service instances, as
//! gRPC clients do behind a headless Kubernetes Service: calls spread over
//! every resolved address, and follow the answer when it changes.
//!
//! The instances listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3 with one port
//! (as pods share a port behind one name); a resolver the test controls
//! stands in for DNS.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as pb};
use shop_testkit::{Running, TestDb};
use tokio::net::TcpListener;

/// An instance on `ip:port` whose own database holds one product named `sku`.
async fn instance(ip: &str, port: u16, sku: &str) -> (Running, SocketAddr) {
    let db = TestDb::new().await;
    let url = db.url("product_svc");
    let config = product_service::Config::from_env(&shop_testkit::env(&[
        ("DATABASE_URL", &url),
        ("PAGE_TOKEN_SECRET", shop_testkit::TEST_PAGE_TOKEN_SECRET),
        ("SEED_DEMO_CATALOG", "false"),
        ("SHUTDOWN_GRACE_SECONDS", "1"),
    ]))
    .unwrap();
    let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let running = Running::start(move |_, admin, shutdown| {
        product_service::run(config, listener, admin, shutdown)
    })
    .await;
    let mut client = ProductServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client
        .create_product(pb::CreateProductRequest {
            sku: sku.into(),
            name: sku.into(),
            category: "test".into(),
            unit_price_minor: 100,
            currency: "USD".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    (running, addr)
}

async fn seen_backends(
    client: &mut ProductServiceClient<tonic::transport::Channel>,
    calls: usize,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..calls {
        let page = client
            .list_products(pb::ListProductsRequest::default())
            .await
            .unwrap()
            .into_inner();
        seen.insert(page.products[0].sku.clone());
    }
    seen
}

#[tokio::test]
async fn calls_spread_over_every_resolved_instance_and_follow_resolution_changes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_a, a) = instance("127.0.0.1", port, "A").await;
    let (_b, b) = instance("127.0.0.2", port, "B").await;
    let (_c, c) = instance("127.0.0.3", port, "C").await;

    let answer = Arc::new(Mutex::new(vec![a, b]));
    let resolver = answer.clone();
    let channel = shop_runtime::client::balanced("http".into(), None, move || {
        let addrs = resolver.lock().unwrap().clone();
        async move { addrs }
    });
    let mut client = ProductServiceClient::new(channel);

    let two = seen_backends(&mut client, 40).await;
    assert_eq!(two, BTreeSet::from(["A".into(), "B".into()]));

    // A pod joins and one leaves: the next refresh picks it up.
    *answer.lock().unwrap() = vec![b, c];
    tokio::time::sleep(shop_runtime::client::DNS_REFRESH + Duration::from_millis(500)).await;
    let moved = seen_backends(&mut client, 40).await;
    assert_eq!(moved, BTreeSet::from(["B".into(), "C".into()]));
}

#[tokio::test]
async fn a_name_is_resolved_through_dns() {
    let db = TestDb::new().await;
    let service = product_service::test_util::spawn_product(&db, &[]).await;
    let url = format!("http://localhost:{}", service.addr.port());
    let channel = shop_runtime::client::channel(
        "PRODUCT_SERVICE_ADDR",
        &url,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let mut client = ProductServiceClient::new(channel);
    // The first resolution races the first call: allow a moment.
    let mut answered = false;
    for _ in 0..50 {
        if client
            .list_products(pb::ListProductsRequest::default())
            .await
            .is_ok()
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "a balanced channel over `localhost` reaches the service"
    );
}
