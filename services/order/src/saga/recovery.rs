//! The recovery loop's work: settling orders left unfinished by a crash or
//! a failed call, once they are older than the horizon (what each state
//! becomes: docs/contract.md, "Recovery").

use std::time::Duration;

use tracing::Instrument as _;
use uuid::Uuid;

use super::Saga;
use crate::domain::{Followup, OrderStatus};
use crate::error::{Error, Result};

impl Saga {
    /// Settles every order left unfinished for longer than `horizon`.
    /// Returns how many it looked at.
    pub async fn recover(&self, horizon: Duration) -> Result<usize> {
        let ids = self.store.claim_unfinished(horizon, 100).await?;
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
        Ok(ids.len())
    }

    async fn recover_one(&self, id: Uuid) -> Result<&'static str> {
        let order = self.store.get(id).await?;
        match (order.status, order.followup) {
            (OrderStatus::Pending, None) => match self.downstream.reservation(id).await? {
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
                    // give it up, never delete it. The next run, a horizon
                    // later, releases and settles it.
                    Ok(if self.store.mark_release(id).await? {
                        "given_up"
                    } else {
                        "nothing"
                    })
                }
                Some(reservation) => match self.finish(id, &order.user_id, reservation).await {
                    Ok(_) => Ok("confirmed"),
                    Err(Error::Rejected(..)) => Ok("rejected"),
                    Err(e) => Err(e),
                },
            },
            (OrderStatus::Pending | OrderStatus::Rejected, Some(Followup::Release)) => {
                self.release(id).await?;
                self.store.settle_release(id).await?;
                Ok("released")
            }
            (OrderStatus::Confirmed, Some(Followup::ClearCart)) => {
                self.downstream
                    .remove_purchased(&order.user_id, id, &order.items)
                    .await?;
                self.store.followup_done(id, Followup::ClearCart).await?;
                Ok("cart_cleared")
            }
            (OrderStatus::Cancelled, Some(Followup::ReturnStock)) => {
                self.return_stock(id).await?;
                Ok("stock_returned")
            }
            _ => Ok("nothing"),
        }
    }
}
