//! Real PostgreSQL failures a retry can resolve (serialization failure,
//! deadlock, lock not available, statement timeout) are classified once by
//! `shop_runtime::db::classify`, and cart-service and product-service both turn
//! them into UNAVAILABLE, never INTERNAL or ABORTED.

use std::time::Duration;

use shop_runtime::db::{self, DbFailure, Retry};
use shop_testkit::TestDb;
use sqlx::{Connection as _, PgConnection};
use tonic::Code;

async fn connect(db: &TestDb) -> PgConnection {
    PgConnection::connect(&db.admin_url()).await.unwrap()
}

/// A table with two rows, ids 1 and 2.
async fn contended_table(db: &TestDb) {
    let mut conn = connect(db).await;
    sqlx::raw_sql(
        "CREATE TABLE public.contended (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO public.contended VALUES (1, 0), (2, 0);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn update(conn: &mut PgConnection, id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE public.contended SET v = v + 1 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

async fn serialization_failure(db: &TestDb) -> sqlx::Error {
    let (mut a, mut b) = (connect(db).await, connect(db).await);
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM public.contended")
        .execute(&mut a)
        .await
        .unwrap();
    update(&mut b, 1).await.unwrap();
    update(&mut a, 1)
        .await
        .expect_err("a concurrent update under REPEATABLE READ fails")
}

async fn deadlock(db: &TestDb) -> sqlx::Error {
    let (mut a, mut b) = (connect(db).await, connect(db).await);
    sqlx::raw_sql("BEGIN").execute(&mut a).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut b).await.unwrap();
    update(&mut a, 1).await.unwrap();
    update(&mut b, 2).await.unwrap();
    // Each waits for the other's row: PostgreSQL breaks the cycle after
    // deadlock_timeout by failing one of them.
    let (ra, rb) = tokio::join!(update(&mut a, 2), update(&mut b, 1));
    match (ra, rb) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("expected exactly one deadlock victim, got {other:?}"),
    }
}

async fn lock_not_available(db: &TestDb) -> sqlx::Error {
    let (mut a, mut b) = (connect(db).await, connect(db).await);
    sqlx::raw_sql("BEGIN; SELECT * FROM public.contended WHERE id = 1 FOR UPDATE")
        .execute(&mut a)
        .await
        .unwrap();
    sqlx::query("SELECT * FROM public.contended WHERE id = 1 FOR UPDATE NOWAIT")
        .execute(&mut b)
        .await
        .expect_err("NOWAIT on a locked row fails")
}

async fn statement_timeout(db: &TestDb) -> sqlx::Error {
    let mut conn = connect(db).await;
    sqlx::raw_sql("SET statement_timeout = '50ms'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_sleep(5)")
        .execute(&mut conn)
        .await
        .expect_err("statement_timeout cancels the sleep")
}

fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

fn assert_unavailable_everywhere(e: sqlx::Error, expected: Retry, code: &str) {
    assert_eq!(sqlstate(&e), code, "{e}");
    assert_eq!(db::classify(&e), DbFailure::Retry(expected), "{e}");
    let cart = tonic::Status::from(cart_service::Error::from(e));
    assert_eq!(cart.code(), Code::Unavailable, "cart-service: {cart:?}");
    assert!(cart.message().contains("retry"), "{}", cart.message());
}

fn assert_product_unavailable(e: sqlx::Error) {
    let product = tonic::Status::from(product_service::Error::from(e));
    assert_eq!(
        product.code(),
        Code::Unavailable,
        "product-service: {product:?}"
    );
    assert!(product.message().contains("retry"), "{}", product.message());
}

#[tokio::test]
async fn a_serialization_failure_from_postgres_is_unavailable_in_cart_and_product() {
    let db = TestDb::new().await;
    contended_table(&db).await;

    assert_unavailable_everywhere(serialization_failure(&db).await, Retry::Contention, "40001");
    assert_product_unavailable(serialization_failure(&db).await);
}

#[tokio::test]
async fn a_deadlock_from_postgres_is_unavailable_in_cart_and_product() {
    let db = TestDb::new().await;
    contended_table(&db).await;

    assert_unavailable_everywhere(deadlock(&db).await, Retry::Contention, "40P01");
    assert_product_unavailable(deadlock(&db).await);
}

#[tokio::test]
async fn a_lock_not_available_from_postgres_is_unavailable_in_cart_and_product() {
    let db = TestDb::new().await;
    contended_table(&db).await;

    assert_unavailable_everywhere(lock_not_available(&db).await, Retry::Contention, "55P03");
    assert_product_unavailable(lock_not_available(&db).await);
}

#[tokio::test]
async fn a_statement_timeout_from_postgres_is_unavailable_in_cart_and_product() {
    let db = TestDb::new().await;

    let started = std::time::Instant::now();
    assert_unavailable_everywhere(statement_timeout(&db).await, Retry::Timeout, "57014");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_product_unavailable(statement_timeout(&db).await);
}

#[tokio::test]
async fn a_constraint_violation_from_postgres_is_not_retryable() {
    let db = TestDb::new().await;
    contended_table(&db).await;
    let mut conn = connect(&db).await;

    let e = sqlx::query("INSERT INTO public.contended VALUES (1, 0)")
        .execute(&mut conn)
        .await
        .expect_err("duplicate key");

    assert_eq!(db::classify(&e), DbFailure::Constraint("contended_pkey"));
    let status = tonic::Status::from(cart_service::Error::from(e));
    assert_eq!(status.code(), Code::Internal);
}
