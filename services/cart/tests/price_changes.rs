//! cart-service consuming `shop.product.price_changed` through a real NATS
//! server: the cart says what a line was added at; a duplicate delivery
//! changes nothing; a poison message goes to the DLQ and the next events
//! still flow.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use shop_natstemp::NatsServer;
use shop_proto::product as product_pb;

use common::{Harness, start_with};

async fn stack_on(nats: &NatsServer) -> Harness {
    start_with(&[("NATS_URL", &nats.url())]).await
}

async fn set_price(h: &mut Harness, id: &str, price: i64) {
    h.products
        .update_product(product_pb::UpdateProductRequest {
            id: id.into(),
            unit_price_minor: Some(price),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Waits until alice's line of `product` says it was added at `previous`.
async fn wait_for_previous(h: &mut Harness, product: &str, previous: Option<i64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let cart = h.get("alice").await.unwrap();
        let line = cart.items.iter().find(|l| l.product_id == product).unwrap();
        if line.previous_unit_price_minor == previous {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the line says {:?}, not {previous:?}",
            line.previous_unit_price_minor
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn jetstream(nats: &NatsServer) -> jetstream::Context {
    jetstream::new(async_nats::connect(nats.url()).await.unwrap())
}

async fn applied(h: &Harness) -> i64 {
    let pool = h.db.admin_pool().await;
    sqlx::query_scalar("SELECT count(*) FROM cart.inbox")
        .fetch_one(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_line_whose_price_changed_since_it_was_added_says_what_it_was() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut h = stack_on(&nats).await;
    let mug = h.product("MUG", 1200).await;
    h.add("alice", &mug.id, 1).await.unwrap();

    set_price(&mut h, &mug.id, 1500).await;
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
    let cart = h.get("alice").await.unwrap();
    assert_eq!(cart.items[0].unit_price_minor, 1500, "priced now");

    // Another change keeps the price it was added at.
    set_price(&mut h, &mug.id, 1400).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
    // Back at that price, the line has nothing to say.
    set_price(&mut h, &mug.id, 1200).await;
    wait_for_previous(&mut h, &mug.id, None).await;
}

#[tokio::test]
async fn a_duplicate_delivery_is_applied_once() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut h = stack_on(&nats).await;
    let mug = h.product("MUG", 1200).await;
    h.add("alice", &mug.id, 1).await.unwrap();
    set_price(&mut h, &mug.id, 1500).await;
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
    assert_eq!(applied(&h).await, 1);

    // The same event again, as a relay that lost its mark past the
    // broker's duplicate window would send it: same ce-id, new Nats-Msg-Id.
    let js = jetstream(&nats).await;
    let stream = js.get_stream("PRODUCTS").await.unwrap();
    let original = stream.get_raw_message(1).await.unwrap();
    let mut headers = original.headers.clone();
    headers.insert("Nats-Msg-Id", "a-fresh-message-id");
    js.publish_with_headers(
        original.subject.to_string(),
        headers,
        original.payload.clone(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // A later, genuine change: consumed in stream order, after the copy.
    set_price(&mut h, &mug.id, 1600).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while applied(&h).await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the later change never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applied(&h).await, 2, "the copy was applied again");
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dlq_and_later_events_still_flow() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut h = stack_on(&nats).await;
    let mug = h.product("MUG", 1200).await;
    h.add("alice", &mug.id, 1).await.unwrap();
    // Make sure the streams exist (the relay creates them once it runs).
    set_price(&mut h, &mug.id, 1300).await;
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;

    let js = jetstream(&nats).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", uuid::Uuid::new_v4().to_string().as_str());
    headers.insert("ce-type", "shop.product.price_changed");
    js.publish_with_headers(
        "shop.product.price_changed",
        headers,
        "not protobuf \u{ff}".into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    set_price(&mut h, &mug.id, 1200).await;
    wait_for_previous(&mut h, &mug.id, None).await;

    let dlq = js.get_stream("DLQ").await.unwrap();
    let dead = dlq.get_raw_message(1).await.unwrap();
    assert_eq!(dead.subject.as_str(), "shop.dlq.cart-price-changes");
    let error = dead
        .headers
        .get("shop-dlq-error")
        .unwrap()
        .as_str()
        .to_string();
    assert!(error.contains("undecodable"), "{error}");
    let mut consumer = js
        .get_stream("PRODUCTS")
        .await
        .unwrap()
        .get_consumer::<jetstream::consumer::pull::Config>("cart-price-changes")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(
        info.num_pending, 0,
        "nothing left behind the poison message"
    );
}

/// A genuine price-change event of `product` straight into the DLQ, as a
/// consumer that exhausted its deliveries leaves it.
async fn dead_price_change(js: &jetstream::Context, product: &str, previous: i64, now: i64) {
    use prost::Message as _;
    let event = shop_proto::events::PriceChanged {
        product_id: product.into(),
        previous_unit_price_minor: previous,
        unit_price_minor: now,
        currency: "USD".into(),
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", uuid::Uuid::new_v4().to_string().as_str());
    headers.insert("ce-type", "shop.product.price_changed");
    headers.insert("ce-subject", product);
    headers.insert("shop-dlq-subject", "shop.product.price_changed");
    headers.insert("shop-dlq-consumer", "cart-price-changes");
    headers.insert("shop-dlq-error", "database unavailable");
    js.publish_with_headers(
        "shop.dlq.cart-price-changes",
        headers,
        event.encode_to_vec().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

#[tokio::test]
async fn a_redriven_dead_letter_is_applied_and_leaves_the_dlq() {
    use shop_runtime::events::admin;
    let nats = NatsServer::start().await.expect("nats-server");
    let mut h = stack_on(&nats).await;
    let mug = h.product("MUG", 1200).await;
    h.add("alice", &mug.id, 1).await.unwrap();
    let js = jetstream(&nats).await;
    shop_runtime::events::connect(&nats.url(), "test")
        .await
        .unwrap();
    // The mug was 11.00 before it was 12.00, as the event says.
    dead_price_change(&js, &mug.id, 1100, 1200).await;

    let letters = admin::dead_letters(&js).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].consumer, "cart-price-changes");
    assert_eq!(letters[0].error, "database unavailable");
    assert_eq!(admin::redrive(&js, None).await.unwrap(), 1);
    wait_for_previous(&mut h, &mug.id, Some(1100)).await;
    assert!(
        admin::dead_letters(&js).await.unwrap().is_empty(),
        "still in the DLQ"
    );
}

#[tokio::test]
async fn a_replay_applies_what_is_missing_and_nothing_twice() {
    use shop_runtime::events::admin;
    let nats = NatsServer::start().await.expect("nats-server");
    let mut h = stack_on(&nats).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mug = h.product("MUG", 1200).await;
    h.add("alice", &mug.id, 1).await.unwrap();
    set_price(&mut h, &mug.id, 1500).await;
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
    let js = jetstream(&nats).await;

    // Replayed with nothing missing: nothing changes.
    admin::replay(&js, "cart-price-changes", since)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(applied(&h).await, 1, "applied twice");

    // The cart's database lost the effect and its inbox row (restored from
    // a backup): the replay brings it back, once.
    let pool = h.db.admin_pool().await;
    sqlx::raw_sql(
        "DELETE FROM cart.inbox; UPDATE cart.cart_items SET previous_unit_price_minor = NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    admin::replay(&js, "cart-price-changes", since)
        .await
        .unwrap();
    wait_for_previous(&mut h, &mug.id, Some(1200)).await;
    assert_eq!(applied(&h).await, 1);
    let status = admin::status(&js).await.unwrap();
    let products = status.iter().find(|s| s.name == "PRODUCTS").unwrap();
    assert!(
        products
            .consumers
            .iter()
            .any(|c| c.name == "cart-price-changes")
    );
}
