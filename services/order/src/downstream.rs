//! What the checkout saga asks of cart-service and product-service.
//!
//! Every call goes through the runtime's call policy: a deadline, and
//! retries on UNAVAILABLE. Each one is safe to repeat, because reads are
//! reads and every write is keyed by the order id (reserve, commit, release,
//! remove purchased lines). Each call first handles the codes it expects
//! (NOT_FOUND of a lookup, a shortage); the rest mean what
//! [`CallError`] says, for every caller alike.

use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as cart_pb};
use shop_proto::names::MIXED_CURRENCY;
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb, ReservationStatus};
use shop_runtime::Failure;
use shop_runtime::client::{CallError, CallPolicy, Client};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::domain::{Cart, CartLine, OrderItem, Shortage};
use crate::error::{Error, Result};

const CART_SERVICE: &str = "cart-service";
const PRODUCT_SERVICE: &str = "product-service";

/// Clients of the services the saga drives.
#[derive(Debug, Clone)]
pub struct Downstream {
    cart: CartServiceClient<Client>,
    product: ProductServiceClient<Client>,
    /// Calls to cart-service, with a retry budget of their own.
    cart_policy: CallPolicy,
    /// Calls to product-service, with a retry budget of their own.
    product_policy: CallPolicy,
}

/// What reserving stock for an order came to.
#[derive(Debug)]
pub enum Reserved {
    /// All lines are reserved: sold at once (COMMITTED), or, for a retry
    /// that found an earlier call's reservation, whatever that one is.
    Made(Reservation),
    /// Some lines are short; nothing is held.
    Short(Vec<Shortage>),
    /// A product no longer exists; nothing is held.
    UnknownProduct,
}

/// A reservation as the saga uses it.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Where it stands in product-service.
    pub status: ReservationStatus,
    /// Its lines, priced by product-service when reserved.
    pub items: Vec<OrderItem>,
    /// Currency of those prices.
    pub currency: String,
}

impl Downstream {
    /// Clients over two shared channels.
    pub fn new(cart: Client, product: Client, policy: &CallPolicy) -> Self {
        Self {
            cart: CartServiceClient::new(cart),
            product: ProductServiceClient::new(product),
            cart_policy: policy.with_own_budget(),
            product_policy: policy.with_own_budget(),
        }
    }

    /// The shopper's cart, priced now. A cart checkout cannot take (a line
    /// that does not parse) is FAILED_PRECONDITION naming the line.
    pub async fn cart(&self, user_id: &str) -> Result<Cart> {
        let request = cart_pb::GetCartRequest {
            user_id: user_id.into(),
        };
        let cart = self
            .cart_policy
            .unary(&self.cart, request, |mut c, r| async move {
                c.get_cart(r).await
            })
            .await
            .map_err(|status| CallError::new(CART_SERVICE, status))?;
        let lines = cart.items.iter().map(|i| CartLine {
            product_id: &i.product_id,
            sku: &i.sku,
            name: &i.name,
            quantity: i.quantity,
            unit_price_minor: i.unit_price_minor,
            line_total_minor: i.line_total_minor,
        });
        Cart::parse(lines, &cart.currency).map_err(|problem| {
            tracing::warn!(problem, "cart-service sent a cart checkout cannot take");
            Error::FailedPrecondition(format!(
                "the cart cannot be checked out: {problem}; remove that line and try again"
            ))
        })
    }

    /// Sells stock for the cart's lines at once (a COMMITTED reservation:
    /// reserve and commit in one call and one transaction), keyed by the
    /// order id.
    pub async fn reserve(&self, order_id: Uuid, lines: &[OrderItem]) -> Result<Reserved> {
        let request = product_pb::ReserveStockRequest {
            reservation_id: order_id.to_string(),
            lines: lines
                .iter()
                .map(|l| product_pb::ReservationLine {
                    product_id: l.product_id.to_string(),
                    quantity: l.quantity,
                })
                .collect(),
            ttl_seconds: 0,
            commit: true,
        };
        let result = self
            .product_policy
            .unary(&self.product, request, |mut c, r| async move {
                c.reserve_stock(r).await
            })
            .await;
        match result {
            Ok(reservation) => Ok(Reserved::Made(convert(reservation)?)),
            // A FAILED_PRECONDITION is a shortage, unless a product changed
            // currency since the cart was read: then nothing is held, and
            // the shopper has to fix the cart (the policy's FAILED_PRECONDITION),
            // not retry.
            Err(status)
                if status.code() == Code::FailedPrecondition && !mixed_currency(&status) =>
            {
                let shortages = status
                    .get_details_precondition_failure()
                    .map(|f| {
                        f.violations
                            .into_iter()
                            .map(|v| Shortage {
                                product_id: v.subject,
                                description: v.description,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Reserved::Short(shortages))
            }
            Err(status) if status.code() == Code::NotFound => Ok(Reserved::UnknownProduct),
            Err(status) => Err(CallError::new(PRODUCT_SERVICE, status).into()),
        }
    }

    /// The order's reservation, if product-service has one.
    pub async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>> {
        let request = product_pb::GetReservationRequest {
            reservation_id: order_id.to_string(),
        };
        let result = self
            .product_policy
            .unary(&self.product, request, |mut c, r| async move {
                c.get_reservation(r).await
            })
            .await;
        match result {
            Ok(r) => Ok(Some(convert(r)?)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(CallError::new(PRODUCT_SERVICE, status).into()),
        }
    }

    /// Turns the held stock into sold stock; `None` when the reservation
    /// expired or was released first.
    pub async fn commit(&self, order_id: Uuid) -> Result<Option<Reservation>> {
        let request = product_pb::CommitReservationRequest {
            reservation_id: order_id.to_string(),
        };
        let result = self
            .product_policy
            .unary(&self.product, request, |mut c, r| async move {
                c.commit_reservation(r).await
            })
            .await;
        match result {
            Ok(r) => Ok(Some(convert(r)?)),
            Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                Ok(None)
            }
            Err(status) => Err(CallError::new(PRODUCT_SERVICE, status).into()),
        }
    }

    /// Gives the order's stock back, exactly once; nothing to give is fine.
    pub async fn release(&self, order_id: Uuid) -> Result<()> {
        let request = product_pb::ReleaseReservationRequest {
            reservation_id: order_id.to_string(),
        };
        let result = self
            .product_policy
            .unary(&self.product, request, |mut c, r| async move {
                c.release_reservation(r).await
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(CallError::new(PRODUCT_SERVICE, status).into()),
        }
    }

    /// Removes the bought quantities from the cart, once per order.
    pub async fn remove_purchased(
        &self,
        user_id: &str,
        order_id: Uuid,
        items: &[OrderItem],
    ) -> Result<()> {
        let request = cart_pb::RemovePurchasedItemsRequest {
            user_id: user_id.into(),
            order_id: order_id.to_string(),
            items: items
                .iter()
                .map(|i| cart_pb::PurchasedItem {
                    product_id: i.product_id.to_string(),
                    quantity: i.quantity,
                })
                .collect(),
        };
        let result = self
            .cart_policy
            .unary(&self.cart, request, |mut c, r| async move {
                c.remove_purchased_items(r).await
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            // cart-service removes the lines (keyed by order id) before it
            // prices what is left; FAILED_PRECONDITION only says the rest of
            // the cart cannot be priced (its products diverged in currency).
            // The removal is done, so the follow-up is too: retrying it
            // would fail the same way forever.
            Err(status) if status.code() == Code::FailedPrecondition => {
                tracing::info!(order_id = %order_id, message = status.message(), "purchased lines removed; the rest of the cart cannot be priced");
                Ok(())
            }
            Err(status) => Err(CallError::new(CART_SERVICE, status).into()),
        }
    }
}

/// product-service refused a reservation whose products are priced in
/// different currencies.
fn mixed_currency(status: &Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|info| info.reason == MIXED_CURRENCY)
}

fn convert(r: product_pb::Reservation) -> Result<Reservation> {
    let status = r.status();
    let currency = r
        .lines
        .first()
        .map(|l| l.currency.clone())
        .unwrap_or_default();
    let items = r
        .lines
        .into_iter()
        .map(|l| -> Result<OrderItem> {
            Ok(OrderItem {
                product_id: Uuid::parse_str(&l.product_id).map_err(|e| {
                    Failure::internal(anyhow::anyhow!(
                        "{PRODUCT_SERVICE} sent {:?}: {e}",
                        l.product_id
                    ))
                })?,
                line_total_minor: l.unit_price_minor * l.quantity,
                sku: l.sku,
                name: l.name,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Reservation {
        status,
        items,
        currency,
    })
}
