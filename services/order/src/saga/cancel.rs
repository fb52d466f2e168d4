//! Cancelling a CONFIRMED order: CANCELLED first, then its stock goes back
//! (the RETURN_STOCK follow-up, finished by the worker if this call cannot).

use uuid::Uuid;

use super::Saga;
use crate::domain::Order;
use crate::domain::followup::Kind;
use crate::error::{Error, Result};

impl Saga {
    /// Cancels a CONFIRMED order and returns its stock, exactly once.
    pub async fn cancel(&self, user_id: &str, id: Uuid) -> Result<Order> {
        if !self.store.cancel(id, user_id).await? {
            let order = self.store.get(id).await?;
            if order.user_id != user_id {
                return Err(Error::NotFound);
            }
            if order.fulfillment_status.is_some() {
                return Err(Error::FailedPrecondition(format!(
                    "order {} has shipped; it can no longer be cancelled",
                    order.display_number()
                )));
            }
            return Err(Error::FailedPrecondition(format!(
                "order {} is {}; only CONFIRMED orders can be cancelled",
                order.display_number(),
                order.status.as_str()
            )));
        }
        if let Err(e) = self.return_stock(id).await {
            self.attempt_failed(id, Kind::ReturnStock, &e).await;
        }
        let order = self.store.get(id).await?;
        tracing::info!(order_id = %id, order_number = %order.display_number(), "order cancelled");
        Ok(order)
    }
}
