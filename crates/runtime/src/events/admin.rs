//! Operating the event flow (`shop events`): how far behind each consumer
//! is, the dead letters, sending them back, and replaying a window.

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Stream;

/// A stream and its consumers.
#[derive(Debug, Clone)]
pub struct StreamStatus {
    /// `ORDERS`, …
    pub name: &'static str,
    /// Messages it holds.
    pub messages: u64,
    /// Its durable consumers.
    pub consumers: Vec<ConsumerStatus>,
}

/// Where a consumer stands.
#[derive(Debug, Clone)]
pub struct ConsumerStatus {
    /// Its durable name.
    pub name: String,
    /// Messages not yet delivered: its lag.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: usize,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: usize,
}

/// A message a consumer gave up on.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its sequence in `DLQ`.
    pub sequence: u64,
    /// The consumer that gave up.
    pub consumer: String,
    /// Its original subject.
    pub subject: String,
    /// Why.
    pub error: String,
    /// The event id (`ce-id`), if it had one.
    pub event_id: String,
}

type Result<T> = std::result::Result<T, async_nats::Error>;

/// Every stream that exists, with its consumers.
pub async fn status(js: &jetstream::Context) -> Result<Vec<StreamStatus>> {
    use futures::TryStreamExt as _;
    let mut found = Vec::new();
    for stream in Stream::ALL {
        let Ok(mut handle) = js.get_stream(stream.name()).await else {
            continue;
        };
        let messages = handle.info().await?.state.messages;
        let infos: Vec<_> = handle.consumers().try_collect().await?;
        let consumers = infos
            .into_iter()
            .map(|info| ConsumerStatus {
                name: info.name,
                pending: info.num_pending,
                ack_pending: info.num_ack_pending,
                redelivered: info.num_redelivered,
            })
            .collect();
        found.push(StreamStatus {
            name: stream.name(),
            messages,
            consumers,
        });
    }
    Ok(found)
}

/// Every message in `DLQ`, oldest first.
pub async fn dead_letters(js: &jetstream::Context) -> Result<Vec<DeadLetter>> {
    let Ok(mut dlq) = js.get_stream(Stream::Dlq.name()).await else {
        return Ok(Vec::new());
    };
    let state = dlq.info().await?.state.clone();
    let mut letters = Vec::new();
    if state.messages == 0 {
        return Ok(letters);
    }
    for sequence in state.first_sequence..=state.last_sequence {
        // A sequence redriven (deleted) is a gap.
        let Ok(message) = dlq.get_raw_message(sequence).await else {
            continue;
        };
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_string())
                .unwrap_or_default()
        };
        letters.push(DeadLetter {
            sequence,
            consumer: header("shop-dlq-consumer"),
            subject: header("shop-dlq-subject"),
            error: header("shop-dlq-error"),
            event_id: header("ce-id"),
        });
    }
    Ok(letters)
}

/// Sends dead letters back to their original subject (`only`: that DLQ
/// sequence; otherwise all), then removes them from `DLQ`. The event keeps
/// its `ce-id`, so a consumer that applied it after all drops it by its
/// inbox; the message gets a new `Nats-Msg-Id`, as the original's may
/// still be in its stream's duplicate window. Returns how many went back.
pub async fn redrive(js: &jetstream::Context, only: Option<u64>) -> Result<usize> {
    let dlq = js.get_stream(Stream::Dlq.name()).await?;
    let mut sent = 0;
    for letter in dead_letters(js).await? {
        if only.is_some_and(|seq| seq != letter.sequence) || letter.subject.is_empty() {
            continue;
        }
        let message = dlq.get_raw_message(letter.sequence).await?;
        let mut headers = async_nats::HeaderMap::new();
        for (name, values) in message.headers.iter() {
            let name = name.to_string();
            if name.starts_with("shop-dlq-") || name == "Nats-Msg-Id" {
                continue;
            }
            for value in values {
                headers.append(name.as_str(), value.as_str());
            }
        }
        headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
        js.publish_with_headers(letter.subject.clone(), headers, message.payload.clone())
            .await?
            .await?;
        dlq.delete_message(letter.sequence).await?;
        sent += 1;
    }
    Ok(sent)
}

/// Replays to the durable consumer `name` every event of its stream since
/// `since`: the consumer is made again from that time on, with the same
/// subjects. Events it already applied are dropped by its inbox, so only
/// what is missing (say, after its database was restored) takes effect.
pub async fn replay(js: &jetstream::Context, name: &str, since: DateTime<Utc>) -> Result<Stream> {
    for stream in Stream::ALL {
        let Ok(handle) = js.get_stream(stream.name()).await else {
            continue;
        };
        let Ok(info) = handle.consumer_info(name).await else {
            continue;
        };
        let old = info.config;
        handle.delete_consumer(name).await?;
        handle
            .create_consumer(pull::Config {
                durable_name: Some(name.to_string()),
                filter_subjects: old.filter_subjects,
                filter_subject: old.filter_subject,
                ack_policy: old.ack_policy,
                ack_wait: old.ack_wait,
                max_deliver: old.max_deliver,
                deliver_policy: DeliverPolicy::ByStartTime { start_time: since },
                ..Default::default()
            })
            .await?;
        return Ok(stream);
    }
    Err(format!("no consumer named {name:?}").into())
}
