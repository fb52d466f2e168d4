//! Every SQL statement of fulfillment-service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shop_runtime::db::sql;
use shop_runtime::events::{Topic, outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Where a shipment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentStatus {
    /// Made for a confirmed order; ships at `ship_after`.
    Preparing,
    /// Left the warehouse: final.
    Shipped,
    /// Its order was cancelled before it shipped: final.
    Cancelled,
}

shop_runtime::stored_enum!(ShipmentStatus, "shipment status" {
    Preparing => "PREPARING",
    Shipped => "SHIPPED",
    Cancelled => "CANCELLED",
});

/// A shipment as GetShipment answers it.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub order_id: Uuid,
    pub status: ShipmentStatus,
    pub tracking_number: String,
    pub updated_at: DateTime<Utc>,
}

/// The shipments' database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

/// The tracking number of an order's shipment: derived from the order id,
/// so a redelivered confirm could never make a second one.
pub fn tracking_number(order_id: Uuid) -> String {
    let hex = order_id.simple().to_string().to_uppercase();
    format!("SHP{}", &hex[..16])
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The shipment of `order_id` if it is `user_id`'s.
    #[sql("fulfillment.shipment")]
    pub async fn shipment(&self, order_id: Uuid, user_id: &str) -> Result<Shipment> {
        sqlx::query_as!(
            Shipment,
            r#"
            SELECT order_id, status AS "status: ShipmentStatus", tracking_number, updated_at
            FROM shipments WHERE order_id = $1 AND user_id = $2
            "#,
            order_id,
            user_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)
    }

    /// Orders were confirmed: each its shipment, PREPARING until
    /// `ship_after` from now, or CANCELLED at once when its cancel came
    /// first; one statement for all of them. A second confirm of one order
    /// changes nothing.
    #[sql("fulfillment.prepare")]
    pub async fn prepare(
        conn: &mut PgConnection,
        orders: &[(Uuid, String)],
        ship_after: Duration,
    ) -> sqlx::Result<()> {
        let (ids, users): (Vec<Uuid>, Vec<String>) = orders.iter().cloned().unzip();
        let tracking: Vec<String> = ids.iter().copied().map(tracking_number).collect();
        sqlx::query!(
            r#"
            INSERT INTO shipments (order_id, user_id, status, tracking_number, ship_after)
            SELECT o.order_id, o.user_id,
                   CASE WHEN EXISTS (SELECT 1 FROM early_cancellations e WHERE e.order_id = o.order_id)
                        THEN 'CANCELLED' ELSE 'PREPARING' END,
                   o.tracking_number, now() + make_interval(secs => $4)
            FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS o(order_id, user_id, tracking_number)
            ORDER BY o.order_id
            ON CONFLICT (order_id) DO NOTHING
            "#,
            &ids,
            &users,
            &tracking,
            ship_after.as_secs_f64()
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// An order was cancelled: its shipment is CANCELLED unless it shipped;
    /// with no shipment yet, the cancel leaves a mark the confirm respects.
    #[sql("fulfillment.cancel")]
    pub async fn cancel(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<()> {
        sqlx::query!(
            r#"
            WITH cancelled AS (
                UPDATE shipments SET status = 'CANCELLED', updated_at = now()
                WHERE order_id = $1 AND status = 'PREPARING'
                RETURNING order_id
            )
            INSERT INTO early_cancellations (order_id)
            SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM shipments WHERE order_id = $1)
            ON CONFLICT (order_id) DO NOTHING
            "#,
            order_id
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Ships up to `limit` due shipments, with their
    /// `shop.fulfillment.shipped` events written by one statement in the
    /// same transaction; how many.
    #[sql("fulfillment.ship_due")]
    pub async fn ship_due(&self, limit: i64) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let shipped = sqlx::query!(
            r#"
            UPDATE shipments SET status = 'SHIPPED', updated_at = now()
            WHERE order_id IN (
                SELECT order_id FROM shipments
                WHERE status = 'PREPARING' AND ship_after <= now()
                ORDER BY ship_after LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING order_id, tracking_number
            "#,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<_> = shipped
            .iter()
            .map(|row| {
                let order_id = row.order_id.to_string();
                let event = shop_proto::events::ShipmentShipped {
                    order_id: order_id.clone(),
                    tracking_number: row.tracking_number.clone(),
                };
                (order_id, event)
            })
            .collect();
        if !events.is_empty() {
            outbox::record_all(&mut tx, Topic::ShipmentShipped, &events).await?;
        }
        tx.commit().await?;
        Ok(shipped.len())
    }
}
