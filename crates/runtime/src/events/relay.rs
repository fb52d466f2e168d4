//! The relay: publishes a service's outbox to JetStream, in order, at
//! least once, and marks what JetStream acknowledged.
//!
//! One relay runs per service across replicas: each replica's relay tries
//! a session advisory lock on a connection it keeps out of its pool (and
//! within the pool's budget) and relays only while it holds it (another
//! replica takes over within a poll interval when the holder dies, as
//! PostgreSQL drops its lock with its connection). A batch is read oldest first, published pipelined (every
//! publish sent, then every acknowledgement awaited), and marked published
//! in one statement. A failed batch is retried forever with a backoff, its
//! rows' `attempts` and `last_error` recorded, so nothing is parked
//! silently; the backlog and its age are metrics (once a second).
//!
//! The component's faults reach the relay as calls to
//! `/nats/publish/SUBJECT` (`shop_runtime::chaos`): `abort` or `error`
//! fails the batch as an unreachable broker would, `latency` delays it,
//! and `poison` follows an event with a copy no consumer can read.

use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Connection as _, PgPool, Postgres, Row as _};
use uuid::Uuid;

use crate::chaos::Faults;

/// How the relay of one service runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The producing component (`ce-source`, metric label, lock key).
    pub component: &'static str,
    /// Most events per batch.
    pub batch: i64,
    /// Pause when the outbox is empty, and before a leader retries the lock.
    pub idle: Duration,
    /// First backoff after a failed batch; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// The component's faults, for its publishes.
    pub faults: Faults,
}

impl RelayConfig {
    /// The defaults for `component`: batches of 100, polled every 50 ms.
    pub fn new(component: &'static str) -> Self {
        Self {
            component,
            batch: 100,
            idle: Duration::from_millis(50),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            faults: Faults::default(),
        }
    }
}

/// Connects to the broker at `nats_url` (retrying until it answers, so a
/// broker that is down delays events, never the service) and runs the
/// relay of `component` over `pool`, with `faults` on its publishes.
/// Abort the task to stop it.
pub fn spawn(
    nats_url: String,
    pool: PgPool,
    component: &'static str,
    faults: Faults,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        let js = loop {
            match super::connect(&nats_url, component).await {
                Ok(js) => break js,
                Err(error) => {
                    tracing::warn!(component, %error, "event broker unreachable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let config = RelayConfig {
            faults,
            ..RelayConfig::new(component)
        };
        run(pool, js, config, std::future::pending()).await;
    })
}

/// One unpublished event.
struct Pending {
    id: Uuid,
    subject: String,
    aggregate_id: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
    created_at: DateTime<Utc>,
}

/// Runs the relay of `config.component` over `pool` into `js` until
/// `shutdown` completes.
pub async fn run(
    pool: PgPool,
    js: jetstream::Context,
    config: RelayConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let key = lock_key(config.component);
    let mut leader: Option<PoolConnection<Postgres>> = None;
    let mut backoff = config.backoff;
    let mut reported = std::time::Instant::now() - BACKLOG_EVERY;
    loop {
        if leader.is_none() {
            leader = try_lead(&pool, key).await;
        }
        if leader.is_some() && reported.elapsed() >= BACKLOG_EVERY {
            record_backlog(&pool, config.component).await;
            reported = std::time::Instant::now();
        }
        let pause = match &leader {
            None => config.idle * 10,
            Some(_) => match relay_batch(&pool, &js, &config).await {
                // A full batch may have more behind it: at once. A short one
                // drained the outbox: the next poll after the pause.
                Ok(published) => {
                    backoff = config.backoff;
                    if published as i64 >= config.batch {
                        Duration::ZERO
                    } else {
                        config.idle
                    }
                }
                Err(error) => {
                    tracing::warn!(component = config.component, %error, "outbox batch not published; retrying");
                    metrics::counter!("outbox_publish_errors_total", "service" => config.component)
                        .increment(1);
                    // The lock's connection may be the one that failed:
                    // closed, not returned to the pool.
                    if let Some(conn) = &mut leader
                        && conn.ping().await.is_err()
                    {
                        drop(leader.take().map(PoolConnection::detach));
                    }
                    let pause = backoff;
                    backoff = (backoff * 2).min(config.max_backoff);
                    pause
                }
            },
        };
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// How often the leader publishes the outbox backlog and its oldest age.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// The advisory lock key of a service's relay.
fn lock_key(component: &str) -> i64 {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("outbox-relay:{component}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// A connection holding the relay's lock, or None when another replica
/// holds it (the connection then goes back to the pool, holding nothing).
async fn try_lead(pool: &PgPool, key: i64) -> Option<PoolConnection<Postgres>> {
    let mut conn = pool.acquire().await.ok()?;
    let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await
        .ok()?;
    won.then_some(conn)
}

/// Publishes one batch; the number of events published.
async fn relay_batch(
    pool: &PgPool,
    js: &jetstream::Context,
    config: &RelayConfig,
) -> Result<usize, async_nats::Error> {
    let rows = sqlx::query(
        "SELECT id, subject, aggregate_id, payload, traceparent, created_at FROM outbox \
         WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1",
    )
    .bind(config.batch)
    .fetch_all(pool)
    .await?;
    let batch: Vec<Pending> = rows
        .into_iter()
        .map(|row| Pending {
            id: row.get("id"),
            subject: row.get("subject"),
            aggregate_id: row.get("aggregate_id"),
            payload: row.get("payload"),
            traceparent: row.get("traceparent"),
            created_at: row.get("created_at"),
        })
        .collect();
    if batch.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = batch.iter().map(|p| p.id).collect();
    match publish_all(js, config, &batch).await {
        Ok(()) => {
            sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
                .bind(&ids)
                .execute(pool)
                .await?;
            metrics::counter!("outbox_published_total", "service" => config.component)
                .increment(batch.len() as u64);
            Ok(batch.len())
        }
        Err(error) => {
            let message = error.to_string();
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
            )
            .bind(&ids)
            .bind(&message)
            .execute(pool)
            .await?;
            Err(error)
        }
    }
}

/// Sends every publish of `batch`, then awaits every acknowledgement.
async fn publish_all(
    js: &jetstream::Context,
    config: &RelayConfig,
    batch: &[Pending],
) -> Result<(), async_nats::Error> {
    let mut acks = Vec::with_capacity(batch.len());
    for event in batch {
        let path = format!("/nats/publish/{}", event.subject);
        if let Some(hit) = config.faults.on_call(&path)
            && hit.wait().await.is_some()
        {
            return Err(format!("injected fault: broker unreachable for {path}").into());
        }
        acks.push(send(js, config.component, event).await?);
        if config.faults.poisons(&path) {
            acks.push(send(js, config.component, &poisoned(event)).await?);
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// Sends `event` with its envelope and `Nats-Msg-Id`; the acknowledgement
/// to await.
async fn send(
    js: &jetstream::Context,
    component: &str,
    event: &Pending,
) -> Result<jetstream::context::PublishAckFuture, async_nats::Error> {
    let publish = jetstream::message::PublishMessage::build()
        .payload(event.payload.clone().into())
        .headers(envelope(event, component))
        .message_id(event.id.to_string());
    Ok(js.send_publish(event.subject.clone(), publish).await?)
}

/// A copy of `event` that no consumer can read: its own id, the same type
/// and subject, and a payload that is not protobuf (field 0 is never
/// valid). For the `poison` fault only.
fn poisoned(event: &Pending) -> Pending {
    Pending {
        id: Uuid::new_v4(),
        payload: b"\x00\x00 poison: injected fault".to_vec(),
        subject: event.subject.clone(),
        aggregate_id: event.aggregate_id.clone(),
        traceparent: event.traceparent.clone(),
        created_at: event.created_at,
    }
}

/// The CloudEvents binary-mode headers and trace context of `event`.
fn envelope(event: &Pending, component: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", event.id.to_string().as_str());
    headers.insert("ce-type", event.subject.as_str());
    headers.insert("ce-source", format!("/shop/{component}").as_str());
    headers.insert("ce-subject", event.aggregate_id.as_str());
    headers.insert(
        "ce-time",
        event
            .created_at
            .to_rfc3339_opts(SecondsFormat::Micros, true)
            .as_str(),
    );
    headers.insert("content-type", "application/protobuf");
    if let Some(traceparent) = &event.traceparent {
        headers.insert("traceparent", traceparent.as_str());
    }
    headers
}

/// Publishes the outbox backlog and the age of its oldest event.
async fn record_backlog(pool: &PgPool, component: &'static str) {
    let row = sqlx::query(
        "SELECT count(*) AS backlog, \
                COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest \
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await;
    if let Ok(row) = row {
        let backlog: i64 = row.get("backlog");
        let oldest: f64 = row.get("oldest");
        metrics::gauge!("outbox_backlog", "service" => component).set(backlog as f64);
        metrics::gauge!("outbox_oldest_age_seconds", "service" => component).set(oldest);
    }
}
