//! The checkout saga, its recovery, and cancellation.
//!
//! What each step does, what recovery does with each order it finds and the
//! invariants both keep are stated in docs/contract.md ("The checkout saga",
//! "Recovery"); docs/saga.md draws them and lists what each failure leads
//! to. [`Step`] names the points between steps, where a `crash after STEP`
//! fault stops a checkout.
//!
//! Work left after a status change is a follow-up row (CLEAR_CART,
//! RETURN_STOCK, RELEASE), enqueued with the change; the request tries it
//! at once and the follow-up worker (`followups.rs`) retries it until done.
//!
//! Cancellation is in `cancel.rs`, the recovery loop's work in `recovery.rs`.

mod cancel;
mod followups;
mod recovery;

#[cfg(feature = "test-util")]
pub use followups::Ran;

use uuid::Uuid;

use crate::domain::followup::Kind;
use crate::domain::{Order, OrderItem, OrderStatus, RejectionReason, Shortage, display_number};
use crate::downstream::{Downstream, Reservation, Reserved};
use crate::error::{Error, Result};
use crate::store::Store;
use shop_proto::product::ReservationStatus;

/// The end of a step of the saga: where a `crash after STEP` fault
/// (`shop_runtime::chaos`, e.g. `FAULTS="crash after reserved"`) stops a
/// checkout as if the process had crashed there, and where a test can hold
/// one (the `Hooks` of `test_util.rs`, cargo feature `test-util`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The PENDING order is recorded.
    OrderCreated,
    /// The cart is read; nothing is written yet.
    CartRead,
    /// The cart's lines are saved on the order, marked as asking for
    /// stock; ReserveStock is next.
    StockRequested,
    /// Stock is reserved: sold at once in a checkout (ReserveStock with
    /// `commit`), so `Committed` follows with nothing in between.
    Reserved,
    /// The reservation is committed (recovery commits a held one here).
    Committed,
    /// The order is CONFIRMED; the cart is not cleared yet.
    Confirmed,
}

impl Step {
    /// Its name in a `crash after STEP` fault.
    pub fn name(self) -> &'static str {
        match self {
            Step::OrderCreated => "order-created",
            Step::CartRead => "cart-read",
            Step::StockRequested => "stock-requested",
            Step::Reserved => "reserved",
            Step::Committed => "committed",
            Step::Confirmed => "confirmed",
        }
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
    store: Store,
    /// cart-service and product-service.
    downstream: Downstream,
    /// The component's faults: `crash after STEP` stops a checkout there.
    faults: shop_runtime::chaos::Faults,
    /// Test-only pauses.
    #[cfg(feature = "test-util")]
    hooks: crate::test_util::Hooks,
}

impl Saga {
    pub fn new(store: Store, downstream: Downstream, faults: shop_runtime::chaos::Faults) -> Self {
        Self {
            store,
            downstream,
            faults,
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
        let Some(seq) = self.store.insert_pending(id, user_id, key).await? else {
            return self.replay(user_id, key).await;
        };
        let number = display_number(seq);
        tracing::info!(order_id = %id, order_number = %number, "order placed");
        self.after(Step::OrderCreated).await?;
        let result = self.checkout(id, user_id, seq).await;
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

    /// Steps 2 to 6 of order `id`, whose number is `seq`.
    async fn checkout(&self, id: Uuid, user_id: &str, seq: i64) -> Result<Order> {
        let cart = match self.downstream.cart(user_id).await {
            Ok(cart) => cart,
            Err(e) => {
                // No stock was asked for: forgetting the order is safe.
                self.store.forget_pending(id).await?;
                return Err(e);
            }
        };
        if cart.items.is_empty() {
            // Not an order: nothing is kept, so a client repeating empty
            // checkouts fills no table. The key is free again: retried
            // after the cart was filled, it checks out.
            self.store.forget_pending(id).await?;
            return Err(Error::Rejected(RejectionReason::EmptyCart, vec![]));
        }
        self.after(Step::CartRead).await?;

        // From here on a reservation may exist, so the order is never deleted.
        // Recovery may have forgotten the order while this request was slow:
        // then nothing is written and nothing reserved.
        if !self
            .store
            .request_stock(id, &cart.items, &cart.currency)
            .await?
        {
            return Err(Error::Interrupted);
        }
        self.after(Step::StockRequested).await?;
        let reservation = match self.downstream.reserve(id, &cart.items).await {
            Ok(Reserved::Made(reservation)) => reservation,
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
                // order up durably and return what we can now; the RELEASE
                // follow-up releases again after the horizon, when no call of
                // ours can still be running, and settles the order. (So this
                // attempt's failure is not recorded: that would bring the
                // retry forward.)
                self.store.mark_release(id).await?;
                if let Err(release) = self.release(id).await {
                    tracing::warn!(order_id = %id, error = %release, "stock not released yet; recovery will retry");
                }
                return Err(e);
            }
        };
        self.after(Step::Reserved).await?;
        self.finish(id, user_id, seq, reservation).await
    }

    /// From a reservation to a CONFIRMED order with its cart cleared.
    async fn finish(
        &self,
        id: Uuid,
        user_id: &str,
        seq: i64,
        reservation: Reservation,
    ) -> Result<Order> {
        // A checkout's ReserveStock sold the stock at once: confirming is
        // conditional on nobody having given the order up, and if somebody
        // did, `settled_elsewhere` gives the sold stock back. Anything else
        // (a held reservation recovery found, one released or expired)
        // goes on only for an order nobody gave up on. Should recovery give
        // it up after this point, it finds the reservation (it exists now)
        // and releases it.
        if reservation.status != ReservationStatus::Committed
            && !self.store.still_pending(id).await?
        {
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
        let Some(order) = self
            .store
            .confirm(id, user_id, seq, &committed.items, &committed.currency)
            .await?
        else {
            return self.settled_elsewhere(id).await;
        };
        self.after(Step::Confirmed).await?;
        self.clear_cart_now(id, user_id, &committed.items).await;
        Ok(order)
    }

    /// Another actor settled the order while this one held its reservation:
    /// recovery confirmed it (fine), or gave it up, and then the stock this
    /// saga may hold must go back, durably.
    async fn settled_elsewhere(&self, id: Uuid) -> Result<Order> {
        match self.store.get(id).await {
            Ok(order) if order.status == OrderStatus::Confirmed => Ok(order),
            Err(Error::NotFound) => Err(Error::Interrupted),
            Ok(_) => {
                // Marked first, so a failed release is finished by recovery.
                if self.store.mark_release(id).await? {
                    self.release(id).await?;
                    self.store.settle_release(id).await?;
                }
                Err(Error::Interrupted)
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
    /// stays for the worker.
    async fn clear_cart_now(&self, id: Uuid, user_id: &str, items: &[OrderItem]) {
        if let Err(e) = self.clear_cart(id, user_id, items).await {
            self.attempt_failed(id, Kind::ClearCart, &e).await;
        }
    }

    /// Gives the order's stock back (ReleaseReservation, exactly once).
    async fn release(&self, id: Uuid) -> Result<()> {
        self.downstream.release(id).await
    }

    /// Marks the end of `step`, where a fault crashes a checkout and tests
    /// hold one.
    async fn after(&self, step: Step) -> Result<()> {
        #[cfg(feature = "test-util")]
        self.hooks.after(step).await;
        if self.faults.crash_after(step.name()) {
            tracing::warn!(step = step.name(), "injected crash");
            return Err(Error::Interrupted);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Step;

    #[test]
    fn every_saga_step_is_a_crash_point_the_fault_parser_accepts() {
        let all = [
            Step::OrderCreated,
            Step::CartRead,
            Step::StockRequested,
            Step::Reserved,
            Step::Committed,
            Step::Confirmed,
        ];
        assert_eq!(
            all.map(Step::name),
            shop_runtime::chaos::CRASH_STEPS,
            "shop_runtime::chaos::CRASH_STEPS lists the saga's steps, in order"
        );
    }
}
