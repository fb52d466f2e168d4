//! The outbox: events recorded in the transaction of the change they report.
//!
//! Each producing service's migrations create `outbox` in its own schema
//! (the connection's `search_path` finds it):
//!
//! ```sql
//! CREATE TABLE outbox (
//!     id           uuid        PRIMARY KEY,       -- the event id: ce-id, Nats-Msg-Id
//!     subject      text        NOT NULL,          -- shop.order.confirmed
//!     aggregate_id text        NOT NULL,          -- ce-subject: the order id
//!     payload      bytea       NOT NULL,          -- the protobuf message
//!     traceparent  text,                          -- W3C trace context of the change
//!     created_at   timestamptz NOT NULL DEFAULT now(),
//!     published_at timestamptz,                   -- set once JetStream acknowledged it
//!     attempts     integer     NOT NULL DEFAULT 0,
//!     last_error   text
//! );
//! ```

use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Topic;

/// One event ready for its outbox row: the values of the row's columns
/// `(id, subject, aggregate_id, payload, traceparent)`. [`record`] inserts
/// it; a producer that writes the row in a statement of its own (a CTE
/// beside the change it reports, to save round trips) binds these fields.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The event id: ce-id, Nats-Msg-Id.
    pub id: Uuid,
    /// The subject of `topic`.
    pub subject: &'static str,
    pub aggregate_id: String,
    /// The protobuf message, encoded.
    pub payload: Vec<u8>,
    /// The current span's W3C trace context, so consumers continue the
    /// trace of the change.
    pub traceparent: Option<String>,
}

impl Outgoing {
    /// `message` as an event of `topic` about `aggregate_id`, with a new
    /// id and the current span's trace context.
    pub fn new<M: Message>(topic: Topic, aggregate_id: &str, message: &M) -> Self {
        Self {
            id: Uuid::new_v4(),
            subject: topic.subject(),
            aggregate_id: aggregate_id.to_string(),
            payload: message.encode_to_vec(),
            traceparent: crate::telemetry::traceparent(&tracing::Span::current()),
        }
    }
}

/// Records `message` as an event of `topic` about `aggregate_id`, on
/// `conn` (inside the caller's transaction). Returns the event id. The
/// current span's trace context goes with it, so its consumers continue
/// the trace of the change.
pub async fn record<M: Message>(
    conn: &mut PgConnection,
    topic: Topic,
    aggregate_id: &str,
    message: &M,
) -> Result<Uuid, sqlx::Error> {
    let event = Outgoing::new(topic, aggregate_id, message);
    sqlx::query(
        "INSERT INTO outbox (id, subject, aggregate_id, payload, traceparent) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.id)
    .bind(event.subject)
    .bind(&event.aggregate_id)
    .bind(&event.payload)
    .bind(&event.traceparent)
    .execute(conn)
    .await?;
    Ok(event.id)
}

/// Records one event of `topic` per `(aggregate_id, message)` on `conn`
/// with a single statement (a batch's events, in the order given). Returns
/// their ids. They carry the current span's trace context, as [`record`].
pub async fn record_all<M: Message>(
    conn: &mut PgConnection,
    topic: Topic,
    events: &[(String, M)],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::new_v4()).collect();
    let aggregates: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    let payloads: Vec<Vec<u8>> = events.iter().map(|(_, m)| m.encode_to_vec()).collect();
    let traceparent = crate::telemetry::traceparent(&tracing::Span::current());
    sqlx::query(
        "INSERT INTO outbox (id, subject, aggregate_id, payload, traceparent) \
         SELECT id, $4, aggregate_id, payload, $5 \
         FROM UNNEST($1::uuid[], $2::text[], $3::bytea[]) AS e(id, aggregate_id, payload)",
    )
    .bind(&ids)
    .bind(&aggregates)
    .bind(&payloads)
    .bind(topic.subject())
    .bind(traceparent)
    .execute(conn)
    .await?;
    Ok(ids)
}
