//! Catalog search goes through the trigram indexes, not a scan of the
//! whole table (issue 28: search was an anonymous table scan).

mod common;

use common::{create, start};

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

#[tokio::test]
async fn a_catalog_search_uses_the_trigram_indexes_of_name_and_description() {
    let mut h = start().await;
    // Served, so migrated: a product in the catalog, among 20,000 others
    // (on a table of a few rows any plan is a scan), statistics fresh.
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
    let plan = plan_of_search(&h.db, "%ceramic mug%").await;
    assert!(plan.contains("products_name_trgm_idx"), "{plan}");
    assert!(plan.contains("products_description_trgm_idx"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}
