//! The broker's own ceiling for bench/events: JetStream publishes of
//! `COUNT` messages of `SIZE` bytes to `shop.order.confirmed` on the NATS
//! server at `NATS_URL`, each with its own `Nats-Msg-Id` (so the stream's
//! dedupe runs as it does for the relay), `WINDOW` sent before their
//! acknowledgements are awaited: 100 is the relay's batch, larger windows
//! what `nats bench --js` does with async publishes. No database, no outbox:
//! what is left of the relay's rate is the broker and the client.
//!
//! Prints one line: `window published seconds per_second`.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 jetstream_publish 50000 120 100
//! ```

use std::time::Instant;

use async_nats::jetstream::message::PublishMessage;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().unwrap_or_else(|| "50000".into()).parse()?;
    let size: usize = args.next().unwrap_or_else(|| "120".into()).parse()?;
    let window: usize = args.next().unwrap_or_else(|| "100".into()).parse()?;
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    // The shop's streams, as the services make them.
    let js = shop_runtime::events::connect(&url, "jetstream-publish-bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let payload = bytes::Bytes::from(vec![0x2a_u8; size]);
    let started = Instant::now();
    let mut sent = 0;
    while sent < count {
        let n = window.min(count - sent);
        let mut acks = Vec::with_capacity(n);
        for _ in 0..n {
            let publish = PublishMessage::build()
                .payload(payload.clone())
                .message_id(uuid::Uuid::new_v4().to_string());
            acks.push(
                js.send_publish("shop.order.confirmed", publish)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        for ack in acks {
            ack.await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        sent += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{window} {sent} {seconds:.3} {:.0}", sent as f64 / seconds);
    Ok(())
}
