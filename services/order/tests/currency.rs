//! Checkout of a cart whose products are priced in different currencies:
//! a clear FAILED_PRECONDITION that holds nothing, never an order with one
//! currency label over mixed amounts, and never UNAVAILABLE or INTERNAL.
//! Real product-, cart- and order-services and PostgreSQL.

mod common;

use order_service::Error;
use order_service::test_util::{Downstream, OrderItem};
use shop_proto::cart::{self as cart_pb};
use shop_proto::order::OrderStatus;
use shop_proto::product::{self as product_pb};
use shop_runtime::client::CallPolicy;
use shop_testkit::{TestDb, invariant_violations};
use sqlx::{Connection as _, PgConnection};
use tonic::Code;
use uuid::Uuid;

use common::{Stack, start};

impl Stack {
    /// Reprices `product` in `currency`.
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

    /// The saga's own clients, pointed at this stack.
    fn downstream(&self) -> Downstream {
        let tls = Default::default();
        let cart =
            shop_runtime::client::channel("CART", &self.cart.url(), &tls, &Default::default())
                .unwrap();
        let product = shop_runtime::client::channel(
            "PRODUCT",
            &self.product.url(),
            &tls,
            &Default::default(),
        )
        .unwrap();
        Downstream::new(cart, product, &CallPolicy::default())
    }
}

#[tokio::test]
async fn checkout_of_a_cart_whose_products_diverged_in_currency_is_failed_precondition_and_holds_nothing()
 {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, 10).await;
    let tee = s.product("TEE", 2500, 10).await;
    s.add("alice", &mug, 1).await;
    s.add("alice", &tee, 1).await;
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
    let order = s.place("alice", "key-1").await.unwrap().into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!((order.currency.as_str(), order.total_minor), ("USD", 1200));
    let violations = invariant_violations(&s.db).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn a_reservation_refused_for_mixed_currencies_is_failed_precondition_not_a_shortage() {
    let mut s = start().await;
    let mug = s.product("MUG", 1200, 10).await;
    let tee = s.product_in("TEE", 2500, "EUR", 10).await;
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
    let mug = s.product("MUG", 1200, 10).await;
    let tee = s.product("TEE", 2500, 10).await;
    let hat = s.product("HAT", 900, 10).await;
    for p in [&mug, &tee, &hat] {
        s.add("alice", p, 1).await;
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
    let mug = s.product("MUG", 1200, 10).await;
    s.add("alice", &mug, 1).await;
    let order = s.place("alice", "key-1").await.unwrap().into_inner();
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

    common::assert_violation(
        &s.db,
        "order lines priced in another currency than the order",
    )
    .await;
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
