//! What cart-service does with events: a product's price change marks the
//! cart lines that hold it with the price they were added at, so the cart
//! says "was $12.00" (docs/events.md).

use prost::Message as _;
use shop_proto::events::PriceChanged;
use shop_runtime::events::consumer::{self, ConsumerSpec, Delivery, Handler, HandlerError};
use shop_runtime::events::{Stream, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

/// The durable consumer of price changes.
pub const PRICE_CHANGES: ConsumerSpec = ConsumerSpec {
    name: "cart-price-changes",
    component: crate::COMPONENT,
    stream: Stream::Products,
    topics: &[Topic::PriceChanged],
    max_deliver: 5,
    backoff: consumer::BACKOFF,
};

/// Applies `shop.product.price_changed` to the cart lines of that product.
#[derive(Debug, Clone, Copy)]
pub struct PriceChanges;

impl Handler for PriceChanges {
    async fn handle(&self, conn: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        let change = PriceChanged::decode(event.payload.clone())?;
        let product_id = Uuid::parse_str(&change.product_id).map_err(|_| {
            HandlerError::Permanent(format!("product_id {:?} is no UUID", change.product_id))
        })?;
        // A line keeps the price it was added at, the first time that price
        // changes; back at that price, it has nothing to say.
        sqlx::query!(
            r#"
            UPDATE cart_items SET previous_unit_price_minor =
                NULLIF(COALESCE(previous_unit_price_minor, $2), $3)
            WHERE product_id = $1
            "#,
            product_id,
            change.previous_unit_price_minor,
            change.unit_price_minor
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
