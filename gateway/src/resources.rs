//! The JSON representations of the API's resources, made from the
//! backends' messages: the REST API answers with them (and `openapi`
//! describes them), the storefront renders them. They live below both, so
//! neither imports the other.

use serde::{Deserialize, Serialize};
use shop_proto::{cart, order, product};
use utoipa::ToSchema;

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    /// Pass as `page_token` for the next page; null on the last page.
    pub(crate) next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items`; a backend's empty token means the last page.
    pub(crate) fn new(
        items: impl IntoIterator<Item = impl Into<T>>,
        next_page_token: String,
    ) -> Self {
        Self {
            items: items.into_iter().map(Into::into).collect(),
            next_page_token: (!next_page_token.is_empty()).then_some(next_page_token),
        }
    }
}

/// A line of a cart or an order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Line {
    pub(crate) product_id: String,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price_cents: i64,
    pub(crate) line_total_cents: i64,
    /// A cart line only: the unit price when the line was added, present
    /// once the product's price has changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous_unit_price_cents: Option<i64>,
}

/// A catalog product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Product {
    pub(crate) id: String,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) category: String,
    pub(crate) image_url: String,
    /// Price of one unit in minor units (cents).
    pub(crate) unit_price_cents: i64,
    /// ISO 4217 code.
    pub(crate) currency: String,
    /// Units that can be bought now.
    pub(crate) available: i64,
}

impl From<product::Product> for Product {
    fn from(p: product::Product) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            category: p.category,
            image_url: p.image_url,
            unit_price_cents: p.unit_price_minor,
            currency: p.currency,
            available: p.available,
        }
    }
}

/// A shopper's cart, priced now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Cart {
    pub(crate) user_id: String,
    pub(crate) items: Vec<Line>,
    pub(crate) subtotal_cents: i64,
    /// Empty for an empty cart.
    pub(crate) currency: String,
}

impl From<cart::Cart> for Cart {
    fn from(c: cart::Cart) -> Self {
        Self {
            user_id: c.user_id,
            items: c.items.into_iter().map(Line::from).collect(),
            subtotal_cents: c.subtotal_minor,
            currency: c.currency,
        }
    }
}

impl From<cart::CartItem> for Line {
    fn from(i: cart::CartItem) -> Self {
        Self {
            product_id: i.product_id,
            sku: i.sku,
            name: i.name,
            quantity: i.quantity,
            unit_price_cents: i.unit_price_minor,
            line_total_cents: i.line_total_minor,
            previous_unit_price_cents: i.previous_unit_price_minor,
        }
    }
}

/// The shipment of an order (fulfillment-service).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Shipment {
    pub(crate) order_id: String,
    /// PREPARING, SHIPPED or CANCELLED.
    pub(crate) status: String,
    pub(crate) tracking_number: String,
    /// RFC 3339, UTC.
    pub(crate) updated_at: String,
}

impl From<shop_proto::fulfillment::Shipment> for Shipment {
    fn from(s: shop_proto::fulfillment::Shipment) -> Self {
        let status = s
            .status()
            .as_str_name()
            .trim_start_matches("SHIPMENT_STATUS_")
            .to_string();
        let updated_at = s
            .updated_at
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        Self {
            order_id: s.order_id,
            status,
            tracking_number: s.tracking_number,
            updated_at,
        }
    }
}

/// An order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Order {
    pub(crate) id: String,
    /// Human order number, e.g. SO-000123.
    pub(crate) number: String,
    /// PENDING, CONFIRMED, REJECTED or CANCELLED.
    pub(crate) status: String,
    pub(crate) items: Vec<Line>,
    pub(crate) total_cents: i64,
    pub(crate) currency: String,
    /// RFC 3339, UTC.
    pub(crate) created_at: String,
    /// `SHIPPED` once the order's shipment left (then it can no longer be
    /// cancelled); absent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fulfillment_status: Option<String>,
}

impl From<order::Order> for Order {
    fn from(o: order::Order) -> Self {
        let status = o
            .status()
            .as_str_name()
            .trim_start_matches("ORDER_STATUS_")
            .to_string();
        let created_at = o
            .created_at
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        Self {
            id: o.id,
            number: o.number,
            status,
            items: o.items.into_iter().map(Line::from).collect(),
            total_cents: o.total_minor,
            currency: o.currency,
            created_at,
            fulfillment_status: Some(o.fulfillment_status).filter(|s| !s.is_empty()),
        }
    }
}

impl From<order::OrderItem> for Line {
    fn from(i: order::OrderItem) -> Self {
        Self {
            product_id: i.product_id,
            sku: i.sku,
            name: i.name,
            quantity: i.quantity,
            unit_price_cents: i.unit_price_minor,
            line_total_cents: i.line_total_minor,
            previous_unit_price_cents: None,
        }
    }
}
