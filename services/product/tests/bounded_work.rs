//! Work on the server is bounded: a statement waiting on a lock gives up
//! after `lock_timeout` as UNAVAILABLE, and a shutdown with a handler stuck
//! in the database still ends within the grace period.

mod common;

use std::time::{Duration, Instant};

use common::{new_product, start_with};
use shop_proto::product as pb;
use sqlx::Connection as _;

/// An administrator transaction holding every row of `product.products`
/// (the lock a migration or a long report could take), until dropped.
async fn lock_products(db: &shop_testkit::TestDb) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE product.products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[tokio::test]
async fn a_read_blocked_by_a_lock_fails_unavailable_after_the_lock_timeout() {
    let mut h = start_with(&[("DB_LOCK_TIMEOUT_MILLIS", "300")]).await;
    let id = h
        .client
        .create_product(new_product("LOCK-1", "Locked", "test", 3))
        .await
        .unwrap()
        .into_inner()
        .id;
    let _lock = lock_products(&h.db).await;

    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        h.client.get_product(pb::GetProductRequest { id }),
    )
    .await
    .expect("the call gives up on its own")
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(
        !status.message().contains("55P03"),
        "no internals: {status:?}"
    );
}

#[tokio::test]
async fn a_shutdown_with_a_handler_stuck_in_the_database_exits_cleanly_within_the_grace() {
    // The lock wait outlasts the grace period (2 s in tests) by far.
    let mut h = start_with(&[("DB_LOCK_TIMEOUT_MILLIS", "60000")]).await;
    let id = h
        .client
        .create_product(new_product("LOCK-2", "Locked", "test", 3))
        .await
        .unwrap()
        .into_inner()
        .id;
    let lock = lock_products(&h.db).await;
    let mut client = h.client.clone();
    let stuck = tokio::spawn(async move { client.get_product(pb::GetProductRequest { id }).await });
    // Let the call reach the database and queue behind the lock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stuck.is_finished());

    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), h.service.shut_down())
        .await
        .expect("run returns");
    let took = started.elapsed();
    assert!(result.is_ok(), "a clean exit: {result:?}");
    assert!(
        took < Duration::from_millis(3500),
        "exited after {took:?}; the grace is 2 s"
    );
    drop(lock);
    let _ = stuck.await;
}
