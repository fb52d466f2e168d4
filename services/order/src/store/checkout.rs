//! The checkout's writes: the lines it read with the ask for stock, then
//! PENDING to CONFIRMED or REJECTED, each a conditional update so the saga
//! and the recovery loop agree on who settles an order.
//!
//! "Nobody gave this order up" is `NOT given_up` on the order's own row
//! (set by `mark_release` with the RELEASE follow-up): a conditional update
//! that had to wait for the row's lock re-checks it on the version the
//! give-up wrote, so one statement asks and writes.

use shop_proto::events;
use shop_runtime::db::sql;
use shop_runtime::events::Topic;
use shop_runtime::events::outbox::Outgoing;
use uuid::Uuid;

use shop_runtime::Failure;

use super::Store;
use crate::domain::followup::Kind;
use crate::domain::{Order, OrderItem, OrderStatus, RejectionReason, Shortage, display_number};
use crate::error::Result;

impl Store {
    /// Saves the lines of a PENDING order (the cart as checkout saw it) and
    /// marks it as asking product-service for stock, in one statement, right
    /// before the saga sends ReserveStock. Returns false when the order was
    /// forgotten or given up meanwhile: then nothing is written and the saga
    /// must not reserve.
    #[sql("orders.request_stock")]
    pub async fn request_stock(
        &self,
        id: Uuid,
        items: &[OrderItem],
        currency: &str,
    ) -> Result<bool> {
        let total: i64 = items.iter().map(|i| i.line_total_minor).sum();
        let lines = Lines::of(items);
        let asked = sqlx::query_scalar!(
            r#"
            WITH asked AS (
                UPDATE orders SET stock_requested = true, total_minor = $2, currency = $3, updated_at = now()
                WHERE id = $1 AND status = 'PENDING' AND NOT given_up
                RETURNING id
            ), saved AS (
                INSERT INTO order_items (order_id, product_id, sku, name, quantity, unit_price_minor, line_total_minor)
                SELECT asked.id, l.*
                FROM asked, UNNEST($4::uuid[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[]) AS l
            )
            SELECT count(*) AS "asked!" FROM asked
            "#,
            id,
            total,
            currency,
            &lines.product_ids,
            &lines.skus,
            &lines.names,
            &lines.quantities,
            &lines.unit_prices,
            &lines.line_totals,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(asked == 1)
    }

    /// PENDING → CONFIRMED with the reserved lines, enqueueing CLEAR_CART
    /// and recording OrderConfirmed, in one statement (one round trip, no
    /// BEGIN/COMMIT: every part hangs on the conditional update, so either
    /// all of it is written or nothing). `user_id` and `seq` (its number)
    /// are the order's, for the event. Returns the confirmed order, or None
    /// when it was no longer PENDING or was given up.
    #[sql("orders.confirm")]
    pub async fn confirm(
        &self,
        id: Uuid,
        user_id: &str,
        seq: i64,
        items: &[OrderItem],
        currency: &str,
    ) -> Result<Option<Order>> {
        let total: i64 = items.iter().map(|i| i.line_total_minor).sum();
        let event = events::OrderConfirmed {
            order_id: id.to_string(),
            user_id: user_id.to_string(),
            number: display_number(seq),
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
        let event = Outgoing::new(Topic::OrderConfirmed, &event.order_id, &event);
        let lines = Lines::of(items);
        // The update is conditional on the row's latest version: a give-up
        // that held the row while this waited is seen (`given_up`). The
        // lines are made the reservation's: changed ones (a price moved
        // between the cart's read and the reservation) updated, ones no
        // longer there deleted, equal ones not written. The follow-up (the
        // insert of `followups::enqueue`) and the outbox row (the columns of
        // `outbox::Outgoing`) are inserted only for a confirmed row.
        let head = sqlx::query!(
            r#"
            WITH confirmed AS (
                UPDATE orders SET status = 'CONFIRMED', total_minor = $2, currency = $3, updated_at = now()
                WHERE id = $1 AND status = 'PENDING' AND NOT given_up
                RETURNING user_id, number, stock_requested, created_at
            ), upserted AS (
                INSERT INTO order_items (order_id, product_id, sku, name, quantity, unit_price_minor, line_total_minor)
                SELECT $1, l.* FROM confirmed,
                    UNNEST($4::uuid[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[]) AS l
                ON CONFLICT (order_id, product_id) DO UPDATE
                SET sku = excluded.sku, name = excluded.name, quantity = excluded.quantity,
                    unit_price_minor = excluded.unit_price_minor, line_total_minor = excluded.line_total_minor
                WHERE (order_items.sku, order_items.name, order_items.quantity, order_items.unit_price_minor, order_items.line_total_minor)
                    IS DISTINCT FROM (excluded.sku, excluded.name, excluded.quantity, excluded.unit_price_minor, excluded.line_total_minor)
            ), dropped AS (
                DELETE FROM order_items
                WHERE order_id = $1 AND product_id <> ALL($4) AND EXISTS (SELECT 1 FROM confirmed)
            ), followup AS (
                INSERT INTO order_followups (order_id, kind)
                SELECT $1, $10 FROM confirmed
                ON CONFLICT (order_id, kind) DO UPDATE
                SET next_attempt_at = GREATEST(order_followups.next_attempt_at, now() + make_interval(secs => $11))
            ), recorded AS (
                INSERT INTO outbox (id, subject, aggregate_id, payload, traceparent)
                SELECT $12, $13, $14, $15, $16 FROM confirmed
            )
            SELECT user_id, number, stock_requested, created_at FROM confirmed
            "#,
            id,
            total,
            currency,
            &lines.product_ids,
            &lines.skus,
            &lines.names,
            &lines.quantities,
            &lines.unit_prices,
            &lines.line_totals,
            Kind::ClearCart.as_str(),
            self.schedule.horizon.as_secs_f64(),
            event.id,
            event.subject,
            event.aggregate_id,
            event.payload,
            event.traceparent,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(head) = head else {
            return Ok(None);
        };
        let mut items = items.to_vec();
        items.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(Some(Order {
            id,
            number: head.number,
            user_id: head.user_id,
            status: OrderStatus::Confirmed,
            items,
            total_minor: total,
            currency: currency.to_string(),
            rejection_reason: None,
            shortages: Vec::new(),
            stock_requested: head.stock_requested,
            created_at: head.created_at,
            // Shipping starts from the event this statement recorded.
            fulfillment_status: None,
        }))
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
        let touched = sqlx::query!(
            "UPDATE orders SET updated_at = now() WHERE id = $1 AND status = 'PENDING' AND NOT given_up",
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(touched.rows_affected() == 1)
    }
}

/// An order's lines as the columns UNNEST takes.
struct Lines {
    product_ids: Vec<Uuid>,
    skus: Vec<String>,
    names: Vec<String>,
    quantities: Vec<i64>,
    unit_prices: Vec<i64>,
    line_totals: Vec<i64>,
}

impl Lines {
    fn of(items: &[OrderItem]) -> Self {
        Self {
            product_ids: items.iter().map(|i| i.product_id).collect(),
            skus: items.iter().map(|i| i.sku.clone()).collect(),
            names: items.iter().map(|i| i.name.clone()).collect(),
            quantities: items.iter().map(|i| i.quantity).collect(),
            unit_prices: items.iter().map(|i| i.unit_price_minor).collect(),
            line_totals: items.iter().map(|i| i.line_total_minor).collect(),
        }
    }
}
