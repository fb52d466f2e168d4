//! Orders, their life cycle, the cart checkout reads, and the validation of
//! what callers send.

mod cart;
pub mod followup;

pub use cart::{Cart, CartLine};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shop_proto::names::rejection;
use shop_runtime::server::validate::FieldError;
use uuid::Uuid;

use shop_runtime::stored_enum;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Checkout is running (or crashed and awaits recovery).
    Pending,
    /// Stock is sold to this order.
    Confirmed,
    /// Checkout was refused; nothing is held.
    Rejected,
    /// The shopper cancelled; the stock went back.
    Cancelled,
}

stored_enum!(OrderStatus, "order status" {
    Pending => "PENDING",
    Confirmed => "CONFIRMED",
    Rejected => "REJECTED",
    Cancelled => "CANCELLED",
});

/// Why checkout refused an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionReason {
    /// The cart was empty.
    EmptyCart,
    /// Some lines were short of stock.
    InsufficientStock,
    /// A product in the cart no longer exists.
    UnknownProduct,
    /// The stock reservation expired or was released before it was committed.
    ReservationLost,
    /// Checkout stopped after asking for stock and was given up; whatever
    /// stock it may have held goes back.
    Interrupted,
}

stored_enum!(RejectionReason, "rejection reason" {
    EmptyCart => rejection::EMPTY_CART,
    InsufficientStock => rejection::INSUFFICIENT_STOCK,
    UnknownProduct => rejection::UNKNOWN_PRODUCT,
    ReservationLost => rejection::RESERVATION_LOST,
    Interrupted => rejection::CHECKOUT_INTERRUPTED,
});

impl RejectionReason {
    /// What the shopper is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::EmptyCart => "the cart is empty",
            Self::InsufficientStock => "insufficient stock for some items",
            Self::UnknownProduct => "a product in the cart is no longer sold",
            Self::ReservationLost => "the stock reservation expired before checkout finished",
            Self::Interrupted => {
                "checkout was interrupted and nothing was bought; check out again with a new key"
            }
        }
    }
}

/// A line that was short of stock, as product-service reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    pub product_id: String,
    /// E.g. "requested 2, available 1".
    pub description: String,
}

/// An order with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Primary key; also the key of its stock reservation.
    pub id: Uuid,
    /// From a sequence.
    pub number: i64,
    pub user_id: String,
    pub status: OrderStatus,
    /// Lines: what was bought (CONFIRMED, CANCELLED) or attempted (REJECTED).
    pub items: Vec<OrderItem>,
    /// Sum of line totals.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    pub rejection_reason: Option<RejectionReason>,
    /// Short lines of a stock rejection.
    pub shortages: Vec<Shortage>,
    /// Checkout has asked product-service for stock: a reservation may
    /// exist, so the order is never deleted.
    pub stock_requested: bool,
    /// When checkout began.
    pub created_at: DateTime<Utc>,
    /// `SHIPPED` once fulfillment-service said so; None before.
    pub fulfillment_status: Option<String>,
}

impl Order {
    /// `SO-000123`.
    pub fn display_number(&self) -> String {
        display_number(self.number)
    }
}

/// The order number as people read it: `SO-000123`.
pub fn display_number(number: i64) -> String {
    format!("SO-{number:06}")
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub product_id: Uuid,
    /// SKU at checkout.
    pub sku: String,
    /// Name at checkout.
    pub name: String,
    /// Units, at least one.
    pub quantity: i64,
    /// Price from product-service at checkout.
    pub unit_price_minor: i64,
    /// quantity × unit price.
    pub line_total_minor: i64,
}

/// Position after the last order of a page: history is newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `created_at` of the last order, in microseconds since the epoch.
    pub created_at_micros: i64,
    pub id: Uuid,
}

impl Cursor {
    /// The position right after `order`.
    pub fn of(order: &Order) -> Self {
        Self {
            created_at_micros: order.created_at.timestamp_micros(),
            id: order.id,
        }
    }
}

/// An idempotency key: 1 to 128 visible ASCII characters.
pub fn idempotency_key(raw: &str) -> Result<String, FieldError> {
    if (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            "idempotency_key",
            "must be 1 to 128 visible ASCII characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_zero_padded_to_six_digits() {
        let order = Order {
            id: Uuid::nil(),
            number: 123,
            user_id: String::new(),
            status: OrderStatus::Pending,
            items: vec![],
            total_minor: 0,
            currency: String::new(),
            rejection_reason: None,
            shortages: vec![],
            stock_requested: false,
            created_at: Utc::now(),
            fulfillment_status: None,
        };
        assert_eq!(order.display_number(), "SO-000123");
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_128() {
        assert!(idempotency_key("abc-123").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key(&"k".repeat(129)).is_err());
    }

    #[test]
    fn stored_values_round_trip_and_unknown_ones_are_errors() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(*s));
        }
        for r in RejectionReason::ALL {
            assert_eq!(r.as_str().parse::<RejectionReason>(), Ok(*r));
        }
        for k in followup::Kind::ALL {
            assert_eq!(k.as_str().parse::<followup::Kind>(), Ok(*k));
        }
        assert_eq!(OrderStatus::ALL.len(), 4);
        assert_eq!(RejectionReason::ALL.len(), 5);
        assert_eq!(followup::Kind::ALL.len(), 3);
        let unknown = "ON_HOLD".parse::<OrderStatus>().unwrap_err();
        assert_eq!(unknown.to_string(), "unknown order status \"ON_HOLD\"");
        assert!("pending".parse::<OrderStatus>().is_err());
        assert!("".parse::<RejectionReason>().is_err());
        assert!("SEND_EMAIL".parse::<followup::Kind>().is_err());
    }
}
