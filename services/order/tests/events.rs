//! The outbox and its relay against a real NATS server: every confirmed or
//! cancelled order's event reaches JetStream once, with its CloudEvents
//! envelope, whatever crashes on the way.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt as _;
use prost::Message as _;
use shop_natstemp::NatsServer;
use shop_proto::events;
use shop_proto::order as pb;
use shop_testkit::eventually;

use common::{Stack, start_with};

/// The stack with its relay publishing to `nats`.
async fn stack_on(nats: &NatsServer) -> Stack {
    start_with(&[("NATS_URL", &nats.url())]).await
}

/// Every message on the ORDERS stream, once it holds at least `count`.
async fn orders_stream(nats: &NatsServer, count: usize) -> Vec<jetstream::Message> {
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let (stream, stored) = eventually(Duration::from_secs(20), async || {
        let mut stream = js.get_stream("ORDERS").await.map_err(|e| e.to_string())?;
        let stored = stream.info().await.unwrap().state.messages as usize;
        match stored >= count {
            true => Ok((stream, stored)),
            false => Err(format!(
                "the ORDERS stream holds {stored} of {count} events"
            )),
        }
    })
    .await;
    let consumer = stream
        .create_consumer(pull::Config::default())
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(stored + 10)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        messages.push(message.unwrap());
    }
    messages
}

fn header(message: &jetstream::Message, name: &str) -> String {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default()
}

/// A confirmed order of alice's: 2 mugs at 1.00.
async fn confirmed_order(s: &mut Stack, key: &str) -> pb::Order {
    let mug = s.product(&format!("MUG-{key}"), 100, 10).await;
    s.add("alice", &mug, 2).await;
    s.place("alice", key).await.unwrap().into_inner()
}

async fn unpublished(s: &Stack) -> i64 {
    let pool = s.db.admin_pool().await;
    sqlx::query_scalar("SELECT count(*) FROM orders.outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap()
}

async fn wait_until_published(s: &Stack) {
    eventually(Duration::from_secs(20), async || {
        match unpublished(s).await {
            0 => Ok(()),
            n => Err(format!("{n} events unpublished")),
        }
    })
    .await
}

#[tokio::test]
async fn a_confirmed_then_cancelled_order_publishes_both_events_with_their_envelope() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack_on(&nats).await;
    let order = confirmed_order(&mut s, "k").await;
    s.orders
        .cancel_order(pb::CancelOrderRequest {
            user_id: "alice".into(),
            order_id: order.id.clone(),
        })
        .await
        .unwrap();

    let messages = orders_stream(&nats, 2).await;
    assert_eq!(messages.len(), 2, "one event each");
    let confirmed = &messages[0];
    assert_eq!(confirmed.subject.as_str(), "shop.order.confirmed");
    assert_eq!(header(confirmed, "ce-type"), "shop.order.confirmed");
    assert_eq!(header(confirmed, "ce-specversion"), "1.0");
    assert_eq!(header(confirmed, "ce-source"), "/shop/order-service");
    assert_eq!(header(confirmed, "ce-subject"), order.id);
    assert_eq!(header(confirmed, "ce-id"), header(confirmed, "Nats-Msg-Id"));
    assert!(!header(confirmed, "ce-time").is_empty());
    let body = events::OrderConfirmed::decode(confirmed.payload.clone()).unwrap();
    assert_eq!(body.order_id, order.id);
    assert_eq!(body.user_id, "alice");
    assert_eq!(body.total_minor, 200);
    assert_eq!(body.items.len(), 1);
    assert_eq!(body.items[0].quantity, 2);
    let cancelled = &messages[1];
    assert_eq!(cancelled.subject.as_str(), "shop.order.cancelled");
    let body = events::OrderCancelled::decode(cancelled.payload.clone()).unwrap();
    assert_eq!(body.order_id, order.id);
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_relay_that_published_but_never_marked_sends_again_and_the_broker_drops_the_copy() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack_on(&nats).await;
    confirmed_order(&mut s, "k").await;
    wait_until_published(&s).await;
    // As if the relay died after JetStream's acknowledgement, before its
    // mark committed: the row is unpublished again, and is sent again.
    let pool = s.db.admin_pool().await;
    sqlx::query("UPDATE orders.outbox SET published_at = NULL")
        .execute(&pool)
        .await
        .unwrap();
    wait_until_published(&s).await;
    let messages = orders_stream(&nats, 1).await;
    assert_eq!(messages.len(), 1, "the broker kept the re-sent copy");
}

#[tokio::test]
async fn checkouts_go_on_while_the_broker_is_down_and_their_events_follow_once_it_is_back() {
    let mut nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack_on(&nats).await;
    confirmed_order(&mut s, "before").await;
    wait_until_published(&s).await;

    nats.kill().await.unwrap();
    for key in ["down-1", "down-2", "down-3"] {
        let order = confirmed_order(&mut s, key).await;
        assert_eq!(order.status(), pb::OrderStatus::Confirmed, "{key}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(unpublished(&s).await, 3, "kept in the outbox meanwhile");

    nats.restart().await.unwrap();
    wait_until_published(&s).await;
    let messages = orders_stream(&nats, 4).await;
    assert_eq!(messages.len(), 4, "each order's event once");
    s.assert_invariants().await;
}
