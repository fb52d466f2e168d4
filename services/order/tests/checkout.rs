//! The checkout saga over real gRPC, with real product-, cart- and
//! order-services and PostgreSQL; every test ends by checking the
//! invariants of docs/contract.md across the three schemas.

mod common;

use shop_proto::order::{self as pb, OrderStatus};
use shop_proto::product::{self as product_pb};
use tonic::Code;
use tonic_types::StatusExt as _;

use common::{reason, start};

#[tokio::test]
async fn checkout_confirms_with_server_prices_sells_the_stock_and_empties_the_cart() {
    let mut s = start().await;
    let mug = s.product("MUG", 1250, 10).await;
    let pen = s.product("PEN", 199, 10).await;
    s.add("alice", &mug, 2).await;
    s.add("alice", &pen, 3).await;
    // A price change before checkout: the order uses product-service's price now.
    s.products
        .update_product(product_pb::UpdateProductRequest {
            id: pen.id.clone(),
            unit_price_minor: Some(250),
            ..Default::default()
        })
        .await
        .unwrap();

    let response = s.place("alice", "key-1").await.unwrap();

    assert!(response.metadata().get("x-shop-replayed").is_none());
    let order = response.into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert!(
        order.number.starts_with("SO-") && order.number.len() == 9,
        "{}",
        order.number
    );
    let lines: Vec<_> = order
        .items
        .iter()
        .map(|i| {
            (
                i.sku.as_str(),
                i.quantity,
                i.unit_price_minor,
                i.line_total_minor,
            )
        })
        .collect();
    assert_eq!(lines, [("MUG", 2, 1250, 2500), ("PEN", 3, 250, 750)]);
    assert_eq!((order.total_minor, order.currency.as_str()), (3250, "USD"));
    assert!(s.cart("alice").await.items.is_empty());
    assert_eq!(s.available(&mug).await, 8);
    s.assert_invariants().await;
}

#[tokio::test]
async fn order_numbers_come_from_a_sequence() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 1).await;
    let first = s.place("alice", "a").await.unwrap().into_inner();
    s.add("alice", &mug, 1).await;
    let second = s.place("alice", "b").await.unwrap().into_inner();
    let n = |o: &pb::Order| o.number[3..].parse::<u64>().unwrap();
    assert_eq!(n(&second), n(&first) + 1);
}

#[tokio::test]
async fn insufficient_stock_rejects_the_order_lists_the_short_lines_and_holds_nothing() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    let rare = s.product("RARE", 100, 1).await;
    s.add("alice", &mug, 2).await;
    s.add("alice", &rare, 2).await;

    let err = s.place("alice", "k").await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "INSUFFICIENT_STOCK");
    let short = err.get_details_precondition_failure().unwrap().violations;
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].subject, rare.id);
    assert_eq!((s.available(&mug).await, s.available(&rare).await), (10, 1));
    assert_eq!(s.cart("alice").await.items.len(), 2, "the cart is kept");

    // A replay gives the same rejection.
    let again = s.place("alice", "k").await.unwrap_err();
    assert_eq!(
        (again.code(), reason(&again)),
        (Code::FailedPrecondition, "INSUFFICIENT_STOCK".into())
    );
    s.assert_invariants().await;
}

#[tokio::test]
async fn an_empty_cart_is_refused_every_time_and_leaves_no_row() {
    let mut s = start().await;
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::FailedPrecondition, "EMPTY_CART".into())
    );
    let again = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&again), "EMPTY_CART");
    for key in 0..20 {
        s.place("alice", &format!("spam-{key}")).await.unwrap_err();
    }
    let pool = s.db.admin_pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "an empty checkout is stored");
    // It is not an order in the history.
    let list = s
        .orders
        .list_orders(pb::ListOrdersRequest {
            user_id: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(list.orders.is_empty());
}

#[tokio::test]
async fn a_key_refused_for_an_empty_cart_checks_out_once_the_cart_is_filled() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.place("alice", "k").await.unwrap_err();
    s.add("alice", &mug, 2).await;
    let order = s.place("alice", "k").await.unwrap().into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_replay_returns_the_same_order_even_after_the_cart_changed() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 1).await;
    let first = s.place("alice", "same").await.unwrap().into_inner();
    s.add("alice", &mug, 5).await;

    let replay = s.place("alice", "same").await.unwrap();

    assert_eq!(replay.metadata().get("x-shop-replayed").unwrap(), "true");
    assert_eq!(replay.into_inner(), first);
    assert_eq!(s.available(&mug).await, 9, "the replay bought nothing");
    // The same key from another shopper is another order.
    s.add("bob", &mug, 1).await;
    let bobs = s.place("bob", "same").await.unwrap().into_inner();
    assert_ne!(bobs.id, first.id);
}

#[tokio::test]
async fn ten_concurrent_requests_with_one_key_make_one_order() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 100).await;
    s.add("alice", &mug, 3).await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let mut orders = s.orders.clone();
            tokio::spawn(async move {
                orders
                    .place_order(pb::PlaceOrderRequest {
                        user_id: "alice".into(),
                        idempotency_key: "one".into(),
                    })
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(response) => {
                ids.insert(response.into_inner().id);
            }
            Err(e) => assert_eq!(e.code(), Code::Aborted, "{e:?}"),
        }
    }

    assert_eq!(ids.len(), 1, "{ids:?}");
    let pool = s.db.admin_pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(s.available(&mug).await, 97);
    s.assert_invariants().await;
}

#[tokio::test]
async fn fifty_shoppers_racing_for_twenty_units_confirm_exactly_twenty() {
    let mut s = start().await;
    let hot = s.product("HOT", 100, 20).await;
    for i in 0..50 {
        s.add(&format!("shopper-{i}"), &hot, 1).await;
    }

    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let mut orders = s.orders.clone();
            tokio::spawn(async move {
                orders
                    .place_order(pb::PlaceOrderRequest {
                        user_id: format!("shopper-{i}"),
                        idempotency_key: "k".into(),
                    })
                    .await
            })
        })
        .collect();
    let (mut confirmed, mut rejected) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(order) => {
                assert_eq!(order.into_inner().status(), OrderStatus::Confirmed);
                confirmed += 1;
            }
            Err(e) => {
                assert_eq!(reason(&e), "INSUFFICIENT_STOCK", "{e:?}");
                rejected += 1;
            }
        }
    }

    assert_eq!((confirmed, rejected), (20, 30));
    assert_eq!(s.available(&hot).await, 0);
    s.assert_invariants().await;
}

#[tokio::test]
async fn cancelling_returns_the_stock_exactly_once_even_under_concurrent_cancels() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 4).await;
    let order = s.place("alice", "k").await.unwrap().into_inner();
    assert_eq!(s.available(&mug).await, 6);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut orders = s.orders.clone();
            let order_id = order.id.clone();
            tokio::spawn(async move {
                orders
                    .cancel_order(pb::CancelOrderRequest {
                        user_id: "alice".into(),
                        order_id,
                    })
                    .await
            })
        })
        .collect();
    let mut cancelled = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(o) => {
                assert_eq!(o.into_inner().status(), OrderStatus::Cancelled);
                cancelled += 1;
            }
            Err(e) => assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}"),
        }
    }

    assert_eq!(cancelled, 1);
    assert_eq!(s.available(&mug).await, 10);
    s.assert_invariants().await;
}

#[tokio::test]
async fn only_the_owner_sees_or_cancels_an_order_and_history_is_newest_first() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 100).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        s.add("alice", &mug, 1).await;
        ids.push(
            s.place("alice", &format!("k{i}"))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }

    let err = s
        .orders
        .get_order(pb::GetOrderRequest {
            user_id: "mallory".into(),
            order_id: ids[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .orders
        .cancel_order(pb::CancelOrderRequest {
            user_id: "mallory".into(),
            order_id: ids[0].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let own = s
        .orders
        .get_order(pb::GetOrderRequest {
            user_id: "alice".into(),
            order_id: ids[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.status(), OrderStatus::Confirmed);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .orders
            .list_orders(pb::ListOrdersRequest {
                user_id: "alice".into(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.orders.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    ids.reverse();
    assert_eq!(seen, ids);

    let err = s
        .orders
        .list_orders(pb::ListOrdersRequest {
            user_id: "alice".into(),
            page_size: 0,
            page_token: "forged.token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn cancelling_an_order_that_is_not_confirmed_fails_precondition() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 1).await;
    let order = s.place("alice", "k").await.unwrap().into_inner();
    let cancel = pb::CancelOrderRequest {
        user_id: "alice".into(),
        order_id: order.id.clone(),
    };
    s.orders.cancel_order(cancel.clone()).await.unwrap();

    let err = s.orders.cancel_order(cancel).await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("CANCELLED"), "{}", err.message());
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_naming_the_field() {
    let mut s = start().await;
    let err = s.place("alice", "").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("idempotency_key"),
        "{}",
        err.message()
    );
    let err = s.place("", "k").await.unwrap_err();
    assert!(err.message().starts_with("user_id"), "{}", err.message());
    let err = s
        .orders
        .get_order(pb::GetOrderRequest {
            user_id: "alice".into(),
            order_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("order_id"), "{}", err.message());
}

#[tokio::test]
async fn with_product_service_down_checkout_is_unavailable_and_the_key_stays_usable() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 1).await;
    s.product.shut_down().await.unwrap();

    let err = s.place("alice", "k").await.unwrap_err();

    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let pool = s.db.admin_pool().await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "nothing was held, so the order was forgotten");
}
