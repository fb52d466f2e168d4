//! The follow-up worker: drains `order_followups`, one action per [`Kind`].
//!
//! In the spirit of zero-to-production's `issue_delivery_worker`: due rows
//! are claimed with `FOR UPDATE SKIP LOCKED` (a batch at a time), each
//! action runs, its row is deleted once it succeeded, and a failure counts
//! the attempt, records the error and backs off (doubling, capped at the
//! horizon). Unlike there, the claim is a lease (it pushes the row's
//! `next_attempt_at` out by a horizon and commits) rather than a
//! transaction held across the call: no connection or row lock waits on
//! cart- or product-service, and a worker that dies leaves its rows due a
//! horizon later. Every action is keyed by the order id, so running one
//! again is harmless. The recovery loop runs the worker on every tick.

use tracing::Instrument as _;
use uuid::Uuid;

use shop_runtime::Failure;

use super::Saga;
use crate::domain::OrderItem;
use crate::domain::followup::Kind;
use crate::error::{Error, Result};
use crate::store::Due;

/// What the worker did with one claimed follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub order_id: Uuid,
    /// The kind as stored.
    pub kind: String,
    /// The action done (`orders_recovered_total{action}`), or the error
    /// recorded on the row.
    pub outcome: std::result::Result<&'static str, String>,
}

impl Saga {
    /// Claims up to `limit` due follow-ups and runs them, one after the other.
    pub async fn run_followups(&self, limit: i64) -> Result<Vec<Ran>> {
        let due = self.store.claim_followups(limit).await?;
        let mut ran = Vec::with_capacity(due.len());
        for row in due {
            // Each follow-up is a trace of its own, as order-service's work.
            let span =
                tracing::info_span!("order.followup", order_id = %row.order_id, kind = %row.kind);
            shop_runtime::telemetry::start_trace(&span, crate::COMPONENT);
            let outcome = self.run_due(&row).instrument(span).await;
            ran.push(Ran {
                order_id: row.order_id,
                kind: row.kind,
                outcome,
            });
        }
        Ok(ran)
    }

    async fn run_due(&self, row: &Due) -> std::result::Result<&'static str, String> {
        let result = match row.kind.parse::<Kind>() {
            Ok(kind) => self.react(row.order_id, kind).await,
            Err(unknown) => Err(Error::Failure(Failure::internal(unknown))),
        };
        match result {
            Ok(action) => {
                tracing::info!(order_id = %row.order_id, action, "recovered order");
                metrics::counter!("orders_recovered_total", "action" => action).increment(1);
                Ok(action)
            }
            Err(e) => {
                let error = describe(&e);
                tracing::warn!(order_id = %row.order_id, kind = %row.kind, attempts = row.attempts + 1, error, "follow-up failed; will retry");
                if let Err(e) = self
                    .store
                    .followup_failed(row.order_id, &row.kind, &error)
                    .await
                {
                    tracing::warn!(order_id = %row.order_id, error = %e, "follow-up failure not recorded; retried once its claim lapses");
                }
                Err(error)
            }
        }
    }

    /// The action of each kind of follow-up; it ends the follow-up (deletes
    /// its row) once it succeeded. A new kind is a new arm here.
    async fn react(&self, id: Uuid, kind: Kind) -> Result<&'static str> {
        match kind {
            Kind::ClearCart => {
                let order = self.store.get(id).await?;
                self.clear_cart(id, &order.user_id, &order.items).await?;
                Ok("cart_cleared")
            }
            Kind::ReturnStock => {
                self.return_stock(id).await?;
                Ok("stock_returned")
            }
            Kind::Release => {
                self.release(id).await?;
                self.store.settle_release(id).await?;
                Ok("released")
            }
        }
    }

    /// CLEAR_CART: removes the purchased lines from the cart, once per order.
    pub(super) async fn clear_cart(
        &self,
        id: Uuid,
        user_id: &str,
        items: &[OrderItem],
    ) -> Result<()> {
        self.downstream.remove_purchased(user_id, id, items).await?;
        self.store.followup_done(id, Kind::ClearCart).await
    }

    /// RETURN_STOCK: gives a cancelled order's stock back, exactly once.
    pub(super) async fn return_stock(&self, id: Uuid) -> Result<()> {
        self.release(id).await?;
        self.store.followup_done(id, Kind::ReturnStock).await
    }

    /// Records that the request's own attempt at a follow-up failed: the
    /// worker retries it after the first backoff.
    pub(super) async fn attempt_failed(&self, id: Uuid, kind: Kind, error: &Error) {
        let error = describe(error);
        tracing::warn!(order_id = %id, kind = kind.as_str(), error, "follow-up not done yet; will retry");
        if let Err(e) = self.store.followup_failed(id, kind.as_str(), &error).await {
            tracing::warn!(order_id = %id, error = %e, "follow-up failure not recorded");
        }
    }
}

/// An error with its causes, for `last_error` and the logs.
fn describe(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
