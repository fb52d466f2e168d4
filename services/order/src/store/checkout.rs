//! The checkout's writes: the lines it read, then PENDING to CONFIRMED or
//! REJECTED, each a conditional update so the saga and the recovery loop
//! agree on who settles an order.

use shop_proto::events;
use shop_runtime::db::sql;
use shop_runtime::events::{Topic, outbox};
use uuid::Uuid;

use shop_runtime::Failure;

use super::Store;
use super::followups::enqueue;
use crate::domain::followup::Kind;
use crate::domain::{OrderItem, RejectionReason, Shortage, display_number};
use crate::error::Result;

impl Store {
    /// Replaces the lines of a PENDING order (the cart as checkout saw it).
    #[sql("orders.set_items")]
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

    /// PENDING → CONFIRMED with the reserved lines, enqueueing CLEAR_CART.
    /// Returns false when the order was no longer PENDING or was given up.
    #[sql("orders.confirm")]
    pub async fn confirm(&self, id: Uuid, items: &[OrderItem], currency: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if !lock_open(&mut tx, id).await? {
            return Ok(false);
        }
        let total: i64 = items.iter().map(|i| i.line_total_minor).sum();
        let owner = sqlx::query!(
            r#"
            UPDATE orders SET status = 'CONFIRMED', total_minor = $2, currency = $3, updated_at = now()
            WHERE id = $1
            RETURNING user_id, number
            "#,
            id,
            total,
            currency
        )
        .fetch_one(&mut *tx)
        .await?;
        enqueue(&mut tx, id, Kind::ClearCart, self.schedule).await?;
        replace_items(&mut tx, id, items).await?;
        let event = events::OrderConfirmed {
            order_id: id.to_string(),
            user_id: owner.user_id,
            number: display_number(owner.number),
            items: items
                .iter()
                .map(|i| events::OrderLine {
                    product_id: i.product_id.to_string(),
                    quantity: i.quantity,
                    unit_price_minor: i.unit_price_minor,
                })
                .collect(),
            total_minor: total,
            currency: currency.to_string(),
        };
        outbox::record(&mut tx, Topic::OrderConfirmed, &event.order_id, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// PENDING → REJECTED. Returns false when the order was no longer PENDING.
    #[sql("orders.reject")]
    pub async fn reject(
        &self,
        id: Uuid,
        reason: RejectionReason,
        shortages: &[Shortage],
    ) -> Result<bool> {
        let shortages = (!shortages.is_empty())
            .then(|| serde_json::to_value(shortages))
            .transpose()
            .map_err(Failure::internal)?;
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
    #[sql("orders.request_stock")]
    pub async fn request_stock(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if !lock_open(&mut tx, id).await? {
            return Ok(false);
        }
        sqlx::query!(
            "UPDATE orders SET stock_requested = true, updated_at = now() WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets a PENDING order that never asked for stock, so the shopper's
    /// retry with the same key starts afresh. Returns false when the order
    /// asked for stock meanwhile (or is gone): then it is kept.
    #[sql("orders.forget_pending")]
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
    #[sql("orders.still_pending")]
    pub async fn still_pending(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if !lock_open(&mut tx, id).await? {
            return Ok(false);
        }
        sqlx::query!("UPDATE orders SET updated_at = now() WHERE id = $1", id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Locks the row of a PENDING order and tells whether nobody gave it up
/// (it has no RELEASE follow-up); false when it is not PENDING, or gone.
///
/// Two statements: a give-up writes its follow-up while it holds the
/// order's row, so once this lock is ours the second statement's snapshot,
/// taken after it, sees any give-up that committed while we waited. (One
/// statement would re-check only the order's row after the wait, with a
/// snapshot of the follow-ups from before it.)
#[sql("orders.lock_open")]
pub(super) async fn lock_open(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
) -> Result<bool> {
    let pending = sqlx::query_scalar!(
        "SELECT id FROM orders WHERE id = $1 AND status = 'PENDING' FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    if pending.is_none() {
        return Ok(false);
    }
    let given_up = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM order_followups WHERE order_id = $1 AND kind = $2) AS "given_up!""#,
        id,
        Kind::Release.as_str()
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(!given_up)
}

#[sql("orders.replace_items")]
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
