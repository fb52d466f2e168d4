//! `shop loadtest`: load on Shop through its public REST API, as shoppers
//! make it.
//!
//! Two modes, one set of flags:
//!
//! - **Journeys** (the default), built on [goose]: users start over the
//!   ramp-up and each repeats one weighted journey until the duration ends:
//!   *browse* (list, filter by category, view a product), *shopper* (add to
//!   the cart, change the quantity, view the cart, remove the line), *buyer*
//!   (add, check out with a fresh `Idempotency-Key`, read the order back) and
//!   *admin* (restock every product running low, so stock never runs dry).
//!   Each request also goes into a per-second time series by kind
//!   ([`series`]); goose writes its own reports beside ours.
//! - **Open loop** (`--rate`): requests leave on a fixed schedule whatever
//!   the server does, and each latency is counted from the request's
//!   *intended* send time, so a stall is charged to every request it delays
//!   (coordinated omission corrected). Latencies go into HDR histograms with
//!   microsecond resolution; the summary is JSON. `--rate 0` runs closed
//!   loop instead, each connection sending as fast as answers come: the
//!   saturation throughput. Several rates (`--rate 50,100,200`) run a
//!   sweep and find the saturation point ([`open_loop::sweep`]).
//!
//! Both modes write `report.html` in `--report-dir` ([`report`]): one
//! self-contained page (charts as inline SVG, nothing loaded from
//! anywhere) with the summary per request kind, requests/s, errors and
//! p50/p99 latency over time per kind, and for a sweep the latency against
//! the offered rate with the saturation point marked.
//!
//! Both modes exit non-zero when the error rate or the p99 latency breaks
//! the bounds given with `--max-error-rate` / `--max-p99-ms`.

pub mod journeys;
pub mod open_loop;
pub mod report;
pub mod series;

use std::path::PathBuf;
use std::str::FromStr;

use url::Url;

/// Flags of `shop loadtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Base URL of the gateway under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: Url,
    /// Concurrent users (journeys), or connections (open loop).
    #[arg(long, default_value_t = 8)]
    pub users: usize,
    /// Seconds over which the users start (journeys).
    #[arg(long, default_value_t = 2)]
    pub ramp_up: u64,
    /// Seconds of load once every user runs.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Journeys and their weights (journeys mode).
    #[arg(long, default_value = "browse=6,shopper=3,buyer=2,admin=1")]
    pub mix: Mix,
    /// Each user pauses a random 0..=N ms between journeys; 0 for none.
    /// The default keeps one user under the gateway's per-token rate limit.
    #[arg(long, default_value_t = 100)]
    pub think_ms: u64,
    /// The admin password, for the restocking journey and for `--workload
    /// checkout` (`shop up` prints it).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Fail (exit 1) when more than this percent of requests fail.
    #[arg(long)]
    pub max_error_rate: Option<f64>,
    /// Fail (exit 1) when the 99th percentile latency exceeds this many ms.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Where the reports go.
    #[arg(long, default_value = "target/loadtest")]
    pub report_dir: PathBuf,
    /// Open-loop mode: this many requests per second on a fixed schedule;
    /// 0 runs closed loop, as fast as the connections are answered.
    ///
    /// Several rates make a sweep, each run for --duration in turn over
    /// the same connections: a list, `50,100,200` (increasing), or a range,
    /// `FROM:TO:STEPS` (`100:800:8` is 100, 200, ... 800). The sweep writes
    /// `sweep.json` (per rate: offered, achieved, p50/p99/p99.9, error %)
    /// and marks the saturation point in report.html: the first rate
    /// served under 95 % of what was offered, or whose p99 passed 5 × the
    /// lowest rate's p99 and 10 ms above it.
    #[arg(long, value_name = "RATES")]
    pub rate: Option<open_loop::sweep::Rates>,
    /// What the open-loop mode sends.
    #[arg(long, value_enum, default_value = "product")]
    pub workload: open_loop::Workload,
}

/// The weight of each journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// List, filter and view products.
    pub browse: usize,
    /// Edit a cart.
    pub shopper: usize,
    /// Check out.
    pub buyer: usize,
    /// Restock.
    pub admin: usize,
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = Mix {
            browse: 0,
            shopper: 0,
            buyer: 0,
            admin: 0,
        };
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("expected journey=weight, got {part:?}"))?;
            let weight: usize = weight
                .parse()
                .map_err(|_| format!("weight of {name} is not a whole number: {weight:?}"))?;
            let slot = match name {
                "browse" => &mut mix.browse,
                "shopper" => &mut mix.shopper,
                "buyer" => &mut mix.buyer,
                "admin" => &mut mix.admin,
                other => {
                    return Err(format!(
                        "unknown journey {other:?} (browse, shopper, buyer, admin)"
                    ));
                }
            };
            *slot = weight;
        }
        if mix.browse + mix.shopper + mix.buyer + mix.admin == 0 {
            return Err("every journey has weight 0".into());
        }
        Ok(mix)
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every bound held.
    Passed,
    /// These bounds broke, each said in a line.
    Failed(Vec<String>),
}

/// Runs the load the flags describe and writes the reports.
pub async fn run(args: LoadArgs) -> anyhow::Result<Verdict> {
    std::fs::create_dir_all(&args.report_dir)?;
    match &args.rate {
        Some(rates) => {
            anyhow::ensure!(
                args.duration > 0,
                "--duration must be at least 1 second in open-loop mode"
            );
            open_loop::run(&args, rates).await
        }
        None => journeys::run(&args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_and_refuses_unknown_journeys_and_all_zero() {
        assert_eq!(
            "browse=2,buyer=1".parse::<Mix>(),
            Ok(Mix {
                browse: 2,
                shopper: 0,
                buyer: 1,
                admin: 0
            })
        );
        assert!("browse=2,checkout=1".parse::<Mix>().is_err());
        assert!("browse=x".parse::<Mix>().is_err());
        assert!("browse=0".parse::<Mix>().is_err());
    }
}
