//! cart-service over real gRPC, with a real product-service and PostgreSQL.

mod common;

use shop_proto::cart::{self as pb};
use shop_proto::product::{self as product_pb};
use tonic::Code;
use uuid::Uuid;

use common::{quantities, start};

#[tokio::test]
async fn a_new_shopper_has_an_empty_cart() {
    let mut h = start().await;
    let cart = h.get("alice").await.unwrap();
    assert_eq!(cart.user_id, "alice");
    assert!(cart.items.is_empty());
    assert_eq!((cart.subtotal_minor, cart.currency.as_str()), (0, ""));
}

#[tokio::test]
async fn adding_items_prices_lines_with_current_catalog_prices() {
    let mut h = start().await;
    let mug = h.product("MUG", 1250).await;
    let pen = h.product("PEN", 199).await;

    h.add("alice", &mug.id, 2).await.unwrap();
    h.add("alice", &pen.id, 3).await.unwrap();
    let cart = h.add("alice", &mug.id, 1).await.unwrap();

    assert_eq!(quantities(&cart), [("MUG".into(), 3), ("PEN".into(), 3)]);
    assert_eq!(cart.items[0].unit_price_minor, 1250);
    assert_eq!(cart.items[0].line_total_minor, 3750);
    assert_eq!(cart.items[1].line_total_minor, 597);
    assert_eq!((cart.subtotal_minor, cart.currency.as_str()), (4347, "USD"));

    // A price change in product-service shows at the next read: never stale.
    h.products
        .update_product(product_pb::UpdateProductRequest {
            id: mug.id.clone(),
            unit_price_minor: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    let cart = h.get("alice").await.unwrap();
    assert_eq!(cart.items[0].line_total_minor, 3000);
    assert_eq!(cart.subtotal_minor, 3597);

    // Another shopper's cart is their own.
    assert!(h.get("bob").await.unwrap().items.is_empty());
}

#[tokio::test]
async fn add_refuses_bad_quantities_unknown_products_and_lines_over_99() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;

    for (quantity, field) in [(0, "quantity"), (-1, "quantity"), (100, "quantity")] {
        let err = h.add("alice", &mug.id, quantity).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(field), "{}", err.message());
    }
    let err = h.add("alice", "not-a-uuid", 1).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("product_id"), "{}", err.message());
    let err = h.add("", &mug.id, 1).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("user_id"), "{}", err.message());

    let err = h
        .add("alice", &Uuid::new_v4().to_string(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    h.add("alice", &mug.id, 60).await.unwrap();
    let err = h.add("alice", &mug.id, 40).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("99"), "{}", err.message());
    assert_eq!(
        quantities(&h.get("alice").await.unwrap()),
        [("MUG".into(), 60)]
    );
    h.add("alice", &mug.id, 39).await.unwrap();
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_lines() {
    let mut h = start().await;
    let mut ids = Vec::new();
    for i in 0..51 {
        ids.push(h.product(&format!("P{i:02}"), 100).await.id);
    }
    for id in &ids[..50] {
        h.add("alice", id, 1).await.unwrap();
    }

    let err = h.add("alice", &ids[50], 1).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("50"), "{}", err.message());
    let err = h.set("alice", &ids[50], 1).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(h.get("alice").await.unwrap().items.len(), 50);
    // Adding to an existing line is still fine.
    h.add("alice", &ids[0], 1).await.unwrap();
}

#[tokio::test]
async fn a_product_in_another_currency_is_refused() {
    let mut h = start().await;
    let usd = h.product("USD-1", 100).await;
    let eur = h.product_in("EUR-1", 100, "EUR").await;
    h.add("alice", &usd.id, 1).await.unwrap();

    let err = h.add("alice", &eur.id, 1).await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .starts_with("the cart holds items priced in USD;")
            && err.message().ends_with("is priced in EUR"),
        "the refusal names both currencies: {}",
        err.message()
    );
    assert_eq!(h.get("alice").await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn set_quantity_replaces_the_line_and_zero_removes_it() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;
    let pen = h.product("PEN", 100).await;

    let cart = h.set("alice", &mug.id, 5).await.unwrap();
    assert_eq!(quantities(&cart), [("MUG".into(), 5)]);
    let cart = h.set("alice", &mug.id, 2).await.unwrap();
    assert_eq!(quantities(&cart), [("MUG".into(), 2)]);
    h.set("alice", &pen.id, 1).await.unwrap();
    let cart = h.set("alice", &mug.id, 0).await.unwrap();
    assert_eq!(quantities(&cart), [("PEN".into(), 1)]);

    assert_eq!(
        h.set("alice", &pen.id, 100).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        h.set("alice", &pen.id, -1).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let unknown = Uuid::new_v4().to_string();
    assert_eq!(
        h.set("alice", &unknown, 1).await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn remove_item_and_clear_cart_empty_the_cart() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;
    let pen = h.product("PEN", 100).await;
    h.add("alice", &mug.id, 1).await.unwrap();
    h.add("alice", &pen.id, 1).await.unwrap();

    let cart = h
        .cart
        .remove_item(pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: mug.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quantities(&cart), [("PEN".into(), 1)]);
    // Removing a missing line is fine.
    h.cart
        .remove_item(pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: mug.id.clone(),
        })
        .await
        .unwrap();

    h.cart
        .clear_cart(pb::ClearCartRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap();
    assert!(h.get("alice").await.unwrap().items.is_empty());
}

#[tokio::test]
async fn removing_purchased_items_is_idempotent_and_keeps_what_was_added_meanwhile() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;
    let pen = h.product("PEN", 100).await;
    let cup = h.product("CUP", 100).await;
    h.add("alice", &mug.id, 2).await.unwrap();
    h.add("alice", &pen.id, 1).await.unwrap();
    // The order bought 2 mugs and 1 pen; meanwhile the shopper added a mug and a cup.
    h.add("alice", &mug.id, 1).await.unwrap();
    h.add("alice", &cup.id, 4).await.unwrap();

    let order_id = Uuid::new_v4().to_string();
    let request = pb::RemovePurchasedItemsRequest {
        user_id: "alice".into(),
        order_id: order_id.clone(),
        items: vec![
            pb::PurchasedItem {
                product_id: mug.id.clone(),
                quantity: 2,
            },
            pb::PurchasedItem {
                product_id: pen.id.clone(),
                quantity: 1,
            },
        ],
    };
    let cart = h
        .cart
        .remove_purchased_items(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quantities(&cart), [("MUG".into(), 1), ("CUP".into(), 4)]);

    // A retry of the same order removes nothing more.
    let again = h
        .cart
        .remove_purchased_items(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quantities(&again), [("MUG".into(), 1), ("CUP".into(), 4)]);

    let bad = h
        .cart
        .remove_purchased_items(pb::RemovePurchasedItemsRequest {
            user_id: "alice".into(),
            order_id: "x".into(),
            items: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().starts_with("order_id"), "{}", bad.message());
}

#[tokio::test]
async fn twenty_concurrent_adds_to_one_line_all_count() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut cart = h.cart.clone();
            let product_id = mug.id.clone();
            tokio::spawn(async move {
                cart.add_item(pb::AddItemRequest {
                    user_id: "alice".into(),
                    product_id,
                    quantity: 4,
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    assert_eq!(
        quantities(&h.get("alice").await.unwrap()),
        [("MUG".into(), 80)]
    );
    let pool = h.db.admin_pool().await;
    let stored: i32 =
        sqlx::query_scalar("SELECT quantity FROM cart.cart_items WHERE user_id = 'alice'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, 80);
}

#[tokio::test]
async fn concurrent_adds_of_new_lines_never_exceed_fifty() {
    let mut h = start().await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(h.product(&format!("P{i:02}"), 100).await.id);
    }
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|product_id| {
            let mut cart = h.cart.clone();
            tokio::spawn(async move {
                cart.add_item(pb::AddItemRequest {
                    user_id: "alice".into(),
                    product_id,
                    quantity: 1,
                })
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), Code::InvalidArgument, "{e:?}"),
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(h.get("alice").await.unwrap().items.len(), 50);
}

#[tokio::test]
async fn with_product_service_down_priced_calls_are_unavailable_not_internal() {
    let mut h = start().await;
    let mug = h.product("MUG", 100).await;
    h.add("alice", &mug.id, 1).await.unwrap();

    h.product.shut_down().await.unwrap();

    let err = h.get("alice").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("product-service"),
        "{}",
        err.message()
    );
    let err = h.add("alice", &mug.id, 1).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    // Calls that need no prices still work.
    h.cart
        .clear_cart(pb::ClearCartRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn shutdown_flips_health_to_not_serving_and_drains() {
    let mut h = start().await;
    shop_testkit::assert_health_flips_on_shutdown(&mut h.cart_service, cart_service::SERVICE_NAME)
        .await;
}
