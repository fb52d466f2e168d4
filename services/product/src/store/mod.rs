//! The database of product-service: every SQL statement it runs, the
//! catalog's here and the reservations' in [`reservations`].
//!
//! Races are settled here, in SQL: stock moves with conditional updates under
//! row locks taken in a fixed order (product id ascending, so two
//! transactions never wait on each other in a cycle), reservations are keyed
//! by a primary key, SKUs by a unique constraint. Nothing checks first and
//! acts later. The constraints a caller can run into are mapped to their
//! errors next to the query that may violate them.

mod reservations;

use shop_runtime::db::OnConstraint as _;
use shop_runtime::db::Reads;
use shop_runtime::db::sql;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Cursor, ListFilter, NewProduct, Product, ProductPatch};
use crate::error::{Error, Result};

/// A second product with the same SKU.
const SKU_TAKEN: &str = "products_sku_key";
/// Available stock would go below zero.
const AVAILABLE_NOT_NEGATIVE: &str = "products_available_not_negative";

/// The stock a write-off would take below zero.
fn not_enough_stock() -> Error {
    Error::FailedPrecondition("not enough available stock".into())
}

/// Product-service's tables.
#[derive(Debug, Clone)]
pub struct Store {
    /// Pool confined to the `product` schema: every write and transaction.
    pool: PgPool,
    /// The same connections' settings, for the catalog reads of one
    /// statement: the browse path, without sqlx's round trip on release.
    reads: Reads,
}

/// A search page. Sent as an unnamed statement, so PostgreSQL plans it for
/// the pattern it carries: a rare pattern is found through the trigram
/// indexes and sorted, a common one by walking (name, id) in order until
/// the page is full. A prepared statement's cached generic plan cannot tell
/// them apart and, not knowing the pattern, walks the whole catalog in
/// order for a pattern that names one product: about 100 times the cost of
/// a product read over 20,000 products (`bench/search`, docs/benchmarks.md).
/// Checked against the schema by the search tests rather than by `query!`,
/// which has no unnamed form.
const SEARCH: &str = r#"
    SELECT id, sku, name, description, category, image_url, unit_price_minor, currency,
           available, created_at, updated_at
    FROM products
    WHERE (name ILIKE $2 OR description ILIKE $2)
      AND ($1::text IS NULL OR category = $1)
      AND ($3::text IS NULL OR (name, id) > ($3, $4::uuid))
    ORDER BY name, id
    LIMIT $5
"#;

impl Store {
    /// The store over `pool` for writes and `reads` for one-statement reads.
    pub fn new(pool: PgPool, reads: Reads) -> Self {
        Self { pool, reads }
    }

    /// One page of products after `after`, ordered by (name, id); fetches
    /// `limit` rows.
    #[sql("product.list")]
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<Product>> {
        let after_name = after.map(|c| c.name.clone());
        // Two statements rather than `$2 IS NULL OR ...`: a prepared
        // statement's generic plan could not use the trigram indexes then.
        let rows = match filter.like_pattern() {
            Some(pattern) => {
                self.reads
                    .run(async |conn| {
                        sqlx::query_as::<_, Product>(SEARCH)
                            .bind(&filter.category)
                            .bind(pattern)
                            .bind(after_name)
                            .bind(after.map(|c| c.id))
                            .bind(limit)
                            // An unnamed statement: planned for its own
                            // pattern every time (see SEARCH).
                            .persistent(false)
                            .fetch_all(conn)
                            .await
                    })
                    .await?
            }
            None => {
                self.reads
                    .run(async |conn| {
                        sqlx::query_as!(
                            Product,
                            r#"
            SELECT id, sku, name, description, category, image_url, unit_price_minor, currency,
                   available, created_at, updated_at
            FROM products
            WHERE ($1::text IS NULL OR category = $1)
              AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid))
            ORDER BY name, id
            LIMIT $4
            "#,
                            filter.category,
                            after_name,
                            after.map(|c| c.id),
                            limit,
                        )
                        .fetch_all(conn)
                        .await
                    })
                    .await?
            }
        };
        Ok(rows)
    }

    #[sql("product.get")]
    pub async fn get(&self, id: Uuid) -> Result<Product> {
        self.reads
            .run(async |conn| {
                sqlx::query_as!(
                    Product,
                    r#"
            SELECT id, sku, name, description, category, image_url, unit_price_minor, currency,
                   available, created_at, updated_at
            FROM products WHERE id = $1
            "#,
                    id
                )
                .fetch_optional(conn)
                .await
            })
            .await?
            .ok_or_else(|| product_not_found(id))
    }

    /// The products among `ids` that exist, in no particular order.
    ///
    /// `ANY(ARRAY(SELECT unnest($1)))` rather than `ANY($1)`: the set is
    /// the same, and PostgreSQL then keeps one generic plan for the
    /// statement. The reads leave the choice of plan to PostgreSQL (for
    /// the search), and with `ANY($1)` it plans every call anew, because
    /// the plan for a known array looks cheaper than the generic one (its
    /// planning cost 4 to 5 times its execution in `bench/checkout`; see
    /// docs/benchmarks.md, "Statements planned on every call"). The
    /// pool's statements are planned once anyway (`shop_runtime::db`).
    #[sql("product.get_many")]
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<Product>> {
        let rows = self
            .reads
            .run(async |conn| {
                sqlx::query_as!(
                    Product,
                    r#"
            SELECT id, sku, name, description, category, image_url, unit_price_minor, currency,
                   available, created_at, updated_at
            FROM products WHERE id = ANY(ARRAY(SELECT unnest($1::uuid[])))
            "#,
                    ids
                )
                .fetch_all(conn)
                .await
            })
            .await?;
        Ok(rows)
    }

    /// Inserts a product; a taken SKU fails on the unique constraint.
    #[sql("product.create")]
    pub async fn create(&self, new: &NewProduct) -> Result<Product> {
        let row = sqlx::query_as!(
            Product,
            r#"
            INSERT INTO products (sku, name, description, category, image_url, unit_price_minor, currency,
                                  available, stock_added)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
            RETURNING id, sku, name, description, category, image_url, unit_price_minor, currency,
                      available, created_at, updated_at
            "#,
            new.sku.as_str(),
            new.name,
            new.description,
            new.category,
            new.image_url,
            new.unit_price_minor,
            new.currency.as_str(),
            new.initial_stock,
        )
        .fetch_one(&self.pool)
        .await
        .on_constraint(SKU_TAKEN, || Error::SkuTaken)?;
        Ok(row)
    }

    /// Changes the fields set in `patch`; a changed price or currency is
    /// a `shop.product.price_changed` event, in the same transaction.
    #[sql("product.update")]
    pub async fn update(&self, id: Uuid, patch: &ProductPatch) -> Result<Product> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query!(
            "SELECT unit_price_minor, currency FROM products WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| product_not_found(id))?;
        let product = sqlx::query_as!(
            Product,
            r#"
            UPDATE products SET
                sku = COALESCE($2, sku),
                name = COALESCE($3, name),
                description = COALESCE($4, description),
                category = COALESCE($5, category),
                image_url = COALESCE($6, image_url),
                unit_price_minor = COALESCE($7, unit_price_minor),
                currency = COALESCE($8, currency),
                updated_at = now()
            WHERE id = $1
            RETURNING id, sku, name, description, category, image_url, unit_price_minor, currency,
                      available, created_at, updated_at
            "#,
            id,
            patch.sku.as_ref().map(|s| s.as_str()),
            patch.name,
            patch.description,
            patch.category,
            patch.image_url,
            patch.unit_price_minor,
            patch.currency.as_ref().map(|c| c.as_str()),
        )
        .fetch_optional(&mut *tx)
        .await
        .on_constraint(SKU_TAKEN, || Error::SkuTaken)?
        .ok_or_else(|| product_not_found(id))?;
        if product.unit_price_minor != before.unit_price_minor
            || product.currency != before.currency
        {
            let event = shop_proto::events::PriceChanged {
                product_id: id.to_string(),
                previous_unit_price_minor: before.unit_price_minor,
                unit_price_minor: product.unit_price_minor,
                currency: product.currency.clone(),
            };
            shop_runtime::events::outbox::record(
                &mut tx,
                shop_runtime::events::Topic::PriceChanged,
                &event.product_id,
                &event,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(product)
    }

    /// Restocks or writes off, in one conditional update that can never take
    /// available stock below zero.
    #[sql("product.adjust_stock")]
    pub async fn adjust_stock(&self, id: Uuid, delta: i64) -> Result<Product> {
        let updated = sqlx::query_as!(
            Product,
            r#"
            UPDATE products SET
                available = available + $2,
                stock_added = stock_added + $2,
                updated_at = now()
            WHERE id = $1 AND available + $2 >= 0
            RETURNING id, sku, name, description, category, image_url, unit_price_minor, currency,
                      available, created_at, updated_at
            "#,
            id,
            delta,
        )
        .fetch_optional(&self.pool)
        .await
        .on_constraint(AVAILABLE_NOT_NEGATIVE, not_enough_stock)?;
        match updated {
            Some(product) => Ok(product),
            // Nothing changed: say why (the answer may be stale, the refusal is not).
            None => {
                let current = self.get(id).await?;
                Err(Error::FailedPrecondition(format!(
                    "cannot write off {} units of product {id}: only {} available",
                    delta.unsigned_abs(),
                    current.available
                )))
            }
        }
    }

    /// Units held by reservations that are neither committed nor released.
    // Background job: traced at debug level only, so idle services export nothing.
    #[tracing::instrument(level = "debug", name = "sql", skip_all, fields(otel.name = "product.held_units", db.system = "postgresql"))]
    pub async fn held_units(&self) -> Result<i64> {
        let held = sqlx::query_scalar!(
            r#"SELECT COALESCE(SUM(held), 0)::bigint AS "held!" FROM products"#
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(held)
    }

    /// Inserts the demo catalog unless the catalog already has products.
    /// Safe when several instances start at once: SKUs are unique.
    #[sql("product.seed")]
    pub async fn seed(&self, products: &[NewProduct]) -> Result<u64> {
        let column = |f: fn(&NewProduct) -> String| products.iter().map(f).collect::<Vec<_>>();
        let prices: Vec<i64> = products.iter().map(|p| p.unit_price_minor).collect();
        let stock: Vec<i64> = products.iter().map(|p| p.initial_stock).collect();
        let result = sqlx::query!(
            r#"
            INSERT INTO products (sku, name, description, category, image_url, unit_price_minor, currency,
                                  available, stock_added)
            SELECT s.sku, s.name, s.description, s.category, s.image_url, s.price, s.currency, s.stock, s.stock
            FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
                 AS s(sku, name, description, category, image_url, price, currency, stock)
            WHERE NOT EXISTS (SELECT 1 FROM products)
            ON CONFLICT (sku) DO NOTHING
            "#,
            &column(|p| p.sku.as_str().to_owned()),
            &column(|p| p.name.clone()),
            &column(|p| p.description.clone()),
            &column(|p| p.category.clone()),
            &column(|p| p.image_url.clone()),
            &prices,
            &column(|p| p.currency.as_str().to_owned()),
            &stock,
        )
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}

fn product_not_found(id: Uuid) -> Error {
    Error::NotFound(format!("product {id} not found"))
}

#[cfg(test)]
mod tests {
    //! Statements of the checkout's path that PostgreSQL would plan on
    //! every call: the reads' batch get unless written for a generic plan
    //! (`Store::get_many`), the pool's unless its connections keep generic
    //! plans (`shop_runtime::db::connect`).

    use std::time::Duration;

    use sqlx::PgPool;
    use uuid::Uuid;

    use super::Store;
    use crate::domain::ReserveRequest;

    /// A store whose pool and reads are one connection each, connected as
    /// the service connects them (so the statements they prepared can be
    /// read back), with a catalog of 1,000 products.
    async fn one_connection_store(db: &shop_testkit::TestDb) -> (Store, PgPool, Vec<Uuid>) {
        let url = db.url("product_svc");
        let env = shop_testkit::env(&[
            ("DATABASE_URL", url.as_str()),
            ("PAGE_TOKEN_SECRET", shop_testkit::TEST_PAGE_TOKEN_SECRET),
            ("DB_MAX_CONNECTIONS", "2"),
        ]);
        let config = crate::Config::from_env(&env).unwrap();
        let (pool, reads) = crate::SERVICE
            .connect_with_reads(&config.common)
            .await
            .unwrap();
        let store = Store::new(pool.clone(), reads);
        // A catalog big enough to be read through its primary key (on a
        // few rows any plan is a scan, generic or not), with statistics,
        // as autovacuum keeps them under load.
        sqlx::raw_sql(
            "INSERT INTO products (sku, name, description, category, unit_price_minor, currency, available, stock_added)
             SELECT 'SKU-' || n, 'Product ' || n, 'Described', 'bulk', 100, 'USD', 100, 100
             FROM generate_series(1, 1000) AS n;
             ANALYZE products",
        )
        .execute(&pool)
        .await
        .unwrap();
        let ids = sqlx::query_scalar("SELECT id FROM products ORDER BY id LIMIT 2")
            .fetch_all(&pool)
            .await
            .unwrap();
        (store, pool, ids)
    }

    /// (generic plans, custom plans) of the statement on `conn` whose text
    /// contains `marker`.
    async fn plans(conn: &mut sqlx::PgConnection, marker: &str) -> (i64, i64) {
        sqlx::query_as(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE $1",
        )
        .bind(format!("%{marker}%"))
        .fetch_one(conn)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_batch_get_is_planned_once_not_on_every_call() {
        let db = shop_testkit::TestDb::new().await;
        let (store, _, ids) = one_connection_store(&db).await;
        for _ in 0..8 {
            assert_eq!(store.get_many(&ids).await.unwrap().len(), 2);
        }
        let (generic, custom) = store
            .reads
            .run(async |conn| Ok(plans(conn, "unnest($1").await))
            .await
            .unwrap();
        assert!(
            generic >= 3 && custom <= 5,
            "after five custom plans PostgreSQL keeps the generic one: {generic} generic, {custom} custom"
        );
    }

    #[tokio::test]
    async fn the_reserve_lock_on_products_is_planned_once_not_on_every_call() {
        let db = shop_testkit::TestDb::new().await;
        let (store, pool, ids) = one_connection_store(&db).await;
        for _ in 0..8 {
            let request = ReserveRequest::new(
                Uuid::new_v4(),
                [(ids[0], 1), (ids[1], 1)],
                Duration::from_secs(60),
            )
            .unwrap()
            .committing(true);
            store.reserve(&request).await.unwrap();
        }
        let mut conn = pool.acquire().await.unwrap();
        let (generic, custom) = plans(&mut conn, "FOR UPDATE").await;
        assert!(
            generic >= 3 && custom <= 5,
            "after five custom plans PostgreSQL keeps the generic one: {generic} generic, {custom} custom"
        );
    }
}
