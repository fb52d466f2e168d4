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
use shop_testkit::{Running, TestDb};
use tonic::transport::Channel;

const EVENT_INVARIANTS: &str = include_str!("../../../db/event-invariants.sql");

struct Stack {
    db: TestDb,
    _services: Vec<Running>,
    products: ProductServiceClient<Channel>,
    carts: CartServiceClient<Channel>,
    orders: OrderServiceClient<Channel>,
    shipments: FulfillmentServiceClient<Channel>,
}

/// Every service, with events through `nats`; shipments ship after `ship_after` s.
async fn stack(nats: &NatsServer, ship_after: &str) -> Stack {
    let url = nats.url();
    let events = [("NATS_URL", url.as_str())];
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &events).await;
    let cart = cart_service::test_util::spawn_cart(&db, &product, &events).await;
    let order = order_service::test_util::spawn_order(&db, &cart, &product, &events).await;
    let fulfillment = fulfillment_service::test_util::spawn_fulfillment(
        &db,
        &[
            ("NATS_URL", url.as_str()),
            ("SHIP_AFTER_SECONDS", ship_after),
        ],
    )
    .await;
    Stack {
        products: ProductServiceClient::connect(product.url()).await.unwrap(),
        carts: CartServiceClient::connect(cart.url()).await.unwrap(),
        orders: OrderServiceClient::connect(order.url()).await.unwrap(),
        shipments: FulfillmentServiceClient::connect(fulfillment.url())
            .await
            .unwrap(),
        db,
        _services: vec![product, cart, order, fulfillment],
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(shipment) = self.shipment(&order.user_id, &order.id).await
                && shipment.status() == status
            {
                return shipment;
            }
            assert!(tokio::time::Instant::now() < deadline, "never {status:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        let pool = self.db.admin_pool().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let violations: Vec<(String, String)> = sqlx::query_as(EVENT_INVARIANTS)
                .fetch_all(&pool)
                .await
                .unwrap();
            if violations.is_empty() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{violations:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = s
            .orders
            .get_order(order_pb::GetOrderRequest {
                user_id: "alice".into(),
                order_id: order.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if seen.fulfillment_status == "SHIPPED" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order never SHIPPED"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = s.cancel(&order).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(refused.message().contains("shipped"), "{refused:?}");
    s.assert_event_invariants().await;
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
    use async_nats::jetstream;
    use prost::Message as _;
    let nats = NatsServer::start().await.expect("nats-server");
    let mut s = stack(&nats, "3600").await;
    // Make sure the streams exist.
    shop_runtime::events::connect(&nats.url(), "test")
        .await
        .unwrap();
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let order_id = uuid::Uuid::new_v4().to_string();
    let publish = |subject: &'static str, payload: Vec<u8>| {
        let js = js.clone();
        let order_id = order_id.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("ce-specversion", "1.0");
            headers.insert("ce-id", uuid::Uuid::new_v4().to_string().as_str());
            headers.insert("ce-type", subject);
            headers.insert("ce-subject", order_id.as_str());
            js.publish_with_headers(subject, headers, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    let cancelled = shop_proto::events::OrderCancelled {
        order_id: order_id.clone(),
        user_id: "alice".into(),
    };
    publish("shop.order.cancelled", cancelled.encode_to_vec()).await;
    let confirmed = shop_proto::events::OrderConfirmed {
        order_id: order_id.clone(),
        user_id: "alice".into(),
        number: "SO-999999".into(),
        items: vec![],
        total_minor: 100,
        currency: "USD".into(),
    };
    publish("shop.order.confirmed", confirmed.encode_to_vec()).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(shipment) = s.shipment("alice", &order_id).await {
            assert_eq!(shipment.status(), ShipmentStatus::Cancelled, "{shipment:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no shipment");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
