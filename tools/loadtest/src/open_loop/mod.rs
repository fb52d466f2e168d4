//! Open-loop load at a constant rate, with coordinated omission corrected.
//!
//! Each connection owns an equal share of the rate and a fixed schedule:
//! its k-th request is *intended* to leave at `start + (k · C + c) / rate`
//! (C connections, c its index). When the server stalls, the connection
//! falls behind and sends its backlog as fast as answers come, and every
//! request's latency is counted from its intended time, not from when it
//! could finally leave: the stall is charged to every request it delayed,
//! as a user would feel it. This is the model of wrk2.
//!
//! Latencies go into HDR histograms (1 µs to 60 s, 3 significant digits).
//! With `--rate 0` each connection sends as soon as its previous request is
//! answered (closed loop): the saturation throughput.

use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::{LoadArgs, Verdict};

mod worker;

use worker::{Api, Worker};

/// After the schedule ends, a connection behind it may still send for this
/// long; what it has not sent by then is counted as not sent.
const GRACE: Duration = Duration::from_secs(10);

/// What each scheduled request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// `GET /api/v1/products/{id}` of a random catalog product.
    Product,
    /// In turn: the catalog's first page, one category, one product.
    Browse,
    /// Add a product to the cart, then check out (two requests, one
    /// latency); restocks the catalog first, as the admin.
    Checkout,
}

/// What one run measured; written as `open-loop.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `open` at a fixed rate, or `closed` (rate 0).
    pub mode: &'static str,
    /// What was sent.
    pub workload: Workload,
    /// The gateway under test.
    pub target: String,
    /// Requests per second asked for; 0 in closed loop.
    pub target_rate: f64,
    /// Connections, each with its share of the rate.
    pub connections: usize,
    /// Seconds of schedule.
    pub duration_seconds: f64,
    /// Requests (for `checkout`: checkouts) that got a successful answer.
    pub ok: u64,
    /// Requests answered with an error status or not answered.
    pub errors: u64,
    /// Scheduled requests never sent: the connection was still behind
    /// when the grace period ended.
    pub not_sent: u64,
    /// Answered requests per second over the schedule.
    pub achieved_rate: f64,
    /// Percent of scheduled requests that failed or were not sent.
    pub error_rate_percent: f64,
    /// Latency percentiles in microseconds, from the intended send time.
    pub latency_us: Percentiles,
    /// The full distribution: (percentile, microseconds) pairs.
    pub distribution: Vec<(f64, u64)>,
    /// A few of the errors seen, for a first look.
    pub error_samples: Vec<String>,
}

/// The percentiles that matter, in microseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    /// Fastest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

/// Runs the schedule, writes `open-loop.json`, and judges the bounds.
pub async fn run(args: &LoadArgs, rate: f64) -> anyhow::Result<Verdict> {
    anyhow::ensure!(
        rate >= 0.0 && rate.is_finite(),
        "--rate must be 0 or more requests per second"
    );
    let connections = args.users.max(1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = Api {
        client,
        base: args.target.clone(),
    };
    let catalog = api.catalog().await?;
    if args.workload == Workload::Checkout {
        let password = args.admin_password.as_deref().context(
            "the checkout workload restocks first: it needs --admin-password or ADMIN_PASSWORD",
        )?;
        api.restock_all(password, &catalog).await?;
    }
    let mut workers = Vec::with_capacity(connections);
    for index in 0..connections {
        // Each connection is its own shopper: its own token and cart.
        let token = api.guest_token().await?;
        workers.push(Worker {
            api: api.clone(),
            token,
            catalog: catalog.clone(),
            workload: args.workload,
            index,
            connections,
            step: 0,
        });
    }

    let duration = Duration::from_secs(args.duration);
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|worker| tokio::spawn(worker.run(start, duration, rate)))
        .collect();
    let mut total = Tally::new();
    for task in tasks {
        total.merge(task.await?);
    }

    let summary = total.summary(args, rate, connections, duration);
    let path = args.report_dir.join("open-loop.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)?;
    print_summary(&summary, &path);
    Ok(judge(&summary, args))
}

/// The bounds the flags set, against what was measured.
fn judge(summary: &Summary, args: &LoadArgs) -> Verdict {
    let mut broken = Vec::new();
    if let Some(max) = args.max_error_rate
        && summary.error_rate_percent > max
    {
        broken.push(format!(
            "error rate {:.3} % is above {max} %",
            summary.error_rate_percent
        ));
    }
    let p99_ms = summary.latency_us.p99 as f64 / 1000.0;
    if let Some(max) = args.max_p99_ms
        && p99_ms > max
    {
        broken.push(format!("p99 {p99_ms:.2} ms is above {max} ms"));
    }
    if broken.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed(broken)
    }
}

fn print_summary(s: &Summary, path: &std::path::Path) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{} loop, {:?}, {} connections, {:.0} s: {} ok, {} errors, {} not sent; {:.1} req/s{}",
        s.mode,
        s.workload,
        s.connections,
        s.duration_seconds,
        s.ok,
        s.errors,
        s.not_sent,
        s.achieved_rate,
        if s.target_rate > 0.0 {
            format!(" (asked {:.1})", s.target_rate)
        } else {
            String::new()
        }
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        ms(s.latency_us.p50),
        ms(s.latency_us.p90),
        ms(s.latency_us.p99),
        ms(s.latency_us.p999),
        ms(s.latency_us.max)
    );
    for sample in &s.error_samples {
        println!("error: {sample}");
    }
    println!("summary: {}", path.display());
}

/// What a connection counted.
struct Tally {
    /// Successful requests.
    ok: u64,
    /// Failed requests.
    errors: u64,
    /// Scheduled but never sent.
    not_sent: u64,
    /// Every answered request's latency, in µs.
    latency: Histogram<u64>,
    /// The first few errors.
    error_samples: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            ok: 0,
            errors: 0,
            not_sent: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            error_samples: Vec::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.not_sent += other.not_sent;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for sample in other.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(sample);
            }
        }
    }

    fn summary(
        self,
        args: &LoadArgs,
        rate: f64,
        connections: usize,
        duration: Duration,
    ) -> Summary {
        let h = &self.latency;
        let scheduled = self.ok + self.errors + self.not_sent;
        let distribution = h
            .iter_quantiles(1)
            .map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to()))
            .collect();
        Summary {
            mode: if rate > 0.0 { "open" } else { "closed" },
            workload: args.workload,
            target: args.target.to_string(),
            target_rate: rate,
            connections,
            duration_seconds: duration.as_secs_f64(),
            ok: self.ok,
            errors: self.errors,
            not_sent: self.not_sent,
            achieved_rate: (self.ok + self.errors) as f64 / duration.as_secs_f64(),
            error_rate_percent: if scheduled == 0 {
                0.0
            } else {
                (self.errors + self.not_sent) as f64 * 100.0 / scheduled as f64
            },
            latency_us: Percentiles {
                min: h.min(),
                mean: h.mean(),
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            },
            distribution,
            error_samples: self.error_samples,
        }
    }
}
