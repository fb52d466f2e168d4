//! Checkout of a cart whose products are priced in different currencies:
//! a clear FAILED_PRECONDITION that holds nothing, never an order with one
//! currency label over mixed amounts, and never UNAVAILABLE or INTERNAL.
//! Real product-, cart- and order-services and PostgreSQL.

use order_service::Error;
use order_service::test_util::{Downstream, OrderItem};
use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as cart_pb};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as pb, OrderStatus};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb};
use shop_runtime::client::CallPolicy;
use shop_testkit::{Running, TestDb, invariant_violations};
use sqlx::{Connection as _, PgConnection};
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

struct Stack {
    db: TestDb,
    product: Running,
    cart: Running,
    _order: Running,
    products: ProductServiceClient<Channel>,
    carts: CartServiceClient<Channel>,
    orders: OrderServiceClient<Channel>,
}

async fn start() -> Stack {
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &[]).await;
    let cart = cart_service::test_util::spawn_cart(&db, &product, &[]).await;
    let order = order_service::test_util::spawn_order(&db, &cart, &product, &[]).await;
    Stack {
        products: ProductServiceClient::connect(product.url()).await.unwrap(),
        carts: CartServiceClient::connect(cart.url()).await.unwrap(),
        orders: OrderServiceClient::connect(order.url()).await.unwrap(),
        db,
        product,
        cart,
        _order: order,
    }
}

impl Stack {
    async fn product(&mut self, sku: &str, price: i64, currency: &str) -> product_pb::Product {
        self.products
            .create_product(product_pb::CreateProductRequest {
                sku: sku.into(),
                name: format!("Product {sku}"),
                description: String::new(),
                category: "test".into(),
                image_url: String::new(),
                unit_price_minor: price,
                currency: currency.into(),
                initial_stock: 10,
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn change_currency(&mut self, product: &product_pb::Product, currency: &str) {
        self.products
            .update_product(product_pb::UpdateProductRequest {
                id: product.id.clone(),
                currency: Some(currency.into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn add(&mut self, user: &str, product: &product_pb::Product) {
        self.carts
            .add_item(cart_pb::AddItemRequest {
                user_id: user.into(),
                product_id: product.id.clone(),
                quantity: 1,
            })
            .await
            .unwrap();
    }

    async fn place(&mut self, user: &str, key: &str) -> Result<pb::Order, tonic::Status> {
        self.orders
            .place_order(pb::PlaceOrderRequest {
                user_id: user.into(),
                idempotency_key: key.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// The saga's own clients, pointed at this stack.
    fn downstream(&self) -> Downstream {
        let tls = Default::default();
        let cart = shop_runtime::client::channel("CART", &self.cart.url(), &tls).unwrap();
        let product = shop_runtime::client::channel("PRODUCT", &self.product.url(), &tls).unwrap();
        Downstream::new(cart, product, CallPolicy::default())
    }

    async fn available(&mut self, product: &product_pb::Product) -> i64 {
        self.products
            .get_product(product_pb::GetProductRequest {
                id: product.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .available
    }
}

#[tokio::test]
async fn checkout_of_a_cart_whose_products_diverged_in_currency_is_failed_precondition_and_holds_nothing()
 {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, "USD").await;
    let tee = s.product("TEE", 2500, "USD").await;
    s.add("alice", &mug).await;
    s.add("alice", &tee).await;
    s.change_currency(&tee, "EUR").await;

    let err = s.place("alice", "key-1").await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("different currencies"),
        "{}",
        err.message()
    );
    assert_eq!(s.available(&mug).await, 10);
    assert_eq!(s.available(&tee).await, 10);
    let violations = invariant_violations(&s.db).await;
    assert!(violations.is_empty(), "{violations:#?}");

    // Fixing the cart lets the same key check out, in one currency.
    s.carts
        .remove_item(cart_pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: tee.id.clone(),
        })
        .await
        .unwrap();
    let order = s.place("alice", "key-1").await.unwrap();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!((order.currency.as_str(), order.total_minor), ("USD", 1200));
    let violations = invariant_violations(&s.db).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn a_reservation_refused_for_mixed_currencies_is_failed_precondition_not_a_shortage() {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, "USD").await;
    let tee = s.product("TEE", 2500, "EUR").await;
    // The cart as order-service read it, before a currency changed.
    let lines: Vec<OrderItem> = [&mug, &tee]
        .iter()
        .map(|p| OrderItem {
            product_id: Uuid::parse_str(&p.id).unwrap(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            quantity: 1,
            unit_price_minor: p.unit_price_minor,
            line_total_minor: p.unit_price_minor,
        })
        .collect();

    let result = s.downstream().reserve(Uuid::new_v4(), &lines).await;

    match result {
        Err(Error::FailedPrecondition(message)) => {
            assert!(message.contains("different currencies"), "{message}")
        }
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
    assert_eq!(s.available(&mug).await, 10);
}

#[tokio::test]
async fn removing_purchased_lines_from_a_cart_that_cannot_be_priced_counts_as_done() {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, "USD").await;
    let tee = s.product("TEE", 2500, "USD").await;
    let hat = s.product("HAT", 900, "USD").await;
    for p in [&mug, &tee, &hat] {
        s.add("alice", p).await;
    }
    s.change_currency(&hat, "EUR").await;
    let bought = [OrderItem {
        product_id: Uuid::parse_str(&mug.id).unwrap(),
        sku: mug.sku.clone(),
        name: mug.name.clone(),
        quantity: 1,
        unit_price_minor: 1200,
        line_total_minor: 1200,
    }];

    // Otherwise the follow-up would be retried, and fail, forever.
    s.downstream()
        .remove_purchased("alice", Uuid::new_v4(), &bought)
        .await
        .expect("the removal is done");

    s.carts
        .remove_item(cart_pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: hat.id.clone(),
        })
        .await
        .unwrap();
    let cart = s
        .carts
        .get_cart(cart_pb::GetCartRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let skus: Vec<&str> = cart.items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["TEE"]);
}

#[tokio::test]
async fn the_invariant_checker_reports_an_order_whose_lines_are_in_another_currency() {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, "USD").await;
    s.add("alice", &mug).await;
    let order = s.place("alice", "key-1").await.unwrap();
    assert!(invariant_violations(&s.db).await.is_empty());

    // As if a line had been priced in EUR under a USD order.
    let mut admin = PgConnection::connect(&s.db.admin_url()).await.unwrap();
    sqlx::query(
        "UPDATE product.reservation_lines SET currency = 'EUR' WHERE reservation_id = $1::uuid",
    )
    .bind(&order.id)
    .execute(&mut admin)
    .await
    .unwrap();

    let violations = invariant_violations(&s.db).await;
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("order lines priced in another currency than the order")),
        "{violations:#?}"
    );
}

#[tokio::test]
async fn a_serialization_failure_in_the_order_database_is_unavailable() {
    let db = TestDb::new().await;
    let connect = || PgConnection::connect(&db.admin_url());
    let (mut a, mut b) = (connect().await.unwrap(), connect().await.unwrap());
    sqlx::raw_sql(
        "CREATE TABLE public.t (id int PRIMARY KEY, v int); INSERT INTO public.t VALUES (1, 0)",
    )
    .execute(&mut a)
    .await
    .unwrap();
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM public.t")
        .execute(&mut a)
        .await
        .unwrap();
    sqlx::raw_sql("UPDATE public.t SET v = 1")
        .execute(&mut b)
        .await
        .unwrap();

    let e = sqlx::raw_sql("UPDATE public.t SET v = 2")
        .execute(&mut a)
        .await
        .unwrap_err();

    assert_eq!(
        e.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("40001")
    );
    let status = tonic::Status::from(Error::from(e));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}
