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
//!
//! Several rates (`--rate 50,100,200` or `--rate 50:400:8`) make a sweep:
//! the same connections and shoppers run each rate for `--duration` in
//! turn, and [`sweep::saturation`] says at which rate the shop stopped
//! keeping up. Every HTTP request also goes into a per-second time series
//! by kind ([`crate::series`]); its latency counts from the intended send
//! time for the first request of a scheduled unit, and from when it left
//! for the checkout that follows an add to cart.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::report::{self, Report};
use crate::series::Recorder;
use crate::{LoadArgs, Verdict};

pub mod sweep;
mod worker;

use sweep::{Rates, Step, Sweep};
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

impl Workload {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Product => "product",
            Workload::Browse => "browse",
            Workload::Checkout => "checkout",
        }
    }
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
    /// Answered requests per second over the schedule (answers given
    /// after it ended, in the grace period, count too).
    pub achieved_rate: f64,
    /// Successful answers per second, over the time from the schedule's
    /// start to the last answer (at least the schedule's length): what the
    /// shop served. Past saturation it falls below the offered rate.
    pub throughput: f64,
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

/// Runs the schedule (or each rate of a sweep), writes `open-loop.json`
/// (or `sweep.json`), `timeseries.json` and `report.html`, and judges the
/// bounds.
pub async fn run(args: &LoadArgs, rates: &Rates) -> anyhow::Result<Verdict> {
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
    let recorder = Arc::new(Recorder::new(std::time::Instant::now()));
    let mut workers = Vec::with_capacity(connections);
    for index in 0..connections {
        // Each connection is its own shopper: its own token and cart, kept
        // over every rate of a sweep.
        let token = api.guest_token().await?;
        workers.push(Worker {
            api: api.clone(),
            token,
            catalog: catalog.clone(),
            workload: args.workload,
            index,
            connections,
            step: 0,
            recorder: recorder.clone(),
        });
    }

    let duration = Duration::from_secs(args.duration);
    let mut summaries = Vec::new();
    let mut steps = Vec::new();
    for &rate in rates.as_slice() {
        let start_second = recorder.elapsed().as_secs_f64();
        let (returned, tally) = schedule(workers, rate, duration).await?;
        workers = returned;
        let summary = tally.summary(args, rate, connections, duration);
        print_summary(&summary);
        steps.push(Step {
            offered: rate,
            achieved: summary.throughput,
            ok: summary.ok,
            errors: summary.errors,
            not_sent: summary.not_sent,
            error_rate_percent: summary.error_rate_percent,
            p50_us: summary.latency_us.p50,
            p99_us: summary.latency_us.p99,
            p999_us: summary.latency_us.p999,
            start_second,
            end_second: recorder.elapsed().as_secs_f64(),
        });
        summaries.push(summary);
    }
    let series = recorder.finish();

    let dir = &args.report_dir;
    let (sweep, title) = match rates.single() {
        Some(_) => {
            let path = dir.join("open-loop.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&summaries[0])?)?;
            println!("summary: {}", path.display());
            let title = format!("{} loop, {}", summaries[0].mode, args.workload.name());
            (None, title)
        }
        None => {
            let saturation = sweep::saturation(&steps);
            match &saturation {
                Some(s) => println!("saturation at {} req/s: {}", s.rate, s.reason),
                None => println!(
                    "no saturation up to {} req/s",
                    steps[steps.len() - 1].offered
                ),
            }
            let sweep = Sweep { steps, saturation };
            let path = dir.join("sweep.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&sweep)?)?;
            println!("sweep: {}", path.display());
            (
                Some(sweep),
                format!("open-loop sweep, {}", args.workload.name()),
            )
        }
    };
    std::fs::write(
        dir.join("timeseries.json"),
        serde_json::to_vec_pretty(&series)?,
    )?;
    let facts = vec![
        ("target".to_string(), args.target.to_string()),
        ("workload".into(), args.workload.name().to_string()),
        ("connections".into(), connections.to_string()),
        (
            "offered rate".into(),
            match rates.single() {
                Some(0.0) => "closed loop (as fast as answers come)".into(),
                _ => format!("{rates} req/s"),
            },
        ),
        (
            "duration".into(),
            match rates.single() {
                Some(_) => format!("{} s", args.duration),
                None => format!("{} s per rate", args.duration),
            },
        ),
    ];
    report::write(
        dir,
        &Report {
            title,
            facts,
            series: &series,
            sweep: sweep.as_ref(),
        },
    )?;

    let broken: Vec<String> = summaries
        .iter()
        .flat_map(|summary| {
            let prefix = match rates.single() {
                Some(_) => String::new(),
                None => format!("at {} req/s: ", summary.target_rate),
            };
            judge(summary, args)
                .into_iter()
                .map(move |line| format!("{prefix}{line}"))
        })
        .collect();
    Ok(if broken.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed(broken)
    })
}

/// Runs every worker on one schedule; gives them back with what they
/// counted together.
async fn schedule(
    workers: Vec<Worker>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<(Vec<Worker>, Tally)> {
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let tally = worker.run(start, duration, rate).await;
                (worker, tally)
            })
        })
        .collect();
    let mut total = Tally::new(start);
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (worker, tally) = task.await?;
        total.merge(tally);
        workers.push(worker);
    }
    Ok((workers, total))
}

/// The bounds the flags set that `summary` breaks, each said in a line.
fn judge(summary: &Summary, args: &LoadArgs) -> Vec<String> {
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
    broken
}

fn print_summary(s: &Summary) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{} loop, {}, {} connections, {:.0} s: {} ok, {} errors, {} not sent; {:.1} req/s served{}",
        s.mode,
        s.workload.name(),
        s.connections,
        s.duration_seconds,
        s.ok,
        s.errors,
        s.not_sent,
        s.throughput,
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
}

/// What a connection counted.
struct Tally {
    /// When the schedule started.
    start: Instant,
    /// When the last answer came.
    last_answer: Option<Instant>,
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
    fn new(start: Instant) -> Self {
        Self {
            start,
            last_answer: None,
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
        self.last_answer = self.last_answer.max(other.last_answer);
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
        let served_for = self
            .last_answer
            .map_or(Duration::ZERO, |last| {
                last.saturating_duration_since(self.start)
            })
            .max(duration);
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
            throughput: self.ok as f64 / served_for.as_secs_f64(),
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
