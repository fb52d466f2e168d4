//! The follow-up table and its worker, against real services and
//! PostgreSQL: a failed follow-up is retried with backoff until it is done,
//! workers never run one row twice, and a stored value order-service does
//! not know is an error, never a silent default.

mod common;

use std::time::Duration;

use order_service::test_util::{Hooks, Ran, Step, Worker};
use shop_proto::order::order_service_client::OrderServiceClient;
use shop_proto::order::{self as pb, OrderStatus};
use shop_testkit::eventually;
use tonic::Code;
use uuid::Uuid;

use common::{Stack, reason, start};

/// A recovery loop that never runs during a test: the test runs the worker.
const QUIET_LOOP: &[(&str, &str)] = &[
    ("RECOVERY_INTERVAL_MILLIS", "3600000"),
    ("RECOVERY_HORIZON_SECONDS", "6"),
];
/// The hand-run worker's schedule: backoff from 1 s, capped at 6 s.
const WORKER: &[(&str, &str)] = &[
    ("RECOVERY_INTERVAL_MILLIS", "1000"),
    ("RECOVERY_HORIZON_SECONDS", "6"),
];
const CART_DOWN: &str = "error unavailable on calls to RemovePurchasedItems";

/// The stack with an order-service whose loop stays quiet, sharing `hooks`
/// (and so its faults) with the workers the test makes.
async fn quiet_stack(hooks: &Hooks) -> Stack {
    let mut s = start().await;
    s.order.shut_down().await.unwrap();
    s.order = order_service::test_util::spawn_order_with(
        &s.db,
        &s.cart,
        &s.product,
        QUIET_LOOP,
        hooks.clone(),
    )
    .await;
    s.orders = OrderServiceClient::connect(s.order.url()).await.unwrap();
    s
}

async fn worker(s: &Stack, hooks: &Hooks) -> Worker {
    Worker::new(&s.db, &s.cart, &s.product, WORKER, hooks.clone()).await
}

fn set_faults(hooks: &Hooks, faults: &str) {
    hooks
        .faults()
        .set(shop_runtime::chaos::parse_list(faults).unwrap())
        .unwrap();
}

/// Makes every follow-up due now (and older than any horizon).
async fn all_due(s: &Stack) {
    let pool = s.db.admin_pool().await;
    sqlx::query(
        "UPDATE orders.order_followups SET next_attempt_at = now(), created_at = now() - interval '1 hour'",
    )
        .execute(&pool)
        .await
        .unwrap();
}

/// The follow-ups of an order: (kind, attempts, last error, seconds until due).
async fn followups(s: &Stack, order_id: &str) -> Vec<(String, i32, Option<String>, f64)> {
    let pool = s.db.admin_pool().await;
    sqlx::query_as(
        r#"
        SELECT kind, attempts, last_error, EXTRACT(EPOCH FROM next_attempt_at - now())::float8
        FROM orders.order_followups WHERE order_id = $1::uuid ORDER BY kind
        "#,
    )
    .bind(order_id)
    .fetch_all(&pool)
    .await
    .unwrap()
}

/// A confirmed order of `user` for one mug whose cart could not be cleared.
async fn confirmed_with_cart_left(s: &mut Stack, hooks: &Hooks, user: &str) -> pb::Order {
    let mug = s.product(&format!("MUG-{user}"), 100, 10).await;
    s.add(user, &mug, 1).await;
    set_faults(hooks, CART_DOWN);
    let order = s.place(user, "k").await.unwrap().into_inner();
    hooks.faults().clear();
    assert_eq!(order.status(), OrderStatus::Confirmed);
    order
}

#[tokio::test]
async fn a_failing_cart_clear_is_retried_with_backoff_and_completes_once_the_cart_answers() {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let worker = worker(&s, &hooks).await;
    let order = confirmed_with_cart_left(&mut s, &hooks, "alice").await;

    // The request's own attempt failed: counted, recorded, the row kept.
    assert_eq!(s.cart("alice").await.items.len(), 1);
    let rows = followups(&s, &order.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (kind, attempts, error, _) = &rows[0];
    assert_eq!((kind.as_str(), *attempts), ("CLEAR_CART", 1));
    assert!(
        error.as_deref().unwrap().contains("cart-service"),
        "{error:?}"
    );

    // The worker leaves a row to the request for a horizon.
    assert!(worker.run_followups(10).await.is_empty());

    // Each failure of the worker doubles the wait, up to the horizon (6 s).
    set_faults(&hooks, CART_DOWN);
    for (attempts, wait) in [(2, 2.0), (3, 4.0), (4, 6.0), (5, 6.0)] {
        all_due(&s).await;
        let ran = worker.run_followups(10).await;
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert!(ran[0].outcome.is_err(), "{ran:?}");
        let rows = followups(&s, &order.id).await;
        let (_, seen, error, due_in) = &rows[0];
        assert_eq!(*seen, attempts, "{rows:?}");
        assert!(error.is_some());
        assert!(
            (wait - 1.0..=wait + 0.05).contains(due_in),
            "attempt {attempts}: due in {due_in} s, want about {wait} s"
        );
        // Not due yet: the worker leaves it alone.
        assert!(worker.run_followups(10).await.is_empty());
    }

    // The cart answers again: the next attempt clears it and the row goes.
    hooks.faults().clear();
    all_due(&s).await;
    let ran = worker.run_followups(10).await;
    assert_eq!(
        ran,
        [Ran {
            order_id: Uuid::parse_str(&order.id).unwrap(),
            kind: "CLEAR_CART".into(),
            outcome: Ok("cart_cleared"),
        }]
    );
    assert!(followups(&s, &order.id).await.is_empty());
    assert!(s.cart("alice").await.items.is_empty());
    s.assert_invariants().await;
}

#[tokio::test]
async fn two_workers_never_run_the_same_follow_up() {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let order = confirmed_with_cart_left(&mut s, &hooks, &format!("shopper-{i}")).await;
        ids.push(Uuid::parse_str(&order.id).unwrap());
    }
    let (a, b) = (worker(&s, &hooks).await, worker(&s, &hooks).await);
    // Each clear takes a while, so the two workers' batches overlap.
    set_faults(&hooks, "latency 150ms on calls to RemovePurchasedItems");
    all_due(&s).await;

    let drain = |w: Worker| async move {
        let mut ran = Vec::new();
        loop {
            let batch = w.run_followups(3).await;
            if batch.is_empty() {
                return ran;
            }
            ran.extend(batch);
        }
    };
    let (ran_a, ran_b) = tokio::join!(drain(a), drain(b));

    assert!(
        !ran_a.is_empty() && !ran_b.is_empty(),
        "both worked: {ran_a:?} {ran_b:?}"
    );
    let mut ran: Vec<Uuid> = ran_a.iter().chain(&ran_b).map(|r| r.order_id).collect();
    assert!(
        ran_a
            .iter()
            .chain(&ran_b)
            .all(|r| r.outcome == Ok("cart_cleared")),
        "{ran_a:?} {ran_b:?}"
    );
    ran.sort();
    ids.sort();
    assert_eq!(ran, ids, "every follow-up ran exactly once");
    let pool = s.db.admin_pool().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.order_followups")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    for i in 0..12 {
        assert!(s.cart(&format!("shopper-{i}")).await.items.is_empty());
    }
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_follow_up_locked_by_another_worker_is_skipped_not_waited_for() {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let first = confirmed_with_cart_left(&mut s, &hooks, "alice").await;
    let second = confirmed_with_cart_left(&mut s, &hooks, "bob").await;
    let w = worker(&s, &hooks).await;
    all_due(&s).await;

    // Another worker holds alice's row (as during its claim).
    let pool = s.db.admin_pool().await;
    let mut other = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM orders.order_followups WHERE order_id = $1::uuid FOR UPDATE")
        .bind(&first.id)
        .execute(&mut *other)
        .await
        .unwrap();

    let ran = w.run_followups(10).await;

    let ids: Vec<String> = ran.iter().map(|r| r.order_id.to_string()).collect();
    assert_eq!(ids, std::slice::from_ref(&second.id), "{ran:?}");
    other.rollback().await.unwrap();
    let ran = w.run_followups(10).await;
    let ids: Vec<String> = ran.iter().map(|r| r.order_id.to_string()).collect();
    assert_eq!(ids, std::slice::from_ref(&first.id), "{ran:?}");
    s.assert_invariants().await;
}

#[tokio::test]
async fn cancelling_before_the_cart_is_cleared_keeps_both_follow_ups() {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let order = confirmed_with_cart_left(&mut s, &hooks, "alice").await;
    // The stock cannot go back yet either.
    set_faults(
        &hooks,
        "error unavailable on calls to RemovePurchasedItems; error unavailable on calls to ReleaseReservation",
    );
    let cancelled = s
        .orders
        .cancel_order(pb::CancelOrderRequest {
            user_id: "alice".into(),
            order_id: order.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);

    // One reaction per row: cancelling did not overwrite the cart's.
    let kinds: Vec<String> = followups(&s, &order.id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(kinds, ["CLEAR_CART", "RETURN_STOCK"]);

    hooks.faults().clear();
    all_due(&s).await;
    let mut done: Vec<_> = worker(&s, &hooks)
        .await
        .run_followups(10)
        .await
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    done.sort();
    assert_eq!(done, [Ok("cart_cleared"), Ok("stock_returned")]);
    assert!(followups(&s, &order.id).await.is_empty());
    assert!(s.cart("alice").await.items.is_empty());
    s.assert_invariants().await;
}

#[tokio::test]
async fn an_unknown_follow_up_kind_fails_alone_and_its_row_is_kept() {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let order = confirmed_with_cart_left(&mut s, &hooks, "alice").await;
    // As if a newer order-service had enqueued a reaction this one lacks.
    let pool = s.db.admin_pool().await;
    sqlx::raw_sql(&format!(
        "INSERT INTO orders.order_followups (order_id, kind) VALUES ('{}', 'SEND_INVOICE')",
        order.id
    ))
    .execute(&pool)
    .await
    .unwrap();
    all_due(&s).await;

    let mut ran = worker(&s, &hooks).await.run_followups(10).await;

    ran.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(ran[0].outcome, Ok("cart_cleared"));
    let error = ran[1].outcome.clone().unwrap_err();
    assert!(
        error.contains(r#"unknown follow-up kind "SEND_INVOICE""#),
        "{error}"
    );
    let rows = followups(&s, &order.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("SEND_INVOICE", 1));
    assert_eq!(rows[0].2.as_deref(), Some(error.as_str()));
}

#[tokio::test]
async fn an_unknown_stored_status_or_reason_is_an_internal_error_not_a_default() {
    let mut s = start().await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 1).await;
    let order = s.place("alice", "k").await.unwrap().into_inner();
    // bob asks for more than there is: a REJECTED order, INSUFFICIENT_STOCK.
    s.add("bob", &mug, 50).await;
    s.place("bob", "k").await.unwrap_err();
    let pool = s.db.admin_pool().await;
    sqlx::raw_sql(&format!(
        "ALTER TABLE orders.orders DROP CONSTRAINT orders_status_known;
         UPDATE orders.orders SET status = 'ON_HOLD' WHERE id = '{}';
         UPDATE orders.orders SET rejection_reason = 'SOLD_ON_MARS' WHERE user_id = 'bob'",
        order.id
    ))
    .execute(&pool)
    .await
    .unwrap();

    let err = s
        .orders
        .get_order(pb::GetOrderRequest {
            user_id: "alice".into(),
            order_id: order.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert_eq!(err.message(), "internal error");
    let err = s
        .orders
        .list_orders(pb::ListOrdersRequest {
            user_id: "alice".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    // The replay of bob's key does not make up a reason.
    let err = s.place("bob", "k").await.unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
}

/// Alice checks out three of ten mugs (key "k") on a quiet stack; the
/// checkout is held right after `step`.
async fn checkout_held_after(
    step: Step,
) -> (
    Stack,
    shop_proto::product::Product,
    order_service::test_util::Gate,
    tokio::task::JoinHandle<Result<tonic::Response<pb::Order>, tonic::Status>>,
) {
    let hooks = Hooks::default();
    let mut s = quiet_stack(&hooks).await;
    let mug = s.product("MUG", 100, 10).await;
    s.add("alice", &mug, 3).await;
    let mut gate = hooks.pause_after(step);
    let mut orders = s.orders.clone();
    let checkout = tokio::spawn(async move {
        orders
            .place_order(pb::PlaceOrderRequest {
                user_id: "alice".into(),
                idempotency_key: "k".into(),
            })
            .await
    });
    gate.reached().await;
    (s, mug, gate, checkout)
}

#[tokio::test]
async fn a_checkout_given_up_while_it_runs_is_never_confirmed() {
    let (mut s, mug, gate, checkout) = checkout_held_after(Step::Reserved).await;

    // Its stock is sold (a checkout's reserve commits at once); now the
    // order is given up (as recovery's `mark_release` does): the PENDING
    // order marked `given_up` and a RELEASE row, together.
    let pool = s.db.admin_pool().await;
    sqlx::query(
        "WITH given_up AS (UPDATE orders.orders SET given_up = true RETURNING id)
         INSERT INTO orders.order_followups (order_id, kind) SELECT id, 'RELEASE' FROM given_up",
    )
    .execute(&pool)
    .await
    .unwrap();
    gate.resume();
    let err = checkout.await.unwrap().unwrap_err();

    // The saga's conditional confirm saw the give-up: it gave the sold
    // stock back and settled.
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(s.available(&mug).await, 10);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.order_followups")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let replay = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&replay), "CHECKOUT_INTERRUPTED");
    s.assert_invariants().await;
}

#[tokio::test]
async fn a_give_up_that_commits_while_the_saga_waits_for_the_order_row_is_seen() {
    let (mut s, mug, gate, checkout) = checkout_held_after(Step::Committed).await;

    // Its stock is sold. A give-up holds the order's row, not yet
    // committed, while the saga goes on to confirm the order. (Paused any
    // earlier, a check that missed the give-up would be caught by the next
    // step's, whose statement starts after the give-up committed.)
    let pool = s.db.admin_pool().await;
    let mut give_up = pool.begin().await.unwrap();
    sqlx::query(
        "WITH given_up AS (UPDATE orders.orders SET given_up = true, updated_at = now() RETURNING id)
         INSERT INTO orders.order_followups (order_id, kind) SELECT id, 'RELEASE' FROM given_up",
    )
    .execute(&mut *give_up)
    .await
    .unwrap();
    gate.resume();
    // The saga's confirm waits for the row's lock...
    eventually(Duration::from_secs(5), async || {
        let waiting: i64 = sqlx::query_scalar(
            r"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~ 'UPDATE orders SET status = .CONFIRMED.'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        match waiting {
            0 => Err("the saga's confirm is not waiting for the give-up's row lock"),
            _ => Ok(()),
        }
    })
    .await;
    // ...and, once the give-up commits, re-checks the row the give-up wrote:
    // the order is not confirmed, and its sold stock goes back.
    give_up.commit().await.unwrap();
    let err = checkout.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(s.available(&mug).await, 10);
    let replay = s.place("alice", "k").await.unwrap_err();
    assert_eq!(reason(&replay), "CHECKOUT_INTERRUPTED");
    s.assert_invariants().await;
}
