//! The recovery loop's work: settling orders left unfinished by a crash or
//! a failed call, once they are older than the horizon (what each state
//! becomes: docs/contract.md, "Recovery"), then the due follow-ups
//! (`followups.rs`).

use tracing::Instrument as _;
use uuid::Uuid;

use super::Saga;
use crate::domain::OrderStatus;
use crate::error::{Error, Result};

/// Orders, and follow-ups, taken by one recovery run.
const BATCH: i64 = 100;

impl Saga {
    /// One run of the recovery loop: settles every PENDING order left
    /// unfinished for longer than the horizon, then runs the due follow-ups.
    /// Returns how many of each it looked at.
    pub async fn recover(&self) -> Result<(usize, usize)> {
        let ids = self.store.claim_pending(BATCH).await?;
        for &id in &ids {
            // Each recovery is a trace of its own, as order-service's work.
            let span = tracing::info_span!("order.recover", order_id = %id);
            shop_runtime::telemetry::start_trace(&span, crate::COMPONENT);
            // Logged inside the recovery's span, so the line carries its trace.
            async {
                match self.recover_one(id).await {
                    Ok(action) => {
                        if action != "nothing" {
                            tracing::info!(order_id = %id, action, "recovered order");
                        }
                        metrics::counter!("orders_recovered_total", "action" => action)
                            .increment(1);
                    }
                    Err(e) => {
                        tracing::warn!(order_id = %id, error = %e, "recovery failed; will retry")
                    }
                }
            }
            .instrument(span)
            .await;
        }
        let followups = self.run_followups(BATCH).await?;
        Ok((ids.len(), followups.len()))
    }

    async fn recover_one(&self, id: Uuid) -> Result<&'static str> {
        let order = self.store.get(id).await?;
        if order.status != OrderStatus::Pending {
            return Ok("nothing");
        }
        match self.downstream.reservation(id).await? {
            None if !order.stock_requested => {
                // It never asked for stock; if it just did, it is kept.
                Ok(if self.store.forget_pending(id).await? {
                    "forgotten"
                } else {
                    "nothing"
                })
            }
            None => {
                // It asked for stock and its reservation may still land:
                // give it up, never delete it. The RELEASE follow-up, due a
                // horizon later, releases and settles it.
                Ok(if self.store.mark_release(id).await? {
                    "given_up"
                } else {
                    "nothing"
                })
            }
            Some(reservation) => match self
                .finish(id, &order.user_id, order.number, reservation)
                .await
            {
                Ok(_) => Ok("confirmed"),
                Err(Error::Rejected(..)) => Ok("rejected"),
                Err(e) => Err(e),
            },
        }
    }
}
