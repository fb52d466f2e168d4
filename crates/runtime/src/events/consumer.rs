//! Consumers: durable pull consumers whose handler runs in a database
//! transaction that also records the event in an inbox, so an effect
//! happens once however often a message arrives.
//!
//! For each message, in order:
//! 1. `INSERT INTO inbox (consumer, event_id) … ON CONFLICT DO NOTHING`:
//!    an event already recorded is a duplicate, acknowledged untouched;
//! 2. the handler, on the same transaction;
//! 3. commit, then acknowledge: a crash before the commit redelivers and
//!    the handler runs again from scratch; a crash after it redelivers and
//!    the inbox drops the copy.
//!
//! Messages that arrive together (up to [`BATCH`] already received when the
//! consumer looks) are applied in one transaction: one inbox statement for
//! all of them, the handlers ([`Handler::handle_all`]), one commit, then every
//! acknowledgement, so a burst costs one commit instead of one per event.
//! If anything in such a batch fails, it rolls back whole and each message
//! is handled alone as above, so one bad event is retried or dead-lettered
//! by itself and never holds back the others. Redeliveries and unreadable
//! messages are always handled alone.
//!
//! A handler's transient error rolls back and asks for redelivery after a
//! backoff ([`ConsumerSpec::backoff`]); a message that still fails after
//! [`ConsumerSpec::max_deliver`] deliveries, or that cannot be read at all
//! (a poison message), is published to the `DLQ` stream
//! (`shop.dlq.<consumer>`, with its headers, subject and the error) and
//! terminated, so the messages after it go on. The consumer's span
//! continues the producer's trace (`traceparent`).
//!
//! A message delivered and never acknowledged (its consumer died) comes
//! back after [`ACK_WAIT`]. The component's faults reach a consumer as
//! calls to `/nats/fetch/CONSUMER` (`abort`: the broker is unreachable) and
//! as `crash after event-handled` / `crash after event-committed`, which
//! stop it at that step with its connection dropped, as a killed process
//! would (`shop_runtime::chaos`).
//!
//! Each consumer's schema has the inbox:
//!
//! ```sql
//! CREATE TABLE inbox (
//!     consumer    text        NOT NULL,
//!     event_id    uuid        NOT NULL,
//!     received_at timestamptz NOT NULL DEFAULT now(),
//!     PRIMARY KEY (consumer, event_id)
//! );
//! ```

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use chrono::{DateTime, Utc};
use futures::{FutureExt as _, StreamExt as _};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{Stream, Topic};
use crate::chaos::Faults;

/// How long the broker waits for an acknowledgement before it delivers a
/// message again. A handler is one short transaction; one slower than this
/// is delivered twice and the inbox drops the second.
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// A consumer: its durable name, what it reads and how it retries.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, also the inbox's `consumer` and the DLQ subject's
    /// last token (`cart-price-changes`).
    pub name: &'static str,
    /// The component that consumes (spans, metrics).
    pub component: &'static str,
    /// The stream it reads.
    pub stream: Stream,
    /// The topics it handles (its filter subjects).
    pub topics: &'static [Topic],
    /// Deliveries before a failing message goes to the DLQ.
    pub max_deliver: i64,
    /// Pause before the n-th redelivery (the last one repeats).
    pub backoff: &'static [Duration],
}

/// The default redelivery schedule: 100 ms, 1 s, 5 s, then 10 s.
pub const BACKOFF: &[Duration] = &[
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// An event as a handler sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event id (`ce-id`).
    pub id: Uuid,
    /// Its topic.
    pub topic: Topic,
    /// What it is about (`ce-subject`: an order id, a product id).
    pub subject: String,
    /// When the producer committed it (`ce-time`).
    pub time: Option<DateTime<Utc>>,
    /// The protobuf message.
    pub payload: bytes::Bytes,
}

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// It may pass (the database is busy): redeliver after a backoff.
    #[error("{0}")]
    Transient(String),
    /// It never will (the payload does not decode): to the DLQ at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(e.to_string())
    }
}

impl From<prost::DecodeError> for HandlerError {
    fn from(e: prost::DecodeError) -> Self {
        Self::Permanent(format!("undecodable payload: {e}"))
    }
}

/// What a consumer does with an event, on the transaction that records it.
pub trait Handler: Send + Sync + 'static {
    /// Applies `event` on `conn`; the inbox row is already on it.
    fn handle(
        &self,
        conn: &mut PgConnection,
        event: &Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Applies `events` (fresh, in the order they arrived) on `conn`, one
    /// batch's work in one transaction; their inbox rows are already on
    /// it. By default each with [`Handler::handle`]; a handler that can
    /// apply a batch with one statement overrides it.
    fn handle_all(
        &self,
        conn: &mut PgConnection,
        events: &[&Delivery],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for event in events {
                self.handle(conn, event).await?;
            }
            Ok(())
        }
    }
}

/// Creates or updates the durable consumer of `spec` on `js`.
pub async fn durable(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
) -> Result<jetstream::consumer::Consumer<pull::Config>, async_nats::Error> {
    let stream = js.get_stream(spec.stream.name()).await?;
    // An existing one is kept as it is: `shop events replay` may have
    // moved its start.
    if let Ok(existing) = stream.get_consumer(spec.name).await {
        return Ok(existing);
    }
    let config = pull::Config {
        durable_name: Some(spec.name.into()),
        filter_subjects: spec.topics.iter().map(|t| t.subject().into()).collect(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        // Redelivery is ours to count: past max_deliver it goes to the DLQ.
        max_deliver: -1,
        ..Default::default()
    };
    Ok(stream.create_consumer(config).await?)
}

/// Connects to `nats_url` (retrying until it answers) and runs the consumer
/// of `spec` over `pool` with `handler`, restarting it whenever it stops.
/// Abort the task to stop it.
pub fn spawn<H: Handler>(
    nats_url: String,
    pool: PgPool,
    spec: ConsumerSpec,
    handler: H,
    faults: Faults,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let first = Duration::from_millis(200);
        let mut backoff = first;
        loop {
            match super::connect(&nats_url, spec.component).await {
                Ok(js) => {
                    // A consumer that ran a while restarts after a short pause; one
                    // that keeps stopping (a broker fault) backs off.
                    let started = std::time::Instant::now();
                    let ran = run(&js, &pool, &spec, &handler, &faults).await;
                    if started.elapsed() > Duration::from_secs(10) {
                        backoff = first;
                    }
                    match ran {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::warn!(consumer = spec.name, %error, "consumer stopped; restarting")
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(consumer = spec.name, %error, "event broker unreachable; retrying")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

/// Pulls and handles messages until the connection fails (or a fault
/// stops the consumer).
pub async fn run<H: Handler>(
    js: &jetstream::Context,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    faults: &Faults,
) -> Result<(), async_nats::Error> {
    let mut consumer = durable(js, spec).await?;
    // One long-lived pull: the broker pushes up to a batch ahead and the
    // client asks for more as they are handled, instead of a request per
    // fetch. Unhandled ones go back after ACK_WAIT if the consumer dies.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(100)
        .expires(Duration::from_secs(30))
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await?;
    let mut reported = std::time::Instant::now() - LAG_EVERY;
    let fetch_path = format!("/nats/fetch/{}", spec.name);
    loop {
        if reported.elapsed() >= LAG_EVERY {
            report_lag(js, &mut consumer, spec).await;
            reported = std::time::Instant::now();
        }
        if let Some(hit) = faults.on_call(&fetch_path)
            && hit.wait().await.is_some()
        {
            return Err(format!("injected fault: broker unreachable for {fetch_path}").into());
        }
        // Wakes at least every LAG_EVERY while idle, for the lag and faults.
        let first = match tokio::time::timeout(LAG_EVERY, messages.next()).await {
            Err(_idle) => continue,
            Ok(None) => return Err("the broker ended the message stream".into()),
            Ok(Some(message)) => message?,
        };
        // And whatever else has already arrived, without waiting for more.
        let mut batch = vec![first];
        let mut stopped = None;
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                None => break,
                Some(Some(Ok(message))) => batch.push(message),
                Some(Some(Err(error))) => {
                    stopped = Some(error.into());
                    break;
                }
                Some(None) => {
                    stopped = Some("the broker ended the message stream".into());
                    break;
                }
            }
        }
        handle_batch(js, pool, spec, handler, faults, &batch).await?;
        if let Some(error) = stopped {
            return Err(error);
        }
    }
}

/// Most messages applied in one transaction.
pub const BATCH: usize = 100;

/// How often a consumer publishes its lag and the DLQ's depth.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// `event_consumer_lag` (messages not yet delivered to the consumer) and
/// `event_dlq_messages` (dead letters of this consumer).
async fn report_lag(
    js: &jetstream::Context,
    consumer: &mut jetstream::consumer::Consumer<pull::Config>,
    spec: &ConsumerSpec,
) {
    if let Ok(info) = consumer.info().await {
        metrics::gauge!("event_consumer_lag", "consumer" => spec.name).set(info.num_pending as f64);
    }
    if let Ok(dlq) = js.get_stream(Stream::Dlq.name()).await {
        let subject = dlq_subject(spec.name);
        if let Ok(info) = dlq.info_with_subjects(&subject).await {
            use futures::TryStreamExt as _;
            let counts: Vec<(String, usize)> = info.try_collect().await.unwrap_or_default();
            let dead: usize = counts.iter().map(|(_, n)| n).sum();
            metrics::gauge!("event_dlq_messages", "consumer" => spec.name).set(dead as f64);
        }
    }
}

/// Handles one message: inbox, handler, commit ([`apply`]), then the
/// acknowledgement, a nak for a retry, or the DLQ.
async fn handle_one<H: Handler>(
    js: &jetstream::Context,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    faults: &Faults,
    message: &jetstream::Message,
) -> Result<(), async_nats::Error> {
    let delivered = deliveries(message);
    let span = consume_span(spec, message);
    let outcome = match parse(message) {
        Err(error) => Err(HandlerError::Permanent(error)),
        Ok(event) => {
            let one = std::slice::from_ref(&event);
            apply(
                pool,
                spec,
                handler,
                faults,
                one,
                std::slice::from_ref(&span),
            )
            .await
            .map(|applied| match applied {
                Applied::Committed(fresh) if fresh[0] => {
                    record_latency(spec, &event);
                    Outcome::Applied
                }
                Applied::Committed(_) => Outcome::Duplicate,
                Applied::Crashed(step) => Outcome::Crashed(step),
            })
        }
    };
    let count = |outcome| count(spec, outcome);
    if delivered > 1 {
        metrics::counter!("event_redeliveries_total", "consumer" => spec.name).increment(1);
    }
    match outcome {
        Ok(Outcome::Applied) => {
            count("applied");
            message.ack().await
        }
        Ok(Outcome::Duplicate) => {
            count("duplicate");
            message.ack().await
        }
        Ok(Outcome::Crashed(step)) => Err(crashed(spec, step)),
        Err(HandlerError::Transient(error)) if delivered < spec.max_deliver => {
            count("retried");
            let _enter = span.enter();
            tracing::warn!(consumer = spec.name, delivered, %error, "event not applied; redelivering");
            let index = usize::try_from(delivered - 1).unwrap_or(0);
            let pause = spec.backoff[index.min(spec.backoff.len() - 1)];
            message.ack_with(AckKind::Nak(Some(pause))).await
        }
        Err(error) => {
            count("dead_lettered");
            let _enter = span.enter();
            tracing::error!(consumer = spec.name, delivered, %error, "event dead-lettered");
            dead_letter(js, spec, message, &error.to_string()).await?;
            message.ack_with(AckKind::Term).await
        }
    }
}

/// Handles `batch`: together in one transaction when every message in it
/// is a first delivery of a readable event, else (or when that fails) each
/// alone with [`handle_one`].
async fn handle_batch<H: Handler>(
    js: &jetstream::Context,
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    faults: &Faults,
    batch: &[jetstream::Message],
) -> Result<(), async_nats::Error> {
    let readable: Option<Vec<Delivery>> = batch
        .iter()
        .map(|m| parse(m).ok().filter(|_| deliveries(m) == 1))
        .collect();
    if let Some(events) = readable.filter(|events| events.len() > 1) {
        let spans: Vec<tracing::Span> = batch.iter().map(|m| consume_span(spec, m)).collect();
        match apply(pool, spec, handler, faults, &events, &spans).await {
            Ok(Applied::Committed(fresh)) => {
                for ((message, event), fresh) in batch.iter().zip(&events).zip(fresh) {
                    if fresh {
                        count(spec, "applied");
                        record_latency(spec, event);
                    } else {
                        count(spec, "duplicate");
                    }
                    message.ack().await?;
                }
                return Ok(());
            }
            Ok(Applied::Crashed(step)) => return Err(crashed(spec, step)),
            // Rolled back whole: each alone finds which one fails, and
            // retries or dead-letters only that one.
            Err(error) => {
                tracing::debug!(consumer = spec.name, %error, "batch not applied together; one at a time")
            }
        }
    }
    for message in batch {
        handle_one(js, pool, spec, handler, faults, message).await?;
    }
    Ok(())
}

/// What became of events applied in one transaction.
enum Applied {
    /// Committed; per event, whether it was fresh (else a duplicate).
    Committed(Vec<bool>),
    /// A `crash after STEP` fault stopped the consumer there.
    Crashed(&'static str),
}

/// In one transaction: records every event in the inbox with one
/// statement, applies the fresh ones with [`Handler::handle_all`] (under
/// the first fresh one's span), and commits. A batch, or one event.
async fn apply<H: Handler>(
    pool: &PgPool,
    spec: &ConsumerSpec,
    handler: &H,
    faults: &Faults,
    events: &[Delivery],
    spans: &[tracing::Span],
) -> Result<Applied, HandlerError> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let mut tx = pool.begin().await?;
    let mut fresh: std::collections::HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO inbox (consumer, event_id) SELECT $1, id FROM UNNEST($2::uuid[]) AS id \
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(spec.name)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    // A copy later in the same batch is a duplicate of the first.
    let applied: Vec<bool> = events.iter().map(|e| fresh.remove(&e.id)).collect();
    let todo: Vec<&Delivery> = events
        .iter()
        .zip(&applied)
        .filter_map(|(event, &fresh)| fresh.then_some(event))
        .collect();
    // The batch's statements go under the first fresh event's span; each
    // event's own span marks its arrival in its producer's trace.
    let Some(first) = applied.iter().position(|&fresh| fresh) else {
        // Only duplicates: nothing to do or commit (no step to crash after).
        return Ok(Applied::Committed(applied));
    };
    let span = spans[first].clone();
    span.record("messaging.batch.message_count", todo.len());
    handler.handle_all(&mut tx, &todo).instrument(span).await?;
    if faults.crash_after("event-handled") {
        return Ok(Applied::Crashed("event-handled"));
    }
    tx.commit().await?;
    if faults.crash_after("event-committed") {
        return Ok(Applied::Crashed("event-committed"));
    }
    Ok(Applied::Committed(applied))
}

/// How many times the broker has delivered `message`, this time included.
fn deliveries(message: &jetstream::Message) -> i64 {
    message.info().map(|i| i.delivered).unwrap_or(1)
}

/// The consumer's span of `message`, continuing the producer's trace.
fn consume_span(spec: &ConsumerSpec, message: &jetstream::Message) -> tracing::Span {
    let span = tracing::info_span!(
        "event.consume",
        otel.name = %format!("consume {}", message.subject),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.destination.name = %message.subject,
        messaging.consumer.group.name = spec.name,
        messaging.batch.message_count = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, &trace_headers(message), spec.component);
    span
}

/// `events_consumed_total` by outcome.
fn count(spec: &ConsumerSpec, outcome: &'static str) {
    metrics::counter!("events_consumed_total", "consumer" => spec.name, "outcome" => outcome)
        .increment(1);
}

/// `event_latency_seconds`: the producer's commit to this consumer's.
fn record_latency(spec: &ConsumerSpec, event: &Delivery) {
    if let Some(time) = event.time {
        let latency = (Utc::now() - time).to_std().unwrap_or_default();
        metrics::histogram!("event_latency_seconds", "consumer" => spec.name)
            .record(latency.as_secs_f64());
    }
}

/// Counts a `crash after STEP` fault and stops the consumer: no
/// acknowledgement, no nak, the connection dropped with it, so the broker
/// delivers its messages again after [`ACK_WAIT`].
fn crashed(spec: &ConsumerSpec, step: &'static str) -> async_nats::Error {
    metrics::counter!("event_consumer_crashes_total", "consumer" => spec.name, "step" => step)
        .increment(1);
    format!("injected fault: consumer crashed after {step}").into()
}

/// What became of a message.
enum Outcome {
    Applied,
    Duplicate,
    /// A `crash after STEP` fault stopped the consumer there.
    Crashed(&'static str),
}

/// The DLQ subject of a consumer.
pub fn dlq_subject(consumer: &str) -> String {
    format!("shop.dlq.{consumer}")
}

/// Publishes `message` to the DLQ with why, and awaits the broker's
/// acknowledgement (only then is the original terminated).
async fn dead_letter(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    error: &str,
) -> Result<(), async_nats::Error> {
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert("shop-dlq-subject", message.subject.as_str());
    headers.insert("shop-dlq-consumer", spec.name);
    headers.insert("shop-dlq-error", error);
    // A new id: the original's was taken by its own stream's dedupe.
    headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
    js.publish_with_headers(dlq_subject(spec.name), headers, message.payload.clone())
        .await?
        .await?;
    Ok(())
}

/// The event a message carries, from its CloudEvents headers.
fn parse(message: &jetstream::Message) -> Result<Delivery, String> {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let id = header("ce-id")
        .and_then(|id| Uuid::parse_str(&id).ok())
        .ok_or("no ce-id, or not a UUID")?;
    let topic = header("ce-type")
        .and_then(|t| Topic::from_subject(&t))
        .ok_or("no ce-type, or one this shop does not publish")?;
    Ok(Delivery {
        id,
        topic,
        subject: header("ce-subject").unwrap_or_default(),
        time: header("ce-time")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
        payload: message.payload.clone(),
    })
}

/// The message's `traceparent`, as the headers `continue_trace` reads.
fn trace_headers(message: &jetstream::Message) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Some(value) = message
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .and_then(|v| http::HeaderValue::from_str(v.as_str()).ok())
    {
        headers.insert("traceparent", value);
    }
    headers
}
