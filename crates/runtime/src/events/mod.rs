//! Events through NATS JetStream: the topics, the transactional outbox and
//! its relay (docs/events.md).
//!
//! A producer records an event with [`outbox::record`] in the transaction
//! of the change it reports, into the `outbox` table of its own schema (or
//! binds an [`outbox::Outgoing`] in the very statement of the change, as
//! order-service's confirm does). The
//! [`relay`] of that service (one per service across replicas, by an
//! advisory lock) publishes what is unpublished, awaits JetStream's
//! acknowledgement, and marks it published; a crash in between publishes
//! it again, and JetStream drops the copy by its `Nats-Msg-Id` (the event
//! id) within the streams' duplicate window. Every topic is one variant of
//! [`Topic`], so the compiler lists every place a new one touches.

pub mod admin;
pub mod consumer;
pub mod outbox;
pub mod relay;

use std::time::Duration;

use async_nats::jetstream;

/// Every event Shop publishes: its subject, stream, producer and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `shop.order.confirmed` (`OrderConfirmed`), by order-service.
    OrderConfirmed,
    /// `shop.order.cancelled` (`OrderCancelled`), by order-service.
    OrderCancelled,
    /// `shop.product.price_changed` (`PriceChanged`), by product-service.
    PriceChanged,
    /// `shop.fulfillment.shipped` (`ShipmentShipped`), by fulfillment-service.
    ShipmentShipped,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 4] = [
        Topic::OrderConfirmed,
        Topic::OrderCancelled,
        Topic::PriceChanged,
        Topic::ShipmentShipped,
    ];

    /// Its subject, `shop.<aggregate>.<past-tense verb>`: also the
    /// CloudEvents `ce-type`.
    pub const fn subject(self) -> &'static str {
        match self {
            Topic::OrderConfirmed => "shop.order.confirmed",
            Topic::OrderCancelled => "shop.order.cancelled",
            Topic::PriceChanged => "shop.product.price_changed",
            Topic::ShipmentShipped => "shop.fulfillment.shipped",
        }
    }

    /// The stream that keeps it.
    pub const fn stream(self) -> Stream {
        match self {
            Topic::OrderConfirmed | Topic::OrderCancelled => Stream::Orders,
            Topic::PriceChanged => Stream::Products,
            Topic::ShipmentShipped => Stream::Fulfillment,
        }
    }

    /// The topic of `subject`, if it is one of ours.
    pub fn from_subject(subject: &str) -> Option<Topic> {
        Self::ALL.into_iter().find(|t| t.subject() == subject)
    }
}

/// The JetStream streams: one per producing aggregate, and the dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `ORDERS`: `shop.order.>`.
    Orders,
    /// `PRODUCTS`: `shop.product.>`.
    Products,
    /// `FULFILLMENT`: `shop.fulfillment.>`.
    Fulfillment,
    /// `DLQ`: `shop.dlq.>`, messages a consumer gave up on, with the error.
    Dlq,
}

impl Stream {
    /// Every stream.
    pub const ALL: [Stream; 4] = [
        Stream::Orders,
        Stream::Products,
        Stream::Fulfillment,
        Stream::Dlq,
    ];

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Stream::Orders => "ORDERS",
            Stream::Products => "PRODUCTS",
            Stream::Fulfillment => "FULFILLMENT",
            Stream::Dlq => "DLQ",
        }
    }

    /// The subjects it keeps.
    pub const fn subjects(self) -> &'static str {
        match self {
            Stream::Orders => "shop.order.>",
            Stream::Products => "shop.product.>",
            Stream::Fulfillment => "shop.fulfillment.>",
            Stream::Dlq => "shop.dlq.>",
        }
    }
}

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-publish: longer
/// than a relay can take to re-send after a crash between publish and mark.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Copies of each stream on a JetStream cluster.
pub const REPLICAS: usize = 3;

/// How long a stream keeps its events (replay reaches this far back).
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Connects to the broker at `url` (`NATS_URL`) and makes sure every
/// stream exists with Shop's settings.
pub async fn connect(url: &str, name: &str) -> Result<jetstream::Context, async_nats::Error> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(url)
        .await?;
    let js = jetstream::new(client);
    for stream in Stream::ALL {
        let config = |replicas| jetstream::stream::Config {
            name: stream.name().into(),
            subjects: vec![stream.subjects().into()],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            max_age: RETENTION,
            num_replicas: replicas,
            ..Default::default()
        };
        // Three copies on a cluster (the prod overlay runs three servers);
        // a single server refuses replicas, and keeps one.
        if js.get_or_create_stream(config(REPLICAS)).await.is_err() {
            js.get_or_create_stream(config(1)).await?;
        }
    }
    Ok(js)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_kept_by_its_stream_and_named_after_its_aggregate() {
        for topic in Topic::ALL {
            let prefix = topic.stream().subjects().trim_end_matches('>');
            assert!(topic.subject().starts_with(prefix), "{topic:?}");
            assert_eq!(Topic::from_subject(topic.subject()), Some(topic));
        }
        assert_eq!(Topic::from_subject("shop.order.lost"), None);
    }
}
