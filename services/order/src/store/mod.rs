//! The database of order-service: every SQL statement it runs, the reads
//! here, the checkout's writes in [`checkout`] and the follow-ups' (table
//! `order_followups`) in [`followups`].
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
//!
//! A follow-up row is written in the same transaction as the status change
//! that makes it, which also locks the order's row. A give-up also sets
//! `given_up` on that row, so the saga's conditional updates (`AND NOT
//! given_up`) ask "did anybody give this order up?" of the row itself: an
//! update that waited for the row's lock re-checks its condition on the
//! version the give-up wrote, where a read of the follow-ups in the same
//! statement would use a snapshot the give-up may postdate.

mod checkout;
mod followups;

pub use followups::Due;

use std::time::Duration;

use chrono::{DateTime, Utc};
use shop_runtime::Failure;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Cursor, Order, OrderItem, OrderStatus, RejectionReason, Shortage};
use crate::error::{Error, Result};

/// order-service's tables.
#[derive(Debug, Clone)]
pub struct Store {
    /// Pool confined to the `orders` schema.
    pool: PgPool,
    /// When follow-ups are taken and tried again.
    schedule: Schedule,
}

/// When the follow-up worker takes a row: once it is a horizon old (the
/// request that enqueued it tries first), again a horizon after a claim
/// whose worker vanished, and after the n-th failed attempt
/// `min(first_retry × 2^(n-1), horizon)` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `RECOVERY_HORIZON_SECONDS`: the age at which a row is taken, a
    /// claim's lease and the longest backoff.
    pub horizon: Duration,
    /// The first backoff; `RECOVERY_INTERVAL_MILLIS`, as the worker runs
    /// no more often.
    pub first_retry: Duration,
}

/// An order row without its lines.
struct Head {
    id: Uuid,
    number: i64,
    user_id: String,
    status: OrderStatus,
    total_minor: i64,
    currency: String,
    rejection_reason: Option<RejectionReason>,
    shortages: Option<serde_json::Value>,
    stock_requested: bool,
    created_at: DateTime<Utc>,
    fulfillment_status: Option<String>,
}

impl Store {
    pub fn new(pool: PgPool, schedule: Schedule) -> Self {
        Self { pool, schedule }
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
            SELECT id, number, user_id, status AS "status: OrderStatus", total_minor, currency,
                   rejection_reason AS "rejection_reason: RejectionReason", shortages,
                   stock_requested, created_at, fulfillment_status
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
            SELECT id, number, user_id, status AS "status: OrderStatus", total_minor, currency,
                   rejection_reason AS "rejection_reason: RejectionReason", shortages,
                   stock_requested, created_at, fulfillment_status
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
                    Some(json) => serde_json::from_value(json).map_err(Failure::internal)?,
                    None => Vec::new(),
                };
                Ok(Order {
                    id: h.id,
                    number: h.number,
                    user_id: h.user_id,
                    status: h.status,
                    items,
                    total_minor: h.total_minor,
                    currency: h.currency,
                    rejection_reason: h.rejection_reason,
                    shortages,
                    stock_requested: h.stock_requested,
                    created_at: h.created_at,
                    fulfillment_status: h.fulfillment_status,
                })
            })
            .collect()
    }
}
