//! Stock reservations over real gRPC: all-or-none holds, idempotent retries,
//! commit, release, races for the last units and TTL expiry.

mod common;

use std::time::Duration;

use common::{buckets, create, line, start};
use shop_proto::product::{self as pb, ReservationStatus};
use tonic::Code;
use tonic_types::StatusExt as _;
use uuid::Uuid;

fn reserve(id: &str, lines: Vec<pb::ReservationLine>) -> pb::ReserveStockRequest {
    pb::ReserveStockRequest {
        reservation_id: id.into(),
        lines,
        ttl_seconds: 0,
        commit: false,
    }
}

/// A reserve that sells at once (`commit`), as a checkout's is.
fn reserve_and_commit(id: &str, lines: Vec<pb::ReservationLine>) -> pb::ReserveStockRequest {
    pb::ReserveStockRequest {
        commit: true,
        ..reserve(id, lines)
    }
}

#[tokio::test]
async fn reserve_commit_and_release_move_stock_between_buckets() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let id = Uuid::new_v4().to_string();

    let held = h
        .client
        .reserve_stock(reserve(&id, vec![line(&mug, 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status(), ReservationStatus::Held);
    assert_eq!(held.lines.len(), 1);
    assert_eq!(
        (held.lines[0].quantity, held.lines[0].unit_price_minor),
        (3, mug.unit_price_minor)
    );
    assert_eq!(buckets(&h.db, &mug.id).await, (7, 3, 0, 10));

    let committed = h
        .client
        .commit_reservation(pb::CommitReservationRequest {
            reservation_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(committed.status(), ReservationStatus::Committed);
    assert_eq!(buckets(&h.db, &mug.id).await, (7, 0, 3, 10));

    // A second commit changes nothing.
    h.client
        .commit_reservation(pb::CommitReservationRequest {
            reservation_id: id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (7, 0, 3, 10));

    // Releasing a committed reservation (a cancelled order) returns the stock, once.
    for _ in 0..2 {
        let released = h
            .client
            .release_reservation(pb::ReleaseReservationRequest {
                reservation_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(released.status(), ReservationStatus::Released);
        assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));
    }

    let late_commit = h
        .client
        .commit_reservation(pb::CommitReservationRequest { reservation_id: id })
        .await
        .unwrap_err();
    assert_eq!(late_commit.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_reserve_with_commit_sells_the_stock_at_once_and_a_retry_sells_nothing_more() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let id = Uuid::new_v4().to_string();

    let sold = h
        .client
        .reserve_stock(reserve_and_commit(&id, vec![line(&mug, 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sold.status(), ReservationStatus::Committed);
    assert_eq!(
        (sold.lines[0].quantity, sold.lines[0].unit_price_minor),
        (3, mug.unit_price_minor)
    );
    // Straight from available to sold: nothing is held on the way.
    assert_eq!(buckets(&h.db, &mug.id).await, (7, 0, 3, 10));

    // The retry of the same call, and a commit after it, change nothing.
    let retry = h
        .client
        .reserve_stock(reserve_and_commit(&id, vec![line(&mug, 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.status(), ReservationStatus::Committed);
    h.client
        .commit_reservation(pb::CommitReservationRequest {
            reservation_id: id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (7, 0, 3, 10));
    let stored = h
        .client
        .get_reservation(pb::GetReservationRequest {
            reservation_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.status(), ReservationStatus::Committed);

    // Released (the order given up or cancelled), the sold stock goes back once.
    h.client
        .release_reservation(pb::ReleaseReservationRequest { reservation_id: id })
        .await
        .unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));
}

#[tokio::test]
async fn a_short_reserve_with_commit_sells_nothing() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 2).await;
    let err = h
        .client
        .reserve_stock(reserve_and_commit(
            &Uuid::new_v4().to_string(),
            vec![line(&mug, 3)],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(buckets(&h.db, &mug.id).await, (2, 0, 0, 2));
}

#[tokio::test]
async fn releasing_a_held_reservation_returns_its_stock() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 4).await;
    let id = Uuid::new_v4().to_string();
    h.client
        .reserve_stock(reserve(&id, vec![line(&mug, 4)]))
        .await
        .unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (0, 4, 0, 4));

    h.client
        .release_reservation(pb::ReleaseReservationRequest { reservation_id: id })
        .await
        .unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (4, 0, 0, 4));
}

#[tokio::test]
async fn a_retried_reserve_with_the_same_id_holds_stock_once() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let id = Uuid::new_v4().to_string();

    let first = h
        .client
        .reserve_stock(reserve(&id, vec![line(&mug, 2)]))
        .await
        .unwrap()
        .into_inner();
    let retry = h
        .client
        .reserve_stock(reserve(&id, vec![line(&mug, 2)]))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(first, retry);
    assert_eq!(buckets(&h.db, &mug.id).await, (8, 2, 0, 10));
}

#[tokio::test]
async fn a_short_line_fails_the_whole_reservation_and_lists_the_short_lines() {
    let mut h = start().await;
    let plenty = create(&mut h.client, "PLENTY", 10).await;
    let scarce = create(&mut h.client, "SCARCE", 1).await;

    let err = h
        .client
        .reserve_stock(reserve(
            &Uuid::new_v4().to_string(),
            vec![line(&plenty, 5), line(&scarce, 2)],
        ))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&scarce.id), "{}", err.message());
    let violations = err
        .get_details_precondition_failure()
        .expect("precondition details")
        .violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].subject, scarce.id);
    assert_eq!(violations[0].description, "requested 2, available 1");
    // Nothing is held, not even the line that had stock.
    assert_eq!(buckets(&h.db, &plenty.id).await, (10, 0, 0, 10));
    assert_eq!(buckets(&h.db, &scarce.id).await, (1, 0, 0, 1));
}

#[tokio::test]
async fn bad_reservations_are_invalid_argument_or_not_found() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let id = Uuid::new_v4().to_string();

    let cases = [
        (reserve("nope", vec![line(&mug, 1)]), "reservation_id"),
        (reserve(&id, vec![]), "lines"),
        (reserve(&id, vec![line(&mug, 0)]), "lines.quantity"),
        (reserve(&id, vec![line(&mug, -3)]), "lines.quantity"),
        (
            reserve(
                &id,
                vec![pb::ReservationLine {
                    product_id: "x".into(),
                    quantity: 1,
                }],
            ),
            "lines.product_id",
        ),
    ];
    for (req, field) in cases {
        let err = h.client.reserve_stock(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }

    let unknown = pb::ReservationLine {
        product_id: Uuid::new_v4().to_string(),
        quantity: 1,
    };
    let err = h
        .client
        .reserve_stock(reserve(&id, vec![line(&mug, 1), unknown]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));

    let err = h
        .client
        .commit_reservation(pb::CommitReservationRequest {
            reservation_id: Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn twenty_concurrent_reservations_for_the_last_five_units_let_exactly_five_win() {
    let mut h = start().await;
    let last = create(&mut h.client, "LAST", 5).await;

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut client = h.client.clone();
            let req = reserve(&Uuid::new_v4().to_string(), vec![line(&last, 1)]);
            tokio::spawn(async move { client.reserve_stock(req).await })
        })
        .collect();
    let (mut won, mut lost) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
                lost += 1;
            }
        }
    }

    assert_eq!((won, lost), (5, 15));
    assert_eq!(buckets(&h.db, &last.id).await, (0, 5, 0, 5));
}

#[tokio::test]
async fn an_expired_reservation_gives_its_stock_back_and_cannot_be_committed() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 3).await;
    let id = Uuid::new_v4().to_string();
    let mut req = reserve(&id, vec![line(&mug, 3)]);
    req.ttl_seconds = 1;
    h.client.reserve_stock(req).await.unwrap();
    assert_eq!(buckets(&h.db, &mug.id).await, (0, 3, 0, 3));

    // The sweeper runs every 100 ms in tests; allow it a few seconds.
    let mut status = ReservationStatus::Held;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = h
            .client
            .get_reservation(pb::GetReservationRequest {
                reservation_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == ReservationStatus::Expired {
            break;
        }
    }

    assert_eq!(status, ReservationStatus::Expired);
    assert_eq!(buckets(&h.db, &mug.id).await, (3, 0, 0, 3));
    let commit = h
        .client
        .commit_reservation(pb::CommitReservationRequest { reservation_id: id })
        .await
        .unwrap_err();
    assert_eq!(commit.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn committing_after_the_ttl_but_before_the_sweep_fails_and_returns_the_stock() {
    // A sweeper that never runs during the test isolates the commit path.
    let mut h = common::start_with(&[("RESERVATION_SWEEP_MILLIS", "3600000")]).await;
    let mug = create(&mut h.client, "MUG", 2).await;
    let id = Uuid::new_v4().to_string();
    let mut req = reserve(&id, vec![line(&mug, 2)]);
    req.ttl_seconds = 1;
    h.client.reserve_stock(req).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let err = h
        .client
        .commit_reservation(pb::CommitReservationRequest { reservation_id: id })
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(buckets(&h.db, &mug.id).await, (2, 0, 0, 2));
}

#[tokio::test]
async fn a_reserve_that_lands_after_its_release_holds_nothing() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let id = Uuid::new_v4().to_string();
    // The release comes first (recovery gave the order up while its
    // reserve was still on the way) and leaves a tombstone.
    let released = h
        .client
        .release_reservation(pb::ReleaseReservationRequest {
            reservation_id: id.clone(),
        })
        .await
        .expect("releasing an unknown reservation succeeds")
        .into_inner();
    assert_eq!(released.status(), pb::ReservationStatus::Released);
    assert!(released.lines.is_empty());

    // The late reserve finds the id taken: nothing is held.
    let late = h
        .client
        .reserve_stock(reserve(&id, vec![line(&mug, 3)]))
        .await
        .expect("the reserve answers with the reservation under its id")
        .into_inner();
    assert_eq!(late.status(), pb::ReservationStatus::Released);
    assert!(late.lines.is_empty());
    assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));
    let err = h
        .client
        .commit_reservation(pb::CommitReservationRequest { reservation_id: id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "nothing to commit");
}
