//! fulfillment-service against the real services and a real NATS server:
//! a confirmed order gets one shipment that ships, a cancel stops it,
//! arrival order never matters, and the event invariants hold once drained.

use std::time::Duration;

use shop_natstemp::NatsServer;
use shop_proto::cart::AddItemRequest;
use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::fulfillment::fulfillment_service_client::FulfillmentServiceClient;
use shop_proto::fulfillment::{self as pb, ShipmentStatus};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as order_pb};
use shop_proto::product::CreateProductRequest;
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_testkit::{Running, TestDb, eventually};
use tonic::transport::Channel;

struct Stack {
    db: TestDb,
    /// product, cart, order, fulfillment.
    services: Vec<Running>,
    products: ProductServiceClient<Channel>,
    carts: CartServiceClient<Channel>,
    orders: OrderServiceClient<Channel>,
    shipments: FulfillmentServiceClient<Channel>,
}

/// Every service, with events through `nats`; shipments ship after `ship_after` s.
async fn stack(nats: &NatsServer, ship_after: &str) -> Stack {
    stack_with(nats, &[("SHIP_AFTER_SECONDS", ship_after)]).await
}

/// Every service, with events through `nats`; `fulfillment_vars` add to
/// fulfillment-service's variables.
async fn stack_with(nats: &NatsServer, fulfillment_vars: &[(&str, &str)]) -> Stack {
    let url = nats.url();
    let events = [("NATS_URL", url.as_str())];
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &events).await;
    let cart = cart_service::test_util::spawn_cart(&db, &product, &events).await;
    let order = order_service::test_util::spawn_order(&db, &cart, &product, &events).await;
    let mut vars = vec![("NATS_URL", url.as_str())];
    vars.extend_from_slice(fulfillment_vars);
    let fulfillment = fulfillment_service::test_util::spawn_fulfillment(&db, &vars).await;
    Stack {
        products: ProductServiceClient::connect(product.url()).await.unwrap(),
        carts: CartServiceClient::connect(cart.url()).await.unwrap(),
        orders: OrderServiceClient::connect(order.url()).await.unwrap(),
        shipments: FulfillmentServiceClient::connect(fulfillment.url())
            .await
            .unwrap(),
        db,
        services: vec![product, cart, order, fulfillment],
    }
}

impl Stack {
    /// A confirmed order of `user`'s: one mug.
    async fn order(&mut self, user: &str) -> order_pb::Order {
        let sku = format!("MUG-{}", uuid::Uuid::new_v4().simple());
        let mug = self
            .products
            .create_product(CreateProductRequest {
                sku,
                name: "Mug".into(),
                description: String::new(),
                category: "test".into(),
                image_url: String::new(),
                unit_price_minor: 100,
                currency: "USD".into(),
                initial_stock: 10,
            })
            .await
            .unwrap()
            .into_inner();
        self.carts
            .add_item(AddItemRequest {
                user_id: user.into(),
                product_id: mug.id,
                quantity: 1,
            })
            .await
            .unwrap();
        self.orders
            .place_order(order_pb::PlaceOrderRequest {
                user_id: user.into(),
                idempotency_key: uuid::Uuid::new_v4().to_string(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn shipment(&mut self, user: &str, order: &str) -> Result<pb::Shipment, tonic::Status> {
        self.shipments
            .get_shipment(pb::GetShipmentRequest {
                user_id: user.into(),
                order_id: order.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Waits until `order`'s shipment is `status`.
    async fn wait_for(&mut self, order: &order_pb::Order, status: ShipmentStatus) -> pb::Shipment {
        eventually(Duration::from_secs(20), async || {
            match self.shipment(&order.user_id, &order.id).await {
                Ok(shipment) if shipment.status() == status => Ok(shipment),
                seen => Err(format!("want {status:?}, have {seen:?}")),
            }
        })
        .await
    }

    async fn cancel(&mut self, order: &order_pb::Order) -> Result<order_pb::Order, tonic::Status> {
        self.orders
            .cancel_order(order_pb::CancelOrderRequest {
                user_id: order.user_id.clone(),
                order_id: order.id.clone(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The event invariants, once every outbox drained (bounded wait).
    async fn assert_event_invariants(&self) {
        let violations =
            shop_testkit::event_invariant_violations(&self.db, Duration::from_secs(20)).await;
        assert!(violations.is_empty(), "{violations:?}");
    }
}

#[tokio::test]
async fn a_confirmed_order_gets_one_shipment_that_ships_and_then_cannot_be_cancelled() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "1").await;
    let order = s.order("alice").await;

    let preparing = s.wait_for(&order, ShipmentStatus::Preparing).await;
    assert!(
        preparing.tracking_number.starts_with("SHP"),
        "{preparing:?}"
    );
    let shipped = s.wait_for(&order, ShipmentStatus::Shipped).await;
    assert_eq!(shipped.tracking_number, preparing.tracking_number);

    // order-service hears of it, and refuses the cancel from then on.
    eventually(Duration::from_secs(20), async || {
        let seen = s
            .orders
            .get_order(order_pb::GetOrderRequest {
                user_id: "alice".into(),
                order_id: order.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        match seen.fulfillment_status.as_str() {
            "SHIPPED" => Ok(()),
            other => Err(format!("the order's fulfillment status is {other:?}")),
        }
    })
    .await;
    let refused = s.cancel(&order).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(refused.message().contains("shipped"), "{refused:?}");
    s.assert_event_invariants().await;

    // The freshness SLO reads the event latency as a histogram.
    let metrics = reqwest::get(format!("http://{}/metrics", s.services[3].admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // (Other tests in this process may have counted theirs too.)
    let within_5s: f64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"event_latency_seconds_bucket{consumer="fulfillment-orders",le="5"} "#,
            )
        })
        .unwrap_or_else(|| panic!("no 5 s bucket in {metrics}"))
        .parse()
        .unwrap();
    assert!(within_5s >= 1.0, "{metrics}");
}

#[tokio::test]
async fn a_cancel_before_shipping_cancels_the_shipment() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "3600").await;
    let order = s.order("alice").await;
    s.wait_for(&order, ShipmentStatus::Preparing).await;
    s.cancel(&order).await.unwrap();
    s.wait_for(&order, ShipmentStatus::Cancelled).await;
    s.assert_event_invariants().await;
}

#[tokio::test]
async fn a_shipment_is_the_caller_s_own_and_not_found_until_it_exists() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "3600").await;
    let order = s.order("alice").await;
    s.wait_for(&order, ShipmentStatus::Preparing).await;
    let other = s.shipment("mallory", &order.id).await.unwrap_err();
    assert_eq!(other.code(), tonic::Code::NotFound);
    let unknown = s
        .shipment("alice", &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let malformed = s.shipment("alice", "nope").await.unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_cancel_that_arrives_before_its_confirm_still_cancels_the_shipment() {
    use prost::Message as _;
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "3600").await;
    let js = order_events(&nats).await;
    let order_id = uuid::Uuid::new_v4().to_string();
    let publish = |subject: &'static str, payload: Vec<u8>| {
        publish_event(&js, subject, &order_id, uuid::Uuid::new_v4(), payload)
    };
    let cancelled = shop_proto::events::OrderCancelled {
        order_id: order_id.clone(),
        user_id: "alice".into(),
    };
    publish("shop.order.cancelled", cancelled.encode_to_vec()).await;
    publish("shop.order.confirmed", confirmed(&order_id)).await;

    let shipment = eventually(Duration::from_secs(20), async || {
        s.shipment("alice", &order_id).await
    })
    .await;
    assert_eq!(shipment.status(), ShipmentStatus::Cancelled, "{shipment:?}");
}

/// A JetStream context on `nats`, its streams made.
async fn order_events(nats: &NatsServer) -> async_nats::jetstream::Context {
    shop_runtime::events::connect(&nats.url(), "test")
        .await
        .unwrap();
    async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap())
}

/// Publishes an order event as order-service's relay would (without its
/// `Nats-Msg-Id`, so a second copy is stored too) and awaits the ack.
async fn publish_event(
    js: &async_nats::jetstream::Context,
    subject: &str,
    order_id: &str,
    event_id: uuid::Uuid,
    payload: Vec<u8>,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", event_id.to_string().as_str());
    headers.insert("ce-type", subject);
    headers.insert("ce-subject", order_id);
    js.publish_with_headers(subject.to_string(), headers, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// `shop.order.confirmed` of `order_id` for alice.
fn confirmed(order_id: &str) -> Vec<u8> {
    use prost::Message as _;
    shop_proto::events::OrderConfirmed {
        order_id: order_id.into(),
        user_id: "alice".into(),
        number: "SO-999999".into(),
        items: vec![],
        total_minor: 100,
        currency: "USD".into(),
    }
    .encode_to_vec()
}

/// Waits until fulfillment-service holds `count` shipments and the broker
/// has every message of its consumer acknowledged.
async fn wait_for_shipments(s: &Stack, nats: &NatsServer, count: i64) {
    let pool = s.db.admin_pool().await;
    eventually(Duration::from_secs(30), async || {
        let made: i64 = match sqlx::query_scalar("SELECT count(*) FROM fulfillment.shipments")
            .fetch_one(&pool)
            .await
        {
            Ok(made) => made,
            // The service has not run its migrations yet.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => 0,
            Err(e) => panic!("{e}"),
        };
        if made != count {
            return Err(format!("{made} of {count} shipments"));
        }
        // The consumer exists once a shipment was made from its message.
        match consumer_state(nats).await.0 {
            0 => Ok(()),
            pending => Err(format!("{pending} messages unacknowledged")),
        }
    })
    .await
}

#[tokio::test]
async fn events_waiting_together_are_applied_in_fewer_transactions_each_once() {
    let nats = NatsServer::start().await.expect("nats-server");
    let js = order_events(&nats).await;
    // Ten confirms and a second copy of the first wait in the stream
    // before fulfillment-service starts: its consumer receives them at once.
    let first = uuid::Uuid::new_v4();
    let first_order = uuid::Uuid::new_v4().to_string();
    publish_event(
        &js,
        "shop.order.confirmed",
        &first_order,
        first,
        confirmed(&first_order),
    )
    .await;
    for _ in 1..10 {
        let order = uuid::Uuid::new_v4().to_string();
        publish_event(
            &js,
            "shop.order.confirmed",
            &order,
            uuid::Uuid::new_v4(),
            confirmed(&order),
        )
        .await;
    }
    publish_event(
        &js,
        "shop.order.confirmed",
        &first_order,
        first,
        confirmed(&first_order),
    )
    .await;

    let s = stack(&nats, "3600").await;
    wait_for_shipments(&s, &nats, 10).await;
    // Rows one transaction inserted share its id (xmin).
    let (inbox, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM fulfillment.inbox")
            .fetch_one(&s.db.admin_pool().await)
            .await
            .unwrap();
    assert_eq!(inbox, 10, "each event recorded once, the copy dropped");
    assert!(
        transactions < 10,
        "{transactions} transactions for 10 events waiting together"
    );
}

#[tokio::test]
async fn a_batch_with_a_cancel_in_it_cancels_that_order_and_prepares_the_other() {
    use prost::Message as _;
    let nats = NatsServer::start().await.expect("nats-server");
    let js = order_events(&nats).await;
    // Waiting together: A cancelled before its confirm, then B confirmed.
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let cancelled = shop_proto::events::OrderCancelled {
        order_id: a.clone(),
        user_id: "alice".into(),
    };
    publish_event(
        &js,
        "shop.order.cancelled",
        &a,
        uuid::Uuid::new_v4(),
        cancelled.encode_to_vec(),
    )
    .await;
    publish_event(
        &js,
        "shop.order.confirmed",
        &a,
        uuid::Uuid::new_v4(),
        confirmed(&a),
    )
    .await;
    publish_event(
        &js,
        "shop.order.confirmed",
        &b,
        uuid::Uuid::new_v4(),
        confirmed(&b),
    )
    .await;

    let mut s = stack(&nats, "3600").await;
    wait_for_shipments(&s, &nats, 2).await;
    let status = |shipment: pb::Shipment| shipment.status();
    assert_eq!(
        status(s.shipment("alice", &a).await.unwrap()),
        ShipmentStatus::Cancelled
    );
    assert_eq!(
        status(s.shipment("alice", &b).await.unwrap()),
        ShipmentStatus::Preparing
    );
}

#[tokio::test]
async fn orders_shipped_together_are_each_marked_shipped() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "1").await;
    let mut orders = Vec::new();
    for i in 0..6 {
        orders.push(s.order(&format!("shopper-{i}")).await.id);
    }
    // They ship within one run of the shipper or two, their events go
    // out in one relay batch or two, and order-service applies them so.
    let pool = s.db.admin_pool().await;
    eventually(Duration::from_secs(30), async || {
        let shipped: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders.orders WHERE fulfillment_status = 'SHIPPED'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if shipped == orders.len() as i64 {
            return Ok(());
        }
        Err(format!(
            "{shipped} of {} orders marked shipped",
            orders.len()
        ))
    })
    .await;
    s.assert_event_invariants().await;
}

#[tokio::test]
async fn a_failing_event_among_others_waiting_is_dead_lettered_alone() {
    let nats = NatsServer::start().await.expect("nats-server");
    let js = order_events(&nats).await;
    for i in 0..11 {
        // The sixth names no order its handler can read.
        let order = if i == 5 {
            "nope".to_string()
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        publish_event(
            &js,
            "shop.order.confirmed",
            &order,
            uuid::Uuid::new_v4(),
            confirmed(&order),
        )
        .await;
    }

    let s = stack(&nats, "3600").await;
    wait_for_shipments(&s, &nats, 10).await;
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM fulfillment.inbox")
        .fetch_one(&s.db.admin_pool().await)
        .await
        .unwrap();
    assert_eq!(inbox, 10, "the ten others applied, once each");
    let dlq = js.get_stream("DLQ").await.unwrap();
    let dead = dlq.get_raw_message(1).await.unwrap();
    assert_eq!(dead.subject.as_str(), "shop.dlq.fulfillment-orders");
    let error = dead.headers.get("shop-dlq-error").unwrap().as_str();
    assert!(error.contains("\"nope\" is no UUID"), "{error}");
    assert!(
        dlq.get_raw_message(2).await.is_err(),
        "only the failing event is dead-lettered"
    );
}

/// The fulfillment consumer as the broker sees it: (delivered but not yet
/// acknowledged, deliveries so far, redeliveries included).
async fn consumer_state(nats: &NatsServer) -> (usize, usize) {
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("ORDERS")
        .await
        .unwrap()
        .get_consumer("fulfillment-orders")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    (
        info.num_ack_pending,
        info.delivered.consumer_sequence as usize,
    )
}

/// Waits until the broker has the fulfillment consumer's every message
/// acknowledged, and says how many deliveries that took.
async fn deliveries_once_all_acknowledged(nats: &NatsServer) -> usize {
    eventually(Duration::from_secs(30), async || {
        match consumer_state(nats).await {
            (0, deliveries) => Ok(deliveries),
            (pending, _) => Err(format!("{pending} unacknowledged")),
        }
    })
    .await
}

#[tokio::test]
async fn a_consumer_killed_after_its_commit_but_before_its_ack_is_redelivered_and_ships_once() {
    let nats = NatsServer::start().await.expect("nats-server");
    // Every fresh event: committed, then the consumer dies unacknowledged.
    let mut s = stack_with(
        &nats,
        &[
            ("SHIP_AFTER_SECONDS", "3600"),
            ("FAULTS", "crash after event-committed"),
        ],
    )
    .await;
    let order = s.order("alice").await;
    s.wait_for(&order, ShipmentStatus::Preparing).await;
    assert_eq!(
        consumer_state(&nats).await.0,
        1,
        "the commit was never acknowledged"
    );
    // After the broker's ack wait the message comes again; the inbox drops it.
    assert_eq!(
        deliveries_once_all_acknowledged(&nats).await,
        2,
        "one event, delivered twice"
    );
    s.assert_event_invariants().await;
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM fulfillment.inbox")
        .fetch_one(&s.db.admin_pool().await)
        .await
        .unwrap();
    assert_eq!(inbox, 1, "one event, recorded once");
}

#[tokio::test]
async fn a_consumer_killed_before_its_commit_applies_the_event_once_when_delivered_again() {
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack_with(
        &nats,
        &[
            ("SHIP_AFTER_SECONDS", "3600"),
            ("FAULTS", "crash after event-handled"),
        ],
    )
    .await;
    let order = s.order("alice").await;
    // Handled, rolled back with the dying consumer: nothing to see. (Only
    // this test crashes a consumer at this step, so the process-wide
    // counter is its own.)
    let fulfillment_admin = s.services[3].admin_addr;
    eventually(Duration::from_secs(10), async || {
        let metrics = reqwest::get(format!("http://{fulfillment_admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| {
            l.starts_with("event_consumer_crashes_total{") && l.contains(r#"step="event-handled""#)
        }) {
            return Ok(());
        }
        Err("no crash after event-handled counted")
    })
    .await;
    assert_eq!(
        consumer_state(&nats).await.0,
        1,
        "delivered, never acknowledged"
    );
    let none = s.shipment(&order.user_id, &order.id).await.unwrap_err();
    assert_eq!(
        none.code(),
        tonic::Code::NotFound,
        "the rolled-back shipment is gone"
    );
    // The consumer comes back whole; the broker delivers the event again.
    let fulfillment = &s.services[3];
    let cleared = reqwest::Client::new()
        .delete(format!("http://{}/faults", fulfillment.admin_addr))
        .bearer_auth(shop_testkit::TEST_FAULTS_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    s.wait_for(&order, ShipmentStatus::Preparing).await;
    assert!(deliveries_once_all_acknowledged(&nats).await >= 2);
    s.assert_event_invariants().await;
}

#[tokio::test]
async fn the_broker_killed_mid_stream_and_restarted_leaves_one_shipment_per_order() {
    let mut nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "3600").await;
    // Orders keep coming while the broker is SIGKILLed and brought back on
    // its store: some events were in flight, some waited in the outbox.
    for i in 0..18 {
        s.order(&format!("shopper-{i}")).await;
        match i {
            5 => nats.kill().await.unwrap(),
            11 => nats.restart().await.unwrap(),
            _ => {}
        }
    }
    s.assert_event_invariants().await;
    let shipments: i64 = sqlx::query_scalar("SELECT count(*) FROM fulfillment.shipments")
        .fetch_one(&s.db.admin_pool().await)
        .await
        .unwrap();
    assert_eq!(shipments, 18);
}
