//! What the checkout saga asks of cart-service and product-service.
//!
//! Every call carries a deadline and is retried on UNAVAILABLE: each one is
//! safe to repeat, because reads are reads and every write is keyed by the
//! order id (reserve, commit, release, remove purchased lines).

use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as cart_pb};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb, ReservationStatus};
use shop_runtime::client::CallPolicy;
use shop_runtime::client::Traced;
use tonic::Code;
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::domain::{OrderItem, Shortage};
use crate::error::{Error, Result};

use shop_proto::names::MIXED_CURRENCY;

/// Clients of the services the saga drives.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// cart-service.
    cart: CartServiceClient<Traced>,
    /// product-service.
    product: ProductServiceClient<Traced>,
    /// Deadline and retries of each call.
    policy: CallPolicy,
}

/// What reserving stock for an order came to.
#[derive(Debug)]
pub enum Reserved {
    /// All lines are held.
    Held(Reservation),
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

macro_rules! call {
    ($self:ident, $client:ident, $method:ident, $request:expr, $service:literal) => {{
        let request = $request;
        $self
            .policy
            .retry(|| {
                let mut client = $self.$client.clone();
                let request = $self.policy.request(request.clone());
                async move { client.$method(request).await }
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| (status, $service))
    }};
}

impl Downstream {
    /// Clients over two shared channels.
    pub fn new(cart: Traced, product: Traced, policy: CallPolicy) -> Self {
        Self {
            cart: CartServiceClient::new(cart),
            product: ProductServiceClient::new(product),
            policy,
        }
    }

    /// The shopper's cart, priced now.
    pub async fn cart(&self, user_id: &str) -> Result<cart_pb::Cart> {
        call!(
            self,
            cart,
            get_cart,
            cart_pb::GetCartRequest {
                user_id: user_id.into()
            },
            "cart-service"
        )
        .map_err(fail)
    }

    /// Holds stock for the cart's lines, keyed by the order id.
    pub async fn reserve(&self, order_id: Uuid, lines: &[cart_pb::CartItem]) -> Result<Reserved> {
        let request = product_pb::ReserveStockRequest {
            reservation_id: order_id.to_string(),
            lines: lines
                .iter()
                .map(|l| product_pb::ReservationLine {
                    product_id: l.product_id.clone(),
                    quantity: l.quantity,
                })
                .collect(),
            ttl_seconds: 0,
        };
        match call!(self, product, reserve_stock, request, "product-service") {
            Ok(reservation) => Ok(Reserved::Held(convert(reservation)?)),
            // A product changed currency since the cart was read: nothing is
            // held, and the shopper has to fix the cart (409), not retry.
            Err((status, _))
                if status.code() == Code::FailedPrecondition
                    && status
                        .get_details_error_info()
                        .is_some_and(|info| info.reason == MIXED_CURRENCY) =>
            {
                Err(Error::FailedPrecondition(status.message().to_string()))
            }
            Err((status, _)) if status.code() == Code::FailedPrecondition => {
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
            Err((status, _)) if status.code() == Code::NotFound => Ok(Reserved::UnknownProduct),
            Err(e) => Err(fail(e)),
        }
    }

    /// The order's reservation, if product-service has one.
    pub async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>> {
        let request = product_pb::GetReservationRequest {
            reservation_id: order_id.to_string(),
        };
        match call!(self, product, get_reservation, request, "product-service") {
            Ok(r) => Ok(Some(convert(r)?)),
            Err((status, _)) if status.code() == Code::NotFound => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }

    /// Turns the held stock into sold stock; `None` when the reservation
    /// expired or was released first.
    pub async fn commit(&self, order_id: Uuid) -> Result<Option<Reservation>> {
        let request = product_pb::CommitReservationRequest {
            reservation_id: order_id.to_string(),
        };
        match call!(
            self,
            product,
            commit_reservation,
            request,
            "product-service"
        ) {
            Ok(r) => Ok(Some(convert(r)?)),
            Err((status, _))
                if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) =>
            {
                Ok(None)
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// Gives the order's stock back, exactly once; nothing to give is fine.
    pub async fn release(&self, order_id: Uuid) -> Result<()> {
        let request = product_pb::ReleaseReservationRequest {
            reservation_id: order_id.to_string(),
        };
        match call!(
            self,
            product,
            release_reservation,
            request,
            "product-service"
        ) {
            Ok(_) => Ok(()),
            Err((status, _)) if status.code() == Code::NotFound => Ok(()),
            Err(e) => Err(fail(e)),
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
        match call!(self, cart, remove_purchased_items, request, "cart-service") {
            Ok(_) => Ok(()),
            // cart-service removes the lines (keyed by order id) before it
            // prices what is left; FAILED_PRECONDITION only says the rest of
            // the cart cannot be priced (its products diverged in currency).
            // The removal is done, so the follow-up is too: retrying it
            // would fail the same way forever.
            Err((status, _)) if status.code() == Code::FailedPrecondition => {
                tracing::info!(order_id = %order_id, message = status.message(), "purchased lines removed; the rest of the cart cannot be priced");
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }
}

fn fail((status, service): (tonic::Status, &str)) -> Error {
    Error::downstream(service, status)
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
        .map(|l| {
            Ok(OrderItem {
                product_id: Uuid::parse_str(&l.product_id).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "product-service sent {:?}: {e}",
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
