//! The checkout saga when something crashes or stalls: a crash after each
//! step settled by the recovery loop, and a saga that wakes up after
//! recovery gave its order up or finished it. Real services and PostgreSQL;
//! every test ends by checking the invariants of docs/contract.md.

mod common;

use std::time::Duration;

use order_service::test_util::{Hooks, Step};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as pb, OrderStatus};
use shop_proto::product::{self as product_pb};
use shop_testkit::eventually;
use tonic::Code;

use common::{Stack, reason, start};

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

    wait_for(
        &s,
        "SELECT count(*) FROM orders.orders o WHERE o.status = 'PENDING' OR EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        0,
    )
    .await;
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

    common::assert_violation(
        &s.db,
        "confirmed order without a matching committed reservation",
    )
    .await;
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
    eventually(
        Duration::from_secs(10),
        async || match sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&pool)
            .await
            .unwrap()
        {
            n if n == want => Ok(()),
            n => Err(format!("{sql} is {n}, want {want}")),
        },
    )
    .await
}

/// Units held or sold by reservations, across all products.
async fn held_and_sold(s: &Stack) -> (i64, i64) {
    let pool = s.db.admin_pool().await;
    sqlx::query_as("SELECT COALESCE(SUM(held), 0)::bigint, COALESCE(SUM(sold), 0)::bigint FROM product.products")
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// The paused checkout ends CONFIRMED, its 3 mugs sold once (none held,
/// 7 of 10 left), and the invariants hold.
async fn confirmed_with_three_mugs_sold_once(
    s: &mut Stack,
    mug: &product_pb::Product,
    checkout: tokio::task::JoinHandle<Result<tonic::Response<pb::Order>, tonic::Status>>,
) {
    let order = checkout.await.unwrap().unwrap().into_inner();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!(held_and_sold(s).await, (0, 3));
    assert_eq!(s.available(mug).await, 7);
    s.assert_invariants().await;
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

/// Issue 28: a release of a reservation product-service did not know used
/// to count as done, so a reserve still in flight landed afterwards and held
/// stock until its TTL. The release now leaves a tombstone that the late
/// reserve respects.
#[tokio::test]
async fn a_reserve_that_lands_after_recovery_gave_its_order_up_holds_nothing() {
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
    // settles it (its release leaves the tombstone).
    wait_for(
        &s,
        "SELECT count(*) FROM orders.orders o WHERE o.status = 'REJECTED' AND NOT EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)",
        1,
    )
    .await;
    // A replay now answers with the settled outcome.
    let err = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&err), "CHECKOUT_INTERRUPTED");

    // The live saga wakes up and its reserve goes out, late: it holds
    // nothing, and the checkout fails.
    gate.resume();
    let answer = checkout.await.unwrap();
    assert!(
        answer.is_err(),
        "a given-up checkout is never confirmed: {answer:?}"
    );
    assert_eq!(
        held_and_sold(&s).await,
        (0, 0),
        "the late reserve holds nothing"
    );
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
    confirmed_with_three_mugs_sold_once(&mut s, &mug, checkout).await;
}

#[tokio::test]
async fn a_checkout_that_finds_its_stock_only_held_commits_it_before_confirming() {
    let mut s = start().await;
    let hooks = Hooks::default();
    spawn_order_with_hooks(&mut s, &hooks, &[]).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;

    // A checkout sells its stock in its ReserveStock call. Here a held
    // reservation already stands under the order's id (as one made without
    // `commit` would), so the saga's reserve returns it as it is.
    let mut gate = hooks.pause_after(Step::StockRequested);
    let checkout = place_in_background(&s, "alice", "k");
    gate.reached().await;
    let pool = s.db.admin_pool().await;
    let order_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM orders.orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    let held = s
        .products
        .reserve_stock(product_pb::ReserveStockRequest {
            reservation_id: order_id.to_string(),
            lines: vec![product_pb::ReservationLine {
                product_id: mug.id.clone(),
                quantity: 3,
            }],
            ttl_seconds: 0,
            commit: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status(), product_pb::ReservationStatus::Held);
    assert_eq!(held_and_sold(&s).await, (3, 0));

    // The saga commits the held stock, then confirms: sold once.
    gate.resume();
    confirmed_with_three_mugs_sold_once(&mut s, &mug, checkout).await;
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
