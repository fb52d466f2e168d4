//! The connection budget: product-service's pool and its one-statement
//! reads together never open more than `DB_MAX_CONNECTIONS`, however many
//! calls arrive at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use shop_proto::product::{self as pb};

use common::{connect, create, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_at_once_never_open_more_than_the_budget() {
    let mut h = start_with(&[("DB_MAX_CONNECTIONS", "4")]).await;
    let mug = create(&mut h.client, "MUG", 1_000_000).await;

    // The most connections the service's role holds on this database,
    // sampled while the load runs.
    let admin = h.db.admin_pool().await;
    let database = h.db.name.clone();
    let peak = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (peak, stop) = (peak.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let open: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'product_svc' AND datname = $1",
                )
                .bind(&database)
                .fetch_one(&admin)
                .await
                .unwrap();
                peak.fetch_max(open, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let mut calls = Vec::new();
    for n in 0..60 {
        let mut client = connect(&h.service).await;
        let id = mug.id.clone();
        calls.push(tokio::spawn(async move {
            if n % 3 == 0 {
                client
                    .adjust_stock(pb::AdjustStockRequest { id, delta: 1 })
                    .await
                    .map(|_| ())
            } else {
                client
                    .get_product(pb::GetProductRequest { id })
                    .await
                    .map(|_| ())
            }
        }));
    }
    let mut answered = 0;
    for call in calls {
        if call.await.unwrap().is_ok() {
            answered += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    let peak = peak.load(Ordering::Relaxed);
    assert!(answered >= 50, "the load was served: {answered} of 60");
    assert!(peak <= 4, "{peak} connections open, over the budget of 4");
    assert!(peak >= 2, "both the pool and the reads were used: {peak}");
}
