//! What order-service does with events: a shipment that shipped makes its
//! order SHIPPED for fulfillment, after which it cannot be cancelled.

use prost::Message as _;
use shop_proto::events::ShipmentShipped;
use shop_runtime::events::consumer::{self, ConsumerSpec, Delivery, Handler, HandlerError};
use shop_runtime::events::{Stream, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

/// The durable consumer of shipments.
pub const SHIPMENTS: ConsumerSpec = ConsumerSpec {
    name: "order-shipments",
    component: crate::COMPONENT,
    stream: Stream::Fulfillment,
    topics: &[Topic::ShipmentShipped],
    max_deliver: 5,
    backoff: consumer::BACKOFF,
};

/// Applies `shop.fulfillment.shipped` to its order.
#[derive(Debug, Clone, Copy)]
pub struct Shipments;

impl Handler for Shipments {
    async fn handle(&self, conn: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        self.handle_all(conn, &[event]).await
    }

    /// One statement for the whole batch.
    async fn handle_all(
        &self,
        conn: &mut PgConnection,
        events: &[&Delivery],
    ) -> Result<(), HandlerError> {
        let mut orders = Vec::with_capacity(events.len());
        for event in events {
            let shipped = ShipmentShipped::decode(event.payload.clone())?;
            orders.push(Uuid::parse_str(&shipped.order_id).map_err(|_| {
                HandlerError::Permanent(format!("order_id {:?} is no UUID", shipped.order_id))
            })?);
        }
        sqlx::query!(
            "UPDATE orders SET fulfillment_status = 'SHIPPED', updated_at = now() WHERE id = ANY($1)",
            &orders
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
