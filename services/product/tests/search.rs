//! Catalog search goes through the trigram indexes, not a scan of the
//! whole table (issue 28: search was an anonymous table scan).

mod common;

use std::time::Duration;

use common::{create, start};
use shop_proto::product as pb;

/// product-service's search statement (`Store::list` with a query), as
/// PostgreSQL plans it.
async fn plan_of_search(db: &shop_testkit::TestDb, pattern: &str) -> String {
    let pool = db.admin_pool().await;
    let mut conn = pool.acquire().await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        r#"
        EXPLAIN
        SELECT id, sku, name, description, category, image_url, unit_price_minor, currency,
               available, created_at, updated_at
        FROM product.products
        WHERE (name ILIKE $2 OR description ILIKE $2)
          AND ($1::text IS NULL OR category = $1)
          AND ($3::text IS NULL OR (name, id) > ($3, $4::uuid))
        ORDER BY name, id
        LIMIT $5
        "#,
    )
    .bind(None::<String>)
    .bind(pattern)
    .bind(None::<String>)
    .bind(None::<uuid::Uuid>)
    .bind(20_i64)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    plan.join("\n")
}

/// A started product-service whose catalog holds "MUG" among 20,000 other
/// products (on a table of a few rows any plan is a scan), statistics fresh.
async fn big_catalog() -> common::Harness {
    let mut h = start().await;
    create(&mut h.client, "MUG", 5).await;
    let pool = h.db.admin_pool().await;
    sqlx::raw_sql(
        "INSERT INTO product.products (sku, name, description, category, unit_price_minor, currency)
         SELECT 'SKU-' || n, 'Product ' || md5(n::text), 'Described ' || md5((n * 7)::text), 'bulk', 100, 'USD'
         FROM generate_series(1, 20000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql("VACUUM ANALYZE product.products")
        .execute(&pool)
        .await
        .unwrap();
    h
}

#[tokio::test]
async fn a_catalog_search_uses_the_trigram_indexes_of_name_and_description() {
    let h = big_catalog().await;
    let plan = plan_of_search(&h.db, "%ceramic mug%").await;
    assert!(plan.contains("products_name_trgm_idx"), "{plan}");
    assert!(plan.contains("products_description_trgm_idx"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

/// Index scans of the trigram indexes, and rows read through the (name, id)
/// index, as PostgreSQL counts them.
async fn index_use(db: &shop_testkit::TestDb) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce(sum(idx_scan) FILTER (WHERE indexrelname LIKE '%trgm%'), 0)::bigint,
                coalesce(sum(idx_tup_read) FILTER (WHERE indexrelname = 'products_name_id_idx'), 0)::bigint
         FROM pg_stat_user_indexes WHERE schemaname = 'product'",
    )
    .fetch_one(&db.admin_pool().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_rare_search_served_many_times_keeps_using_the_trigram_indexes() {
    // A prepared statement switches to a cached generic plan after five
    // runs; for a pattern it cannot see, that plan walked all 20,000
    // products in (name, id) order. The search is planned for its pattern
    // every time.
    let mut h = big_catalog().await;
    let (scans_before, walked_before) = index_use(&h.db).await;
    let rare = "Product c4ca4238a0b923820dcc509a6f75849b"; // md5('1'): one product
    for _ in 0..12 {
        let page = h
            .client
            .list_products(pb::ListProductsRequest {
                query: rare.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.products.len(), 1);
    }
    // An idle backend hands its statistics to the shared counters within
    // about ten seconds (PostgreSQL's idle flush interval).
    let mut used = (0, 0);
    for _ in 0..150 {
        let (scans, walked) = index_use(&h.db).await;
        used = (scans - scans_before, walked - walked_before);
        if used.0 >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(used.0 >= 12, "every search scans a trigram index: {used:?}");
    assert!(
        used.1 < 1_000,
        "no search walks the catalog in name order: {used:?}"
    );
}
