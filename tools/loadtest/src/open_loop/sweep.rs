//! A sweep of offered rates: the open loop run at each rate in turn, and
//! where the shop stops keeping up.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The offered rates of `--rate`: one rate, a list, or a range.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates(Vec<f64>);

/// Most rates a sweep may have.
const MAX_STEPS: usize = 100;

impl Rates {
    /// The rates, increasing.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// The rate, when there is only one (0 for closed loop).
    pub fn single(&self) -> Option<f64> {
        match self.0.as_slice() {
            [rate] => Some(*rate),
            _ => None,
        }
    }
}

impl fmt::Display for Rates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rates: Vec<String> = self.0.iter().map(|r| format!("{r}")).collect();
        f.write_str(&rates.join(", "))
    }
}

impl FromStr for Rates {
    type Err = String;

    /// `N` (0: closed loop), `N1,N2,...` (increasing, each above 0), or
    /// `FROM:TO:STEPS` (STEPS rates evenly spaced from FROM to TO).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |text: &str| -> Result<f64, String> {
            let text = text.trim();
            match text.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
                _ => Err(format!(
                    "{text:?} is not a rate (requests per second, 0 or more)"
                )),
            }
        };
        let rates = if let Some((from, rest)) = s.split_once(':') {
            let (to, steps) = rest
                .split_once(':')
                .ok_or_else(|| format!("expected FROM:TO:STEPS, got {s:?}"))?;
            let (from, to) = (number(from)?, number(to)?);
            let steps: usize = steps
                .trim()
                .parse()
                .map_err(|_| format!("STEPS of {s:?} is not a whole number"))?;
            if !(2..=MAX_STEPS).contains(&steps) {
                return Err(format!("a sweep has 2 to {MAX_STEPS} steps, not {steps}"));
            }
            if from <= 0.0 || to <= from {
                return Err(format!(
                    "a sweep goes up from a rate above 0: FROM < TO, got {s:?}"
                ));
            }
            let gap = (to - from) / (steps - 1) as f64;
            (0..steps).map(|i| from + gap * i as f64).collect()
        } else {
            s.split(',').map(number).collect::<Result<Vec<_>, _>>()?
        };
        if rates.len() > MAX_STEPS {
            return Err(format!("a sweep has at most {MAX_STEPS} rates"));
        }
        if rates.len() > 1 {
            if rates.contains(&0.0) {
                return Err("0 (closed loop) cannot be part of a sweep".into());
            }
            if let Some(w) = rates.windows(2).find(|w| w[1] <= w[0]) {
                return Err(format!(
                    "a sweep's rates must increase: {} comes after {}",
                    w[1], w[0]
                ));
            }
        }
        Ok(Rates(rates))
    }
}

/// What one rate of a sweep measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Requests per second asked for.
    pub offered: f64,
    /// Successful answers per second, over the time from the schedule's
    /// start to the last answer (at least the schedule's length): what
    /// the shop actually served. Errors and requests never sent lower it.
    pub achieved: f64,
    /// Successful requests (for `checkout`: checkouts).
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Scheduled requests never sent.
    pub not_sent: u64,
    /// Percent of scheduled requests that failed or were not sent.
    pub error_rate_percent: f64,
    /// Latency percentiles in µs, from the intended send time.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// When the step began and ended, in seconds of the run's time series.
    pub start_second: f64,
    /// See `start_second`.
    pub end_second: f64,
}

/// The rate where the shop stopped keeping up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saturation {
    /// Its place in the sweep.
    pub index: usize,
    /// The offered rate.
    pub rate: f64,
    /// Which rule said so, with the figures.
    pub reason: String,
}

/// A sweep: every rate's step and the saturation point; written as
/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    /// One per rate, increasing.
    pub steps: Vec<Step>,
    /// `None` when every rate was kept up with.
    pub saturation: Option<Saturation>,
}

/// Below this share of the offered rate, the shop no longer keeps up.
pub const KEPT_UP: f64 = 0.95;
/// The p99 is past the knee at this many times the lowest rate's p99 ...
pub const KNEE_FACTOR: f64 = 5.0;
/// ... and at least this many µs above it (sub-millisecond jitter is no
/// knee).
pub const KNEE_MIN_RISE_US: u64 = 10_000;

/// The saturation point: the first rate, in increasing order, at which
///
/// 1. the shop no longer keeps up: it served fewer than 95 %
///    ([`KEPT_UP`]) of the offered requests per second successfully
///    (`achieved < 0.95 × offered`; errors, requests still queued when the
///    schedule ended and requests never sent all count against it), or
/// 2. the p99 latency is past the knee: above 5 × ([`KNEE_FACTOR`]) the
///    p99 of the lowest rate *and* at least 10 ms ([`KNEE_MIN_RISE_US`])
///    above it. Latencies count from the intended send time, so a queue
///    building up in the shop shows here before the throughput drops.
///
/// `None` when no rate meets either rule.
pub fn saturation(steps: &[Step]) -> Option<Saturation> {
    let baseline = steps.first()?.p99_us;
    steps.iter().enumerate().find_map(|(index, step)| {
        let reason = if step.achieved < KEPT_UP * step.offered {
            format!(
                "served {:.1} req/s of {:.1} offered ({:.0} %, under {:.0} %)",
                step.achieved,
                step.offered,
                100.0 * step.achieved / step.offered,
                100.0 * KEPT_UP
            )
        } else if index > 0
            && step.p99_us as f64 > KNEE_FACTOR * baseline as f64
            && step.p99_us >= baseline + KNEE_MIN_RISE_US
        {
            format!(
                "p99 {:.1} ms, over {KNEE_FACTOR} × the {:.1} ms of the lowest rate",
                step.p99_us as f64 / 1000.0,
                baseline as f64 / 1000.0
            )
        } else {
            return None;
        };
        Some(Saturation {
            index,
            rate: step.offered,
            reason,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(offered: f64, achieved: f64, p99_ms: f64) -> Step {
        Step {
            offered,
            achieved,
            ok: 0,
            errors: 0,
            not_sent: 0,
            error_rate_percent: 0.0,
            p50_us: 0,
            p99_us: (p99_ms * 1000.0) as u64,
            p999_us: 0,
            start_second: 0.0,
            end_second: 0.0,
        }
    }

    #[test]
    fn rates_parse_as_one_a_list_or_a_range() {
        let rates = |s: &str| s.parse::<Rates>().map(|r| r.as_slice().to_vec());
        assert_eq!(rates("100"), Ok(vec![100.0]));
        assert_eq!(rates("0"), Ok(vec![0.0]));
        assert_eq!(rates("50, 100,200"), Ok(vec![50.0, 100.0, 200.0]));
        assert_eq!(rates("100:400:4"), Ok(vec![100.0, 200.0, 300.0, 400.0]));
        assert_eq!("100".parse::<Rates>().unwrap().single(), Some(100.0));
        assert_eq!("1,2".parse::<Rates>().unwrap().single(), None);
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        let error = |s: &str| s.parse::<Rates>().unwrap_err();
        assert!(error("fast").contains("not a rate"), "{}", error("fast"));
        assert!(error("-5").contains("not a rate"));
        assert!(error("NaN").contains("not a rate"));
        assert!(error("100,50").contains("must increase"));
        assert!(error("100,100").contains("must increase"));
        assert!(error("0,100").contains("closed loop"));
        assert!(error("100:50:3").contains("FROM < TO"));
        assert!(error("0:50:3").contains("FROM < TO"));
        assert!(error("10:50:1").contains("2 to 100 steps"));
        assert!(error("10:50:x").contains("whole number"));
        assert!(error("10:50").contains("FROM:TO:STEPS"));
        assert!(error("100,").contains("not a rate"));
    }

    #[test]
    fn saturation_is_the_first_rate_served_under_95_percent() {
        let steps = [
            step(100.0, 99.5, 2.0),
            step(200.0, 195.0, 2.5),
            step(400.0, 370.0, 3.0),
            step(800.0, 420.0, 900.0),
        ];
        let s = saturation(&steps).unwrap();
        assert_eq!((s.index, s.rate), (2, 400.0));
        assert!(s.reason.contains("370.0 req/s of 400.0"), "{}", s.reason);
        // Exactly 95 % still keeps up.
        assert_eq!(saturation(&[step(100.0, 95.0, 1.0)]), None);
        // The lowest rate itself may be saturated.
        assert_eq!(saturation(&[step(100.0, 50.0, 1.0)]).unwrap().index, 0);
    }

    #[test]
    fn saturation_is_the_knee_of_the_p99_when_the_throughput_still_holds() {
        let steps = [
            step(100.0, 100.0, 4.0),
            step(200.0, 200.0, 19.0),  // 4.75 ×: not yet
            step(400.0, 399.0, 25.0),  // 6.25 ×, 21 ms above: the knee
            step(800.0, 700.0, 400.0), // later rates do not matter
        ];
        let s = saturation(&steps).unwrap();
        assert_eq!((s.index, s.rate), (2, 400.0));
        assert!(s.reason.starts_with("p99 25.0 ms"), "{}", s.reason);
    }

    #[test]
    fn a_fast_p99_growing_by_less_than_10_ms_is_no_knee() {
        // 0.3 ms to 6 ms is 20 ×, but only 5.7 ms: noise, not a queue.
        let steps = [step(100.0, 100.0, 0.3), step(200.0, 200.0, 6.0)];
        assert_eq!(saturation(&steps), None);
        let steps = [step(100.0, 100.0, 0.3), step(200.0, 200.0, 10.4)];
        assert_eq!(saturation(&steps).unwrap().index, 1);
    }

    #[test]
    fn no_steps_no_saturation() {
        assert_eq!(saturation(&[]), None);
    }
}
