//! Follow-ups (table `order_followups`): work left after an order's status
//! changed, one row per pending action; the status changes that enqueue
//! them; the worker's claim, success and failure; and the claim the
//! recovery loop takes on PENDING orders.
//!
//! Lock order, so no two statements wait on each other: an order's row
//! first, then its follow-ups. A row is deleted only once its action
//! succeeded.

use shop_runtime::db::sql;
use uuid::Uuid;

use super::{Schedule, Store};
use crate::domain::RejectionReason;
use crate::domain::followup::Kind;
use crate::error::Result;

/// A follow-up the worker claimed. `kind` is the stored text, parsed by the
/// worker, so one row it does not know fails alone instead of the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub order_id: Uuid,
    pub kind: String,
    /// Failed attempts before this one.
    pub attempts: i32,
}

/// Enqueues `kind` for order `id`, in the transaction of the status change
/// that makes it (which holds the order's row). The worker takes it once it
/// is a horizon old, so the request tries first. Enqueued again (a
/// checkout given up twice), it is not taken for another horizon.
#[sql("orders.enqueue_followup")]
pub(super) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    kind: Kind,
    schedule: Schedule,
) -> Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO order_followups (order_id, kind) VALUES ($1, $2)
        ON CONFLICT (order_id, kind) DO UPDATE
        SET next_attempt_at = GREATEST(order_followups.next_attempt_at, now() + make_interval(secs => $3))
        "#,
        id,
        kind.as_str(),
        schedule.horizon.as_secs_f64()
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Gives a checkout up durably: a PENDING (or already REJECTED) order
    /// is marked `given_up` and gets the follow-up RELEASE, so its
    /// reservation goes back even if this process dies next. A CONFIRMED order is left alone. Returns
    /// whether the follow-up is set.
    #[sql("orders.mark_release")]
    pub async fn mark_release(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET given_up = true, updated_at = now()
            WHERE id = $1 AND status IN ('PENDING', 'REJECTED')
            "#,
            id
        )
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, id, Kind::Release, self.schedule).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Finishes a RELEASE follow-up once the reservation is released: a
    /// PENDING order becomes REJECTED (CHECKOUT_INTERRUPTED), a REJECTED one
    /// keeps its reason, and the follow-up goes. Returns false when there
    /// was no such follow-up.
    #[sql("orders.settle_release")]
    pub async fn settle_release(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // The order's row first (lock order).
        sqlx::query!("SELECT id FROM orders WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut *tx)
            .await?;
        let settled = sqlx::query!(
            r#"
            WITH done AS (
                DELETE FROM order_followups WHERE order_id = $1 AND kind = $3 RETURNING order_id
            )
            UPDATE orders
            SET status = 'REJECTED',
                rejection_reason = CASE WHEN status = 'PENDING' THEN $2 ELSE rejection_reason END,
                updated_at = now()
            WHERE id IN (SELECT order_id FROM done) AND status IN ('PENDING', 'REJECTED')
            "#,
            id,
            RejectionReason::Interrupted.as_str(),
            Kind::Release.as_str()
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if settled {
            tx.commit().await?;
        }
        Ok(settled)
    }

    /// CONFIRMED → CANCELLED, enqueueing RETURN_STOCK. Returns false when
    /// the order was not the user's CONFIRMED, unshipped order.
    #[sql("orders.cancel")]
    pub async fn cancel(&self, id: Uuid, user_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query!(
            r#"
            UPDATE orders SET status = 'CANCELLED', updated_at = now()
            WHERE id = $1 AND user_id = $2 AND status = 'CONFIRMED' AND fulfillment_status IS NULL
            "#,
            id,
            user_id
        )
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        enqueue(&mut tx, id, Kind::ReturnStock, self.schedule).await?;
        let event = shop_proto::events::OrderCancelled {
            order_id: id.to_string(),
            user_id: user_id.to_string(),
        };
        shop_runtime::events::outbox::record(
            &mut tx,
            shop_runtime::events::Topic::OrderCancelled,
            &event.order_id,
            &event,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a follow-up as done: its row goes.
    #[sql("orders.followup_done")]
    pub async fn followup_done(&self, id: Uuid, kind: Kind) -> Result<()> {
        sqlx::query!(
            "DELETE FROM order_followups WHERE order_id = $1 AND kind = $2",
            id,
            kind.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt at a follow-up (`kind` as stored): one more
    /// attempt, the error, and the next try after the backoff of
    /// [`Schedule`]. The row stays.
    #[sql("orders.followup_failed")]
    pub async fn followup_failed(&self, id: Uuid, kind: &str, error: &str) -> Result<()> {
        sqlx::query!(
            r#"
            UPDATE order_followups
            SET attempts = attempts + 1,
                last_error = $3,
                next_attempt_at = now() + make_interval(secs => LEAST($5, $4 * power(2, LEAST(attempts, 30))))
            WHERE order_id = $1 AND kind = $2
            "#,
            id,
            kind,
            error,
            self.schedule.first_retry.as_secs_f64(),
            self.schedule.horizon.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` due follow-ups (a horizon old, and past their
    /// `next_attempt_at`), oldest due first. Claiming pushes
    /// `next_attempt_at` out by a horizon under `FOR UPDATE SKIP
    /// LOCKED`, so no other worker takes them meanwhile, and should this one
    /// vanish they are due again a horizon later. No transaction stays open
    /// while the actions run.
    // Background job: traced at debug level only, so idle services export nothing.
    #[tracing::instrument(level = "debug", name = "sql", skip_all, fields(otel.name = "orders.claim_followups", db.system = "postgresql"))]
    pub async fn claim_followups(&self, limit: i64) -> Result<Vec<Due>> {
        let due = sqlx::query_as!(
            Due,
            r#"
            UPDATE order_followups SET next_attempt_at = now() + make_interval(secs => $2)
            WHERE (order_id, kind) IN (
                SELECT order_id, kind FROM order_followups
                WHERE next_attempt_at <= now()
                  AND created_at <= now() - make_interval(secs => $2)
                ORDER BY next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING order_id, kind, attempts
            "#,
            limit,
            self.schedule.horizon.as_secs_f64()
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(due)
    }

    /// Claims up to `limit` PENDING orders untouched for a horizon that
    /// nobody gave up (those are the follow-up worker's). Claiming bumps
    /// `updated_at`, so another instance's recovery loop leaves them alone
    /// for another horizon.
    // Background job: traced at debug level only, so idle services export nothing.
    #[tracing::instrument(level = "debug", name = "sql", skip_all, fields(otel.name = "orders.claim_pending", db.system = "postgresql"))]
    pub async fn claim_pending(&self, limit: i64) -> Result<Vec<Uuid>> {
        let ids = sqlx::query_scalar!(
            r#"
            UPDATE orders SET updated_at = now()
            WHERE id IN (
                SELECT id FROM orders o
                WHERE status = 'PENDING'
                  AND updated_at < now() - make_interval(secs => $1)
                  AND NOT EXISTS (SELECT 1 FROM order_followups f WHERE f.order_id = o.id)
                ORDER BY updated_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            "#,
            self.schedule.horizon.as_secs_f64(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}
