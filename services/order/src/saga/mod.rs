//! The checkout saga, its recovery, and cancellation.
//!
//! ```text
//! PlaceOrder(user, key)
//!   1. INSERT order PENDING, unique (user, key)   -- a replay returns the first outcome
//!   2. GetCart                                     -- empty → REJECTED (EMPTY_CART)
//!   3. mark the order stock_requested              -- from here on it is never deleted
//!   4. ReserveStock(order id, lines)               -- short → REJECTED (INSUFFICIENT_STOCK)
//!   5. still PENDING and not given up? then CommitReservation(order id),
//!      then CONFIRMED with the reserved lines and prices
//!   6. RemovePurchasedItems(order id)              -- a follow-up, retried until done
//! ```
//!
//! Every step is keyed by the order id, so it can run again. The order only
//! becomes CONFIRMED after its reservation is committed, so a CONFIRMED order
//! always has its stock sold. A crash anywhere leaves a PENDING order (or a
//! follow-up) that the recovery loop settles once it is older than the
//! horizon: it asks product-service for the order's reservation and resumes
//! (held or committed: commit and confirm), rejects (released or expired),
//! or, when there is none, forgets the order (it never asked for stock: the
//! shopper's retry with the same key starts afresh) or gives it up (it asked
//! for stock, and the reservation may still land: follow-up RELEASE).
//!
//! A given-up order is never deleted: the RELEASE follow-up releases its
//! reservation, then settles it as REJECTED (CHECKOUT_INTERRUPTED). A saga
//! that wakes up after being given up finds out before committing (step 5)
//! and marks RELEASE again before it releases, so a failed release is
//! finished by recovery instead of leaving stock held or sold forever.

use std::str::FromStr;
use std::time::Duration;

use tracing::Instrument as _;
use uuid::Uuid;

use crate::domain::{
    Followup, Order, OrderItem, OrderStatus, RejectionReason, Shortage, display_number,
};
use crate::downstream::{Downstream, Reservation, Reserved};
use crate::error::{Error, Result};
use crate::store::Store;
use shop_proto::product::ReservationStatus;

/// A point in the saga after which a test can make the request fail as if
/// the process had crashed there (`SAGA_FAULT_AFTER`; tests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The PENDING order is recorded.
    OrderCreated,
    /// The cart is read and its lines are saved on the order.
    CartRead,
    /// The order is marked as asking for stock; ReserveStock is next.
    StockRequested,
    /// Stock is held.
    Reserved,
    /// The reservation is committed.
    Committed,
    /// The order is CONFIRMED; the cart is not cleared yet.
    Confirmed,
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "order_created" => Self::OrderCreated,
            "cart_read" => Self::CartRead,
            "stock_requested" => Self::StockRequested,
            "reserved" => Self::Reserved,
            "committed" => Self::Committed,
            "confirmed" => Self::Confirmed,
            other => {
                return Err(format!(
                    "expected order_created, cart_read, stock_requested, reserved, committed or confirmed, got {other:?}"
                ));
            }
        })
    }
}

/// How a PlaceOrder call ended well.
#[derive(Debug)]
pub enum Placed {
    /// This call checked out the cart.
    Created(Order),
    /// An earlier call with the same key did.
    Replayed(Order),
}

/// The saga's orchestrator.
#[derive(Debug, Clone)]
pub struct Saga {
    /// The orders database.
    store: Store,
    /// cart-service and product-service.
    downstream: Downstream,
    /// Test-only crash point.
    fault_after: Option<Step>,
    /// Test-only pauses and failures.
    #[cfg(feature = "test-util")]
    hooks: crate::test_util::Hooks,
}

impl Saga {
    /// An orchestrator over `store` and `downstream`.
    pub fn new(store: Store, downstream: Downstream, fault_after: Option<Step>) -> Self {
        Self {
            store,
            downstream,
            fault_after,
            #[cfg(feature = "test-util")]
            hooks: crate::test_util::Hooks::default(),
        }
    }

    /// The same orchestrator with test levers.
    #[cfg(feature = "test-util")]
    pub fn with_hooks(mut self, hooks: crate::test_util::Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Checks out the user's cart, once per idempotency key.
    pub async fn place(&self, user_id: &str, key: &str) -> Result<Placed> {
        let id = Uuid::new_v4();
        let Some(number) = self.store.insert_pending(id, user_id, key).await? else {
            return self.replay(user_id, key).await;
        };
        let number = display_number(number);
        tracing::info!(order_id = %id, order_number = %number, "order placed");
        self.after(Step::OrderCreated).await?;
        let result = self.checkout(id, user_id).await;
        let outcome = match &result {
            Ok(_) => {
                tracing::info!(order_id = %id, order_number = %number, "order confirmed");
                "confirmed"
            }
            Err(Error::Rejected(reason, _)) => {
                tracing::info!(order_id = %id, order_number = %number, reason = reason.as_str(), "order rejected");
                "rejected"
            }
            Err(_) => "failed",
        };
        metrics::counter!("checkout_outcomes_total", "outcome" => outcome).increment(1);
        result.map(Placed::Created)
    }

    async fn replay(&self, user_id: &str, key: &str) -> Result<Placed> {
        let order = match self.store.by_key(user_id, key).await {
            Ok(order) => order,
            // The first request just gave up and forgot its order: retry.
            Err(Error::NotFound) => return Err(Error::InProgress),
            Err(e) => return Err(e),
        };
        match order.status {
            OrderStatus::Pending => Err(Error::InProgress),
            OrderStatus::Rejected => Err(Error::Rejected(
                order
                    .rejection_reason
                    .unwrap_or(RejectionReason::ReservationLost),
                order.shortages,
            )),
            OrderStatus::Confirmed | OrderStatus::Cancelled => Ok(Placed::Replayed(order)),
        }
    }

    async fn checkout(&self, id: Uuid, user_id: &str) -> Result<Order> {
        let cart = match self.downstream.cart(user_id).await {
            Ok(cart) => cart,
            Err(e) => {
                // No stock was asked for: forgetting the order is safe.
                self.store.forget_pending(id).await?;
                return Err(e);
            }
        };
        if cart.items.is_empty() {
            return self.reject(id, RejectionReason::EmptyCart, vec![]).await;
        }
        let attempted: Vec<OrderItem> = cart
            .items
            .iter()
            .filter_map(|i| {
                Some(OrderItem {
                    product_id: Uuid::parse_str(&i.product_id).ok()?,
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price_minor: i.unit_price_minor,
                    line_total_minor: i.line_total_minor,
                })
            })
            .collect();
        self.store.set_items(id, &attempted, &cart.currency).await?;
        self.after(Step::CartRead).await?;

        // From here on a reservation may exist, so the order is never deleted.
        // Recovery may have forgotten the order while this request was slow:
        // then nothing is reserved.
        if !self.store.request_stock(id).await? {
            return Err(interrupted());
        }
        self.after(Step::StockRequested).await?;
        let reservation = match self.downstream.reserve(id, &cart.items).await {
            Ok(Reserved::Held(reservation)) => reservation,
            Ok(Reserved::Short(shortages)) => {
                return self
                    .reject(id, RejectionReason::InsufficientStock, shortages)
                    .await;
            }
            Ok(Reserved::UnknownProduct) => {
                return self
                    .reject(id, RejectionReason::UnknownProduct, vec![])
                    .await;
            }
            Err(e) => {
                // The reserve may have happened, or may still land. Give the
                // order up durably and return what we can now; recovery
                // releases again after the horizon, when no call of ours can
                // still be running, and settles the order.
                self.store.mark_release(id).await?;
                if let Err(release) = self.release(id).await {
                    tracing::warn!(order_id = %id, error = %release, "stock not released yet; recovery will retry");
                }
                return Err(e);
            }
        };
        self.after(Step::Reserved).await?;
        self.finish(id, user_id, reservation).await
    }

    /// From a reservation to a CONFIRMED order with its cart cleared.
    async fn finish(&self, id: Uuid, user_id: &str, reservation: Reservation) -> Result<Order> {
        // Commit only for an order nobody gave up on. Should recovery give it
        // up after this point, it finds the reservation (it exists now) and
        // releases it.
        if !self.store.still_pending(id).await? {
            return self.settled_elsewhere(id).await;
        }
        let committed = match reservation.status {
            ReservationStatus::Committed => reservation,
            ReservationStatus::Held => match self.downstream.commit(id).await? {
                Some(committed) => committed,
                None => {
                    return self
                        .reject(id, RejectionReason::ReservationLost, vec![])
                        .await;
                }
            },
            _ => {
                return self
                    .reject(id, RejectionReason::ReservationLost, vec![])
                    .await;
            }
        };
        self.after(Step::Committed).await?;
        if !self
            .store
            .confirm(id, &committed.items, &committed.currency)
            .await?
        {
            return self.settled_elsewhere(id).await;
        }
        self.after(Step::Confirmed).await?;
        self.clear_cart(id, user_id, &committed.items).await;
        self.store.get(id).await
    }

    /// Another actor settled the order while this one held its reservation:
    /// recovery confirmed it (fine), or gave it up, and then the stock this
    /// saga may hold must go back, durably.
    async fn settled_elsewhere(&self, id: Uuid) -> Result<Order> {
        match self.store.get(id).await {
            Ok(order) if order.status == OrderStatus::Confirmed => Ok(order),
            Err(Error::NotFound) => Err(interrupted()),
            Ok(_) => {
                // Marked first, so a failed release is finished by recovery.
                if self.store.mark_release(id).await? {
                    self.release(id).await?;
                    self.store.settle_release(id).await?;
                }
                Err(interrupted())
            }
            Err(e) => Err(e),
        }
    }

    /// PENDING → REJECTED, with nothing left held.
    async fn reject(
        &self,
        id: Uuid,
        reason: RejectionReason,
        shortages: Vec<Shortage>,
    ) -> Result<Order> {
        self.store.reject(id, reason, &shortages).await?;
        if reason == RejectionReason::ReservationLost {
            self.release(id).await?;
        }
        Err(Error::Rejected(reason, shortages))
    }

    /// Removes the purchased lines from the cart; on failure the follow-up
    /// stays for the recovery loop.
    async fn clear_cart(&self, id: Uuid, user_id: &str, items: &[OrderItem]) {
        let done = match self.downstream.remove_purchased(user_id, id, items).await {
            Ok(()) => self.store.followup_done(id, Followup::ClearCart).await,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!(order_id = %id, error = %e, "cart not cleared yet; recovery will retry");
        }
    }

    /// Cancels a CONFIRMED order and returns its stock, exactly once.
    pub async fn cancel(&self, user_id: &str, id: Uuid) -> Result<Order> {
        if !self.store.cancel(id, user_id).await? {
            let order = self.store.get(id).await?;
            if order.user_id != user_id {
                return Err(Error::NotFound);
            }
            return Err(Error::FailedPrecondition(format!(
                "order {} is {}; only CONFIRMED orders can be cancelled",
                order.display_number(),
                order.status.as_str()
            )));
        }
        if let Err(e) = self.return_stock(id).await {
            tracing::warn!(order_id = %id, error = %e, "stock not returned yet; recovery will retry");
        }
        let order = self.store.get(id).await?;
        tracing::info!(order_id = %id, order_number = %order.display_number(), "order cancelled");
        Ok(order)
    }

    async fn return_stock(&self, id: Uuid) -> Result<()> {
        self.release(id).await?;
        self.store.followup_done(id, Followup::ReturnStock).await
    }

    /// Settles every order left unfinished for longer than `horizon`.
    /// Returns how many it looked at.
    pub async fn recover(&self, horizon: Duration) -> Result<usize> {
        let ids = self.store.claim_unfinished(horizon, 100).await?;
        for &id in &ids {
            // Each recovery is a trace of its own, as order-service's work.
            let span = tracing::info_span!("order.recover", order_id = %id);
            shop_runtime::propagation::start_trace(&span, crate::COMPONENT);
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

    /// Gives the order's stock back (ReleaseReservation, exactly once).
    async fn release(&self, id: Uuid) -> Result<()> {
        #[cfg(feature = "test-util")]
        if self.hooks.releases_fail() {
            return Err(Error::Unavailable("injected release failure".into()));
        }
        self.downstream.release(id).await
    }

    /// Marks the end of `step`: the test-only crash switch and pauses.
    async fn after(&self, step: Step) -> Result<()> {
        if self.fault_after == Some(step) {
            return Err(Error::Unavailable(format!(
                "injected fault after step {step:?}"
            )));
        }
        #[cfg(feature = "test-util")]
        self.hooks.after(step).await;
        Ok(())
    }
}

/// A checkout that was given up or forgotten while this request ran.
fn interrupted() -> Error {
    Error::Unavailable("checkout was interrupted; retry".into())
}
