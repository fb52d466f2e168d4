//! The checkout saga over real gRPC, with real product-, cart- and
//! order-services and PostgreSQL; every test ends by checking the
//! invariants of docs/contract.md across the three schemas.

mod common;

use std::time::Duration;

use order_service::test_util::{Hooks, Step};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as pb, OrderStatus};
use shop_proto::product::{self as product_pb};
use shop_testkit::invariant_violations;
use tonic::Code;
use tonic_types::StatusExt as _;

use common::{Stack, reason, start};

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
async fn an_empty_cart_is_refused_and_the_refusal_replays() {
    let mut s = start().await;
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::FailedPrecondition, "EMPTY_CART".into())
    );
    let again = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&again), "EMPTY_CART");
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

/// Crashes the saga after `step`, then lets a fresh order-service recover.
async fn crash_then_recover(step: Step) -> (Stack, product_pb::Product) {
    let mut s = start().await;
    let hooks = Hooks::default();
    // The crashing instance recovers nothing itself: its horizon is the default.
    let crash = format!("crash after {}", step.name());
    spawn_order_with_hooks(&mut s, &hooks, &[("FAULTS", &crash)]).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;

    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{step:?}: {err:?}");

    // The crashed instance goes away; a fresh one with a short horizon recovers.
    s.order.shut_down().await.unwrap();
    s.order = order_service::test_util::spawn_order(
        &s.db,
        &s.cart,
        &s.product,
        &[
            ("RECOVERY_HORIZON_SECONDS", "1"),
            ("RECOVERY_INTERVAL_MILLIS", "200"),
        ],
    )
    .await;
    s.orders = OrderServiceClient::connect(s.order.url()).await.unwrap();

    let pool = s.db.admin_pool().await;
    for _ in 0..100 {
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders.orders o WHERE o.status = 'PENDING' OR EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if unfinished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.assert_invariants().await;
    (s, mug)
}

#[tokio::test]
async fn a_crash_before_reserving_is_compensated_and_the_key_can_be_used_again() {
    for step in [Step::OrderCreated, Step::CartRead] {
        let (mut s, mug) = crash_then_recover(step).await;
        assert_eq!(s.available(&mug).await, 10, "{step:?}");
        // The retry with the same key checks out afresh.
        let order = s.place("alice", "k").await.unwrap().into_inner();
        assert_eq!(order.status(), OrderStatus::Confirmed, "{step:?}");
        s.assert_invariants().await;
    }
}

#[tokio::test]
async fn a_crash_after_reserving_or_committing_is_resumed_to_a_confirmed_order() {
    for step in [Step::Reserved, Step::Committed, Step::Confirmed] {
        let (mut s, mug) = crash_then_recover(step).await;
        let replay = s.place("alice", "k").await.unwrap();
        assert_eq!(
            replay.metadata().get("x-shop-replayed").unwrap(),
            "true",
            "{step:?}"
        );
        let order = replay.into_inner();
        assert_eq!(order.status(), OrderStatus::Confirmed, "{step:?}");
        assert_eq!(order.total_minor, 300, "{step:?}");
        assert_eq!(s.available(&mug).await, 7, "{step:?}");
        assert!(
            s.cart("alice").await.items.is_empty(),
            "{step:?}: cart cleared"
        );
    }
}

#[tokio::test]
async fn the_invariant_check_catches_a_confirmed_order_whose_stock_went_back() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 2).await;
    let order = s.place("alice", "k").await.unwrap().into_inner();
    s.assert_invariants().await;

    // Release the reservation behind order-service's back.
    s.products
        .release_reservation(product_pb::ReleaseReservationRequest {
            reservation_id: order.id,
        })
        .await
        .unwrap();

    let violations = invariant_violations(&s.db).await;
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("confirmed order without a matching committed reservation")),
        "{violations:?}"
    );
}

#[tokio::test]
async fn a_crash_after_asking_for_stock_rejects_the_order_and_holds_nothing() {
    let (mut s, mug) = crash_then_recover(Step::StockRequested).await;

    assert_eq!(s.available(&mug).await, 10);
    // The order asked for stock, so it was kept and rejected, not deleted:
    // the replay answers with the rejection.
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::FailedPrecondition, "CHECKOUT_INTERRUPTED".into())
    );
    assert_eq!(s.cart("alice").await.items.len(), 1, "the cart is kept");
}

/// A recovery loop that settles what is a second old, ten times a second.
const QUICK_RECOVERY: &[(&str, &str)] = &[
    ("RECOVERY_HORIZON_SECONDS", "1"),
    ("RECOVERY_INTERVAL_MILLIS", "100"),
];

/// Replaces the stack's order-service with one whose saga has test levers;
/// `extra` adds variables.
async fn spawn_order_with_hooks(s: &mut Stack, hooks: &Hooks, extra: &[(&str, &str)]) {
    s.order.shut_down().await.unwrap();
    s.order = order_service::test_util::spawn_order_with(
        &s.db,
        &s.cart,
        &s.product,
        extra,
        hooks.clone(),
    )
    .await;
    s.orders = OrderServiceClient::connect(s.order.url()).await.unwrap();
}

/// Polls an SQL count over the order schema until it is `want` (10 s at most).
async fn wait_for(s: &Stack, sql: &str, want: i64) {
    let pool = s.db.admin_pool().await;
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        if n == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql} never reached {want}");
}

/// Units held or sold by reservations, across all products.
async fn held_and_sold(s: &Stack) -> (i64, i64) {
    let pool = s.db.admin_pool().await;
    sqlx::query_as("SELECT COALESCE(SUM(held), 0)::bigint, COALESCE(SUM(sold), 0)::bigint FROM product.products")
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// A checkout running on its own task, for tests that pause the saga.
fn place_in_background(
    s: &Stack,
    user: &str,
    key: &str,
) -> tokio::task::JoinHandle<Result<tonic::Response<pb::Order>, tonic::Status>> {
    let mut orders = s.orders.clone();
    let request = pb::PlaceOrderRequest {
        user_id: user.into(),
        idempotency_key: key.into(),
    };
    tokio::spawn(async move { orders.place_order(request).await })
}

#[tokio::test]
async fn a_saga_given_up_while_its_reserve_is_in_flight_whose_release_fails_leaves_nothing_held_or_sold()
 {
    let mut s = start().await;
    let hooks = Hooks::default();
    spawn_order_with_hooks(&mut s, &hooks, QUICK_RECOVERY).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;

    // The checkout has asked for stock and its ReserveStock is about to go out.
    let mut gate = hooks.pause_after(Step::StockRequested);
    let checkout = place_in_background(&s, "alice", "k");
    gate.reached().await;
    // Recovery finds no reservation: it gives the order up, keeps it, and
    // settles it (release: nothing there yet).
    wait_for(
        &s,
        "SELECT count(*) FROM orders.orders o WHERE o.status = 'REJECTED' AND NOT EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        1,
    )
    .await;
    // A replay now answers with the settled outcome.
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&err), "CHECKOUT_INTERRUPTED");

    // The live saga wakes up: its reserve lands, then its release fails.
    let releases_fail =
        shop_runtime::chaos::parse_list("error unavailable on calls to ReleaseReservation")
            .unwrap();
    hooks.faults().set(releases_fail);
    gate.resume();
    let err = checkout.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(
        held_and_sold(&s).await,
        (3, 0),
        "the late reservation holds stock"
    );
    wait_for(
        &s,
        "SELECT count(*) FROM orders.orders o JOIN orders.order_followups f ON f.order_id = o.id WHERE o.status = 'REJECTED' AND f.kind = 'RELEASE'",
        1,
    )
    .await;

    // Once releases work again, recovery finishes the follow-up.
    hooks.faults().clear();
    wait_for(&s, "SELECT count(*) FROM orders.order_followups", 0).await;
    assert_eq!(held_and_sold(&s).await, (0, 0));
    assert_eq!(s.available(&mug).await, 10);
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_saga_that_wakes_after_recovery_confirmed_its_order_returns_it_and_sells_once() {
    let mut s = start().await;
    let hooks = Hooks::default();
    spawn_order_with_hooks(&mut s, &hooks, QUICK_RECOVERY).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;

    // Held right after its reserve landed, the order is resumed by recovery
    // (it finds the held stock) while the live saga waits.
    let mut gate = hooks.pause_after(Step::Reserved);
    let checkout = place_in_background(&s, "alice", "k");
    gate.reached().await;
    wait_for(
        &s,
        "SELECT count(*) FROM orders.orders o WHERE o.status = 'CONFIRMED' AND NOT EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        1,
    )
    .await;

    // The live saga wakes up and finds the order confirmed: one sale, not two.
    gate.resume();
    let order = checkout.await.unwrap().unwrap().into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!(held_and_sold(&s).await, (0, 3));
    assert_eq!(s.available(&mug).await, 7);
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_saga_paused_before_asking_for_stock_reserves_nothing_once_recovery_forgot_it() {
    let mut s = start().await;
    let hooks = Hooks::default();
    spawn_order_with_hooks(&mut s, &hooks, QUICK_RECOVERY).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;

    let mut gate = hooks.pause_after(Step::CartRead);
    let checkout = place_in_background(&s, "alice", "k");
    gate.reached().await;
    // While it is held, a replay says the checkout is in progress.
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    // It never asked for stock: recovery forgets it.
    wait_for(&s, "SELECT count(*) FROM orders.orders", 0).await;

    gate.resume();
    let err = checkout.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(held_and_sold(&s).await, (0, 0));
    // The key starts afresh.
    let order = s.place("alice", "k").await.unwrap().into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    s.assert_invariants().await;
}
