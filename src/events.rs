//! `shop events`: the event flow of a running stack, through its NATS
//! server (`NATS_URL`): status, dead letters, redrive, replay
//! (`shop_runtime::events::admin`; docs/events.md).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use shop_runtime::events::admin;

/// Arguments of `shop events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    action: Action,
    /// The NATS server of the stack.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    nats_url: String,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Each stream's size and each consumer's lag, unacknowledged and
    /// redelivered messages.
    Status,
    /// The dead letters: sequence, consumer, original subject, event id, error.
    Dlq,
    /// Send dead letters back to their subject (all, or `--seq N`) and
    /// remove them from the DLQ; a consumer's inbox drops what it applied.
    Redrive {
        /// Only this DLQ sequence.
        #[arg(long = "seq")]
        sequence: Option<u64>,
    },
    /// Deliver again to a consumer every event since a time (RFC 3339,
    /// e.g. 2026-12-06T10:00:00Z); what it applied already is dropped by
    /// its inbox, so only what is missing takes effect.
    Replay {
        /// The consumer's durable name, e.g. cart-price-changes.
        #[arg(long)]
        consumer: String,
        /// From when.
        #[arg(long)]
        since: DateTime<Utc>,
    },
}

/// Runs `shop events`.
pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let client = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("cannot reach the NATS server at {}", args.nats_url))?;
    let js = async_nats::jetstream::new(client);
    let failed = |e: async_nats::Error| anyhow::anyhow!("{e}");
    match args.action {
        Action::Status => {
            for stream in admin::status(&js).await.map_err(failed)? {
                println!("{:<12} {:>8} messages", stream.name, stream.messages);
                for c in stream.consumers {
                    println!(
                        "  {:<28} lag {:>6}  unacked {:>4}  redelivered {:>4}",
                        c.name, c.pending, c.ack_pending, c.redelivered
                    );
                }
            }
        }
        Action::Dlq => {
            let letters = admin::dead_letters(&js).await.map_err(failed)?;
            if letters.is_empty() {
                println!("the DLQ is empty");
            }
            for l in letters {
                println!(
                    "{:>6}  {:<24} {:<28} {}  {}",
                    l.sequence, l.consumer, l.subject, l.event_id, l.error
                );
            }
        }
        Action::Redrive { sequence } => {
            let sent = admin::redrive(&js, sequence).await.map_err(failed)?;
            println!("redrove {sent} dead letter(s)");
        }
        Action::Replay { consumer, since } => {
            let stream = admin::replay(&js, &consumer, since).await.map_err(failed)?;
            println!("{consumer} replays {} from {since}", stream.name());
        }
    }
    Ok(())
}
