//! The database of order-service: every SQL statement it runs.
//!
//! Status changes are conditional updates (`WHERE status = 'PENDING'`,
//! `WHERE status = 'CONFIRMED'`), so two actors racing on one order (a
//! request and the recovery loop, or two cancels) cannot both win. The
//! (user, idempotency key) pair is a unique constraint.
//!
//! Asking for stock, giving a checkout up and deleting a PENDING order are
//! conditional updates of the same row, so the saga and the recovery loop
//! agree on whether a reservation may exist: an order whose checkout asked
//! for stock (`stock_requested`) is never deleted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Cursor, Followup, Order, OrderItem, OrderStatus, RejectionReason, Shortage};
use crate::error::{Error, Result};

/// order-service's tables.
#[derive(Debug, Clone)]
pub struct Store {
    /// Pool confined to the `orders` schema.
    pool: PgPool,
}

/// An order row without its lines.
struct Head {
    id: Uuid,
    number: i64,
    user_id: String,
    status: String,
    total_minor: i64,
    currency: String,
    rejection_reason: Option<String>,
    shortages: Option<serde_json::Value>,
    followup: Option<String>,
    stock_requested: bool,
    created_at: DateTime<Utc>,
}

impl Store {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records a PENDING order unless the user already used the key;
    /// returns its number (from the sequence), or None when the key was
    /// taken.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.insert_pending", db.system = "postgresql"))]
    pub async fn insert_pending(&self, id: Uuid, user_id: &str, key: &str) -> Result<Option<i64>> {
        let number = sqlx::query_scalar!(
            r#"
            INSERT INTO orders (id, user_id, idempotency_key, status) VALUES ($1, $2, $3, 'PENDING')
            ON CONFLICT (user_id, idempotency_key) DO NOTHING
            RETURNING number
            "#,
            id,
            user_id,
            key
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(number)
    }

    /// The order a user placed with a key.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.by_key", db.system = "postgresql"))]
    pub async fn by_key(&self, user_id: &str, key: &str) -> Result<Order> {
        let id = sqlx::query_scalar!(
            "SELECT id FROM orders WHERE user_id = $1 AND idempotency_key = $2",
            user_id,
            key
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        self.get(id).await
    }

    /// One order with its lines.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.get", db.system = "postgresql"))]
    pub async fn get(&self, id: Uuid) -> Result<Order> {
        let head = sqlx::query_as!(
            Head,
            r#"
            SELECT id, number, user_id, status, total_minor, currency, rejection_reason, shortages,
                   followup, stock_requested, created_at
            FROM orders WHERE id = $1
            "#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let mut orders = self.with_items(vec![head]).await?;
        Ok(orders.remove(0))
    }

    /// A page of a user's history, newest first; empty-cart refusals are not orders and are left out.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.list", db.system = "postgresql"))]
    pub async fn list(
        &self,
        user_id: &str,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<Order>> {
        let after_time =
            after.and_then(|c| DateTime::<Utc>::from_timestamp_micros(c.created_at_micros));
        let heads = sqlx::query_as!(
            Head,
            r#"
            SELECT id, number, user_id, status, total_minor, currency, rejection_reason, shortages,
                   followup, stock_requested, created_at
            FROM orders
            WHERE user_id = $1
              AND rejection_reason IS DISTINCT FROM 'EMPTY_CART'
              AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
            ORDER BY created_at DESC, id DESC
            LIMIT $4
            "#,
            user_id,
            after_time,
            after.map(|c| c.id),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        self.with_items(heads).await
    }

    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.with_items", db.system = "postgresql"))]
    async fn with_items(&self, heads: Vec<Head>) -> Result<Vec<Order>> {
        let ids: Vec<Uuid> = heads.iter().map(|h| h.id).collect();
        let rows = sqlx::query!(
            r#"
            SELECT order_id, product_id, sku, name, quantity, unit_price_minor, line_total_minor
            FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, sku
            "#,
            &ids
        )
        .fetch_all(&self.pool)
        .await?;
        heads
            .into_iter()
            .map(|h| {
                let items = rows
                    .iter()
                    .filter(|r| r.order_id == h.id)
                    .map(|r| OrderItem {
                        product_id: r.product_id,
                        sku: r.sku.clone(),
                        name: r.name.clone(),
                        quantity: r.quantity,
                        unit_price_minor: r.unit_price_minor,
                        line_total_minor: r.line_total_minor,
                    })
                    .collect();
                let shortages: Vec<Shortage> = match h.shortages {
                    Some(json) => {
                        serde_json::from_value(json).map_err(|e| Error::Internal(e.into()))?
                    }
                    None => Vec::new(),
                };
                Ok(Order {
                    id: h.id,
                    number: h.number,
                    user_id: h.user_id,
                    status: OrderStatus::parse(&h.status).map_err(Error::Internal)?,
                    items,
                    total_minor: h.total_minor,
                    currency: h.currency,
                    rejection_reason: h
                        .rejection_reason
                        .as_deref()
                        .and_then(RejectionReason::parse),
                    shortages,
                    followup: h.followup.as_deref().and_then(Followup::parse),
                    stock_requested: h.stock_requested,
                    created_at: h.created_at,
                })
            })
            .collect()
    }

    /// Replaces the lines of a PENDING order (the cart as checkout saw it).
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.set_items", db.system = "postgresql"))]
    pub async fn set_items(&self, id: Uuid, items: &[OrderItem], currency: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        replace_items(&mut tx, id, items).await?;
        let total: i64 = items.iter().map(|i| i.line_total_minor).sum();
        sqlx::query!(
            "UPDATE orders SET total_minor = $2, currency = $3, updated_at = now() WHERE id = $1 AND status = 'PENDING'",
            id,
            total,
            currency
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// PENDING → CONFIRMED with the reserved lines, leaving the cart to clear.
    /// Returns false when the order was no longer PENDING or was given up.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.confirm", db.system = "postgresql"))]
    pub async fn confirm(&self, id: Uuid, items: &[OrderItem], currency: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let total: i64 = items.iter().map(|i| i.line_total_minor).sum();
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET status = 'CONFIRMED', total_minor = $2, currency = $3, followup = 'CLEAR_CART',
                              updated_at = now()
            WHERE id = $1 AND status = 'PENDING' AND followup IS NULL
            "#,
            id,
            total,
            currency
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        replace_items(&mut tx, id, items).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// PENDING → REJECTED. Returns false when the order was no longer PENDING.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.reject", db.system = "postgresql"))]
    pub async fn reject(
        &self,
        id: Uuid,
        reason: RejectionReason,
        shortages: &[Shortage],
    ) -> Result<bool> {
        let shortages = (!shortages.is_empty())
            .then(|| serde_json::to_value(shortages))
            .transpose()
            .map_err(|e| Error::Internal(e.into()))?;
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET status = 'REJECTED', rejection_reason = $2, shortages = $3, updated_at = now()
            WHERE id = $1 AND status = 'PENDING'
            "#,
            id,
            reason.as_str(),
            shortages
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Marks a PENDING order as asking product-service for stock, right
    /// before the saga sends ReserveStock. Returns false when the order was
    /// forgotten or given up meanwhile: then the saga must not reserve.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.request_stock", db.system = "postgresql"))]
    pub async fn request_stock(&self, id: Uuid) -> Result<bool> {
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET stock_requested = true, updated_at = now()
            WHERE id = $1 AND status = 'PENDING' AND followup IS NULL
            "#,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Forgets a PENDING order that never asked for stock, so the shopper's
    /// retry with the same key starts afresh. Returns false when the order
    /// asked for stock meanwhile (or is gone): then it is kept.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.forget_pending", db.system = "postgresql"))]
    pub async fn forget_pending(&self, id: Uuid) -> Result<bool> {
        let deleted = sqlx::query!(
            "DELETE FROM orders WHERE id = $1 AND status = 'PENDING' AND NOT stock_requested",
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Touches a PENDING order nobody gave up on, right before its stock is
    /// committed. Returns false when the order was given up, settled or
    /// forgotten: then the saga must not commit and gives its stock back.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.still_pending", db.system = "postgresql"))]
    pub async fn still_pending(&self, id: Uuid) -> Result<bool> {
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET updated_at = now()
            WHERE id = $1 AND status = 'PENDING' AND followup IS NULL
            "#,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Gives a checkout up durably: a PENDING (or already REJECTED) order
    /// gets the follow-up RELEASE, so its reservation goes back even if
    /// this process dies next. A CONFIRMED order is left alone. Returns
    /// whether the follow-up is set.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.mark_release", db.system = "postgresql"))]
    pub async fn mark_release(&self, id: Uuid) -> Result<bool> {
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET followup = 'RELEASE', updated_at = now()
            WHERE id = $1 AND status IN ('PENDING', 'REJECTED')
            "#,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Finishes a RELEASE follow-up once the reservation is released: a
    /// PENDING order becomes REJECTED (CHECKOUT_INTERRUPTED), a REJECTED one
    /// keeps its reason. Returns false when there was no such follow-up.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.settle_release", db.system = "postgresql"))]
    pub async fn settle_release(&self, id: Uuid) -> Result<bool> {
        let updated = sqlx::query!(
            r#"
            UPDATE orders
            SET status = 'REJECTED',
                rejection_reason = CASE WHEN status = 'PENDING' THEN $2 ELSE rejection_reason END,
                followup = NULL, updated_at = now()
            WHERE id = $1 AND followup = 'RELEASE' AND status IN ('PENDING', 'REJECTED')
            "#,
            id,
            RejectionReason::Interrupted.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// CONFIRMED → CANCELLED, leaving the stock to return. Returns false when
    /// the order was not the user's CONFIRMED order.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.cancel", db.system = "postgresql"))]
    pub async fn cancel(&self, id: Uuid, user_id: &str) -> Result<bool> {
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET status = 'CANCELLED', followup = 'RETURN_STOCK', updated_at = now()
            WHERE id = $1 AND user_id = $2 AND status = 'CONFIRMED'
            "#,
            id,
            user_id
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Marks a follow-up as done.
    #[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.followup_done", db.system = "postgresql"))]
    pub async fn followup_done(&self, id: Uuid, followup: Followup) -> Result<()> {
        sqlx::query!(
            "UPDATE orders SET followup = NULL, updated_at = now() WHERE id = $1 AND followup = $2",
            id,
            followup.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` orders untouched for `horizon` that are PENDING or
    /// have a follow-up. Claiming bumps `updated_at`, so another instance's
    /// recovery loop leaves them alone for another horizon.
    // Background job: traced at debug level only, so idle services export nothing.
    #[tracing::instrument(level = "debug", name = "sql", skip_all, fields(otel.name = "orders.claim_unfinished", db.system = "postgresql"))]
    pub async fn claim_unfinished(&self, horizon: Duration, limit: i64) -> Result<Vec<Uuid>> {
        let ids = sqlx::query_scalar!(
            r#"
            UPDATE orders SET updated_at = now()
            WHERE id IN (
                SELECT id FROM orders
                WHERE (status = 'PENDING' OR followup IS NOT NULL)
                  AND updated_at < now() - make_interval(secs => $1)
                ORDER BY updated_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            "#,
            horizon.as_secs_f64(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}

#[tracing::instrument(name = "sql", skip_all, fields(otel.name = "orders.replace_items", db.system = "postgresql"))]
async fn replace_items(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    items: &[OrderItem],
) -> Result<()> {
    sqlx::query!("DELETE FROM order_items WHERE order_id = $1", id)
        .execute(&mut **tx)
        .await?;
    let column = |f: fn(&OrderItem) -> String| items.iter().map(f).collect::<Vec<_>>();
    let ints = |f: fn(&OrderItem) -> i64| items.iter().map(f).collect::<Vec<_>>();
    sqlx::query!(
        r#"
        INSERT INTO order_items (order_id, product_id, sku, name, quantity, unit_price_minor, line_total_minor)
        SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
        "#,
        id,
        &items.iter().map(|i| i.product_id).collect::<Vec<_>>(),
        &column(|i| i.sku.clone()),
        &column(|i| i.name.clone()),
        &ints(|i| i.quantity),
        &ints(|i| i.unit_price_minor),
        &ints(|i| i.line_total_minor),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
