//! Time series per request kind: for every second of a run, the requests
//! answered well, the errors, and the p50 and p99 latency.
//!
//! A request is counted in the second it *completed* in (seconds since the
//! recorder started). Each kind keeps one HDR histogram for the second
//! still open and closes it into a [`Point`] as soon as a later second
//! begins, so memory stays flat however long the run; a second with no
//! answer of a kind is a point with counts 0 and no percentiles. A second
//! HDR histogram per kind holds the whole run, for the summary. The same
//! is kept for every request together ([`TimeSeries::all`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// One second of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Seconds since the start: this point covers `[second, second + 1)`.
    pub second: u64,
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed (an unexpected status, or no answer).
    pub errors: u64,
    /// Median latency in µs of the requests of this second, errors
    /// included; `None` when there was none.
    pub p50_us: Option<u64>,
    /// 99th percentile latency in µs; `None` when there was no request.
    pub p99_us: Option<u64>,
}

/// A kind over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Latency percentiles in µs, errors included; 0 without requests.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Slowest.
    pub max_us: u64,
}

/// The series of one kind of request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSeries {
    /// What the requests were, e.g. `GET /api/v1/products/{id}`.
    pub kind: String,
    /// The whole run.
    pub totals: Totals,
    /// One point per second, from second 0; every kind has as many.
    pub points: Vec<Point>,
}

/// Every kind's series; written as `timeseries.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeSeries {
    /// Seconds from the start to the end of the recording.
    pub duration_seconds: f64,
    /// Every request together.
    pub all: KindSeries,
    /// One series per kind, by name.
    pub kinds: Vec<KindSeries>,
}

/// A latency histogram: 1 µs to 60 s, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// A percentile of `h`, `None` when it is empty.
fn percentile(h: &Histogram<u64>, quantile: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(quantile))
}

/// One kind being recorded.
#[derive(Debug)]
struct Track {
    /// The seconds already closed.
    points: Vec<Point>,
    /// The second still open.
    second: u64,
    /// Its counts.
    ok: u64,
    errors: u64,
    /// Its latencies.
    latency: Histogram<u64>,
    /// The whole run's latencies.
    whole: Histogram<u64>,
    /// The whole run's counts.
    total_ok: u64,
    total_errors: u64,
}

impl Track {
    /// A kind first seen in `second`: the seconds before are empty.
    fn new(second: u64) -> Track {
        Track {
            points: (0..second).map(empty).collect(),
            second,
            ok: 0,
            errors: 0,
            latency: histogram(),
            whole: histogram(),
            total_ok: 0,
            total_errors: 0,
        }
    }

    /// Closes the open second and the empty ones after it, up to (not
    /// including) `second`, which becomes the open one. A `second` not
    /// after the open one changes nothing.
    fn advance(&mut self, second: u64) {
        if second <= self.second {
            return;
        }
        self.points.push(Point {
            second: self.second,
            ok: self.ok,
            errors: self.errors,
            p50_us: percentile(&self.latency, 0.50),
            p99_us: percentile(&self.latency, 0.99),
        });
        self.points.extend((self.second + 1..second).map(empty));
        self.second = second;
        self.ok = 0;
        self.errors = 0;
        self.latency.reset();
    }

    fn record(&mut self, second: u64, latency_us: u64, ok: bool) {
        self.advance(second);
        if ok {
            self.ok += 1;
            self.total_ok += 1;
        } else {
            self.errors += 1;
            self.total_errors += 1;
        }
        self.latency.saturating_record(latency_us.max(1));
        self.whole.saturating_record(latency_us.max(1));
    }

    /// The series, with `seconds` points.
    fn finish(mut self, kind: String, seconds: u64) -> KindSeries {
        self.advance(seconds);
        let h = &self.whole;
        KindSeries {
            kind,
            totals: Totals {
                ok: self.total_ok,
                errors: self.total_errors,
                p50_us: percentile(h, 0.50).unwrap_or(0),
                p99_us: percentile(h, 0.99).unwrap_or(0),
                p999_us: percentile(h, 0.999).unwrap_or(0),
                max_us: h.max(),
            },
            points: self.points,
        }
    }
}

/// A second without requests.
fn empty(second: u64) -> Point {
    Point {
        second,
        ok: 0,
        errors: 0,
        p50_us: None,
        p99_us: None,
    }
}

/// The series being recorded, fed with explicit times (see [`Recorder`]
/// for the clock).
///
/// Times should not go backwards: a request recorded with a time before
/// the second its kind has open is counted in that open second.
#[derive(Debug)]
pub struct Series {
    kinds: BTreeMap<String, Track>,
    all: Track,
    /// The latest time recorded.
    end: Duration,
}

impl Default for Series {
    fn default() -> Self {
        Self::new()
    }
}

impl Series {
    /// Nothing recorded yet.
    pub fn new() -> Series {
        Series {
            kinds: BTreeMap::new(),
            all: Track::new(0),
            end: Duration::ZERO,
        }
    }

    /// One request of `kind` that completed `at` after the start, took
    /// `latency_us` and succeeded or not.
    pub fn record(&mut self, at: Duration, kind: &str, latency_us: u64, ok: bool) {
        let second = at.as_secs();
        self.end = self.end.max(at);
        match self.kinds.get_mut(kind) {
            Some(track) => track.record(second, latency_us, ok),
            None => {
                let mut track = Track::new(second);
                track.record(second, latency_us, ok);
                self.kinds.insert(kind.to_string(), track);
            }
        }
        self.all.record(second, latency_us, ok);
    }

    /// The series up to `end` (or the last request, if later): every kind
    /// gets one point per second begun, the last one usually partial.
    pub fn finish(self, end: Duration) -> TimeSeries {
        let end = end.max(self.end);
        let begun = end.as_secs() + u64::from(end.subsec_nanos() > 0);
        // A request exactly at the end (2.000 s) opened a second of its own.
        let open = self.all.ok + self.all.errors > 0;
        let seconds = begun.max(self.all.second + u64::from(open));
        TimeSeries {
            duration_seconds: end.as_secs_f64(),
            all: self.all.finish("all requests".into(), seconds),
            kinds: self
                .kinds
                .into_iter()
                .map(|(kind, track)| track.finish(kind, seconds))
                .collect(),
        }
    }
}

/// [`Series`] on a clock, shared by every task that sends requests.
///
/// The time of a request is read under the lock, so times reach the
/// series in order.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    series: Mutex<Series>,
}

impl Recorder {
    /// Seconds count from `start` (which may be a little ahead: requests
    /// before it count in second 0).
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            series: Mutex::new(Series::new()),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// One request of `kind`, completed now.
    pub fn record(&self, kind: &str, latency_us: u64, ok: bool) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let at = self.elapsed();
        series.record(at, kind, latency_us, ok);
    }

    /// The series up to the last request (not to the time the load
    /// generator took to stop); the recorder starts over empty.
    pub fn finish(&self) -> TimeSeries {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *series).finish(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Within the 0.1 % of three significant digits.
    fn near(got: Option<u64>, want: u64) {
        let got = got.expect("a percentile");
        assert!(got.abs_diff(want) <= want / 1000, "{got} vs {want}");
    }

    fn counts(series: &KindSeries) -> Vec<(u64, u64)> {
        series.points.iter().map(|p| (p.ok, p.errors)).collect()
    }

    #[test]
    fn requests_land_in_the_second_they_completed_in_and_every_kind_spans_the_run() {
        let mut s = Series::new();
        s.record(at(200), "GET /a", 1_000, true);
        s.record(at(700), "GET /a", 3_000, false);
        s.record(at(1_100), "GET /a", 2_000, true);
        s.record(at(2_000), "POST /b", 5_000, true);
        s.record(at(3_500), "GET /a", 4_000, true);
        let t = s.finish(at(4_200));

        assert_eq!(t.kinds.len(), 2);
        let a = &t.kinds[0];
        let b = &t.kinds[1];
        assert_eq!(a.kind, "GET /a");
        // 4.2 s begun 5 seconds: 0, 1, 2, 3, 4.
        assert_eq!(counts(a), [(1, 1), (1, 0), (0, 0), (1, 0), (0, 0)]);
        assert_eq!(counts(b), [(0, 0), (0, 0), (1, 0), (0, 0), (0, 0)]);
        assert_eq!(counts(&t.all), [(1, 1), (1, 0), (1, 0), (1, 0), (0, 0)]);
        let seconds: Vec<u64> = a.points.iter().map(|p| p.second).collect();
        assert_eq!(seconds, [0, 1, 2, 3, 4]);
        // A second without requests has no percentiles, not zeros.
        assert_eq!(a.points[2].p50_us, None);
        assert_eq!(a.points[4].p99_us, None);
        // HDR histograms keep three significant digits.
        near(b.points[2].p50_us, 5_000);
        // Errors' latencies count: second 0 holds 1 ms and 3 ms.
        near(a.points[0].p99_us, 3_000);
        assert_eq!(
            (a.totals.ok, a.totals.errors, b.totals.ok, t.all.totals.ok),
            (3, 1, 1, 4)
        );
        assert_eq!(t.duration_seconds, 4.2);
    }

    #[test]
    fn percentiles_per_second_come_from_that_second_only() {
        let mut s = Series::new();
        // Second 0: 1..=100 ms. Second 1: 100 requests of 7 ms.
        for ms in 1..=100u64 {
            s.record(at(5 * ms), "k", ms * 1_000, true);
        }
        for i in 0..100u64 {
            s.record(at(1_000 + 5 * i), "k", 7_000, true);
        }
        let t = s.finish(at(2_000));
        let k = &t.kinds[0];
        assert_eq!(k.points.len(), 2, "2.0 s is two whole seconds");
        near(k.points[0].p50_us, 50_000);
        near(k.points[0].p99_us, 99_000);
        near(k.points[1].p50_us, 7_000);
        near(k.points[1].p99_us, 7_000);
        // The whole run mixes both.
        near(Some(k.totals.p50_us), 7_000);
        near(Some(k.totals.max_us), 100_000);
        assert_eq!(k.totals.ok, 200);
    }

    #[test]
    fn a_late_record_counts_in_the_open_second_and_the_end_covers_the_last_request() {
        let mut s = Series::new();
        s.record(at(2_500), "k", 1_000, true);
        s.record(at(1_500), "k", 1_000, false);
        let t = s.finish(at(1_000));
        assert_eq!(counts(&t.kinds[0]), [(0, 0), (0, 0), (1, 1)]);
        assert_eq!(t.duration_seconds, 2.5);
    }

    #[test]
    fn a_request_exactly_at_the_end_opens_its_own_second() {
        let mut s = Series::new();
        s.record(at(500), "k", 1_000, true);
        s.record(at(2_000), "k", 1_000, true);
        let t = s.finish(at(2_000));
        assert_eq!(counts(&t.kinds[0]), [(1, 0), (0, 0), (1, 0)]);
    }

    #[test]
    fn nothing_recorded_is_an_empty_series() {
        let t = Series::new().finish(Duration::ZERO);
        assert!(t.kinds.is_empty());
        assert!(t.all.points.is_empty());
        assert_eq!(t.all.totals.p99_us, 0);
    }

    #[test]
    fn the_recorder_counts_from_its_start() {
        let recorder = Recorder::new(Instant::now());
        recorder.record("k", 10, true);
        recorder.record("k", 20, false);
        let t = recorder.finish();
        assert_eq!(counts(&t.kinds[0]), [(1, 1)]);
        assert!(recorder.finish().kinds.is_empty(), "finish starts over");
    }
}
