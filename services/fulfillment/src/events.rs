//! What fulfillment-service does with order events, and the shipper.

use std::time::Duration;

use prost::Message as _;
use shop_proto::events::{OrderCancelled, OrderConfirmed};
use shop_runtime::events::consumer::{self, ConsumerSpec, Delivery, Handler, HandlerError};
use shop_runtime::events::{Stream, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::Store;

/// The durable consumer of order events.
pub const ORDER_EVENTS: ConsumerSpec = ConsumerSpec {
    name: "fulfillment-orders",
    component: crate::COMPONENT,
    stream: Stream::Orders,
    topics: &[Topic::OrderConfirmed, Topic::OrderCancelled],
    max_deliver: 5,
    backoff: consumer::BACKOFF,
};

/// A confirmed order gets a shipment; a cancelled one's is cancelled.
#[derive(Debug, Clone)]
pub struct OrderEvents {
    ship_after: Duration,
}

impl OrderEvents {
    /// Shipments that ship `ship_after` their order's confirm.
    pub fn new(ship_after: Duration) -> Self {
        Self { ship_after }
    }
}

fn order_id(raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw)
        .map_err(|_| HandlerError::Permanent(format!("order_id {raw:?} is no UUID")))
}

/// The order a confirm is about, and whose it is.
fn confirmed(event: &Delivery) -> Result<(Uuid, String), HandlerError> {
    let order = OrderConfirmed::decode(event.payload.clone())?;
    Ok((order_id(&order.order_id)?, order.user_id))
}

impl Handler for OrderEvents {
    async fn handle(&self, conn: &mut PgConnection, event: &Delivery) -> Result<(), HandlerError> {
        match event.topic {
            Topic::OrderConfirmed => {
                Store::prepare(conn, &[confirmed(event)?], self.ship_after).await?;
            }
            Topic::OrderCancelled => {
                let order = OrderCancelled::decode(event.payload.clone())?;
                Store::cancel(conn, order_id(&order.order_id)?).await?;
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "{} is no order event",
                    other.subject()
                )));
            }
        }
        Ok(())
    }

    /// A batch of confirms only (the usual case) is one statement; one
    /// with a cancel in it goes in order, one event at a time.
    async fn handle_all(
        &self,
        conn: &mut PgConnection,
        events: &[&Delivery],
    ) -> Result<(), HandlerError> {
        if events.iter().all(|e| e.topic == Topic::OrderConfirmed) {
            let orders = events
                .iter()
                .map(|e| confirmed(e))
                .collect::<Result<Vec<_>, _>>()?;
            Store::prepare(conn, &orders, self.ship_after).await?;
            return Ok(());
        }
        for event in events {
            self.handle(conn, event).await?;
        }
        Ok(())
    }
}

/// Ships due shipments, forever, one batch at a time.
pub async fn ship_forever(store: Store, interval: Duration) {
    loop {
        match store.ship_due(100).await {
            Ok(100) => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "shipping failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}
