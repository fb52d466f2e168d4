//! Follow-ups: work left after an order's status changed (release a
//! given-up checkout's stock, clear the cart, return a cancelled order's
//! stock), and the claim the recovery loop takes on unfinished orders.

use std::time::Duration;

use uuid::Uuid;

use super::Store;
use crate::domain::{Followup, RejectionReason};
use crate::error::Result;

impl Store {
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
