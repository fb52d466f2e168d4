//! `report.html`: the load report, one self-contained page.
//!
//! The charts are inline SVG drawn here ([`svg`]); the page has no script,
//! no stylesheet, font or image to fetch (its Content-Security-Policy
//! forbids loading anything), and opens the same offline. It
//! holds the summary (one row per request kind), and for every kind the
//! requests/s with the errors, and the p50 and p99 latency, second by
//! second; for a sweep, the latency and the achieved rate against the
//! offered rate with the saturation point marked.

pub mod svg;

use std::fmt::Write as _;
use std::path::Path;

use crate::open_loop::sweep::{self, Sweep};
use crate::series::{KindSeries, Point, TimeSeries};
use svg::{Band, Chart, Line, Marker};

/// What the page shows.
#[derive(Debug)]
pub struct Report<'a> {
    /// What ran, e.g. `journeys`.
    pub title: String,
    /// The settings, as (name, value).
    pub facts: Vec<(String, String)>,
    /// The requests, second by second.
    pub series: &'a TimeSeries,
    /// The rates of a sweep, if it was one.
    pub sweep: Option<&'a Sweep>,
}

const OK: &str = "#2e7d32";
const ERRORS: &str = "#c62828";
const P50: &str = "#1565c0";
const P99: &str = "#ef6c00";
const P999: &str = "#6a1b9a";
const OFFERED: &str = "#757575";

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1180px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px}h3{font-size:15px;margin:20px 0 6px;font-family:monospace}\
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #999}tfoot td{font-weight:bold;border-top:2px solid #999}\
td.kind{font-family:monospace}tr.saturated{background:#fdecea}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:14px}dt{color:#666}dd{margin:0}\
.charts{display:flex;flex-wrap:wrap;gap:12px}p.note{color:#555;font-size:13px;max-width:900px}\
svg.chart{background:#fff;border:1px solid #e4e4e4}svg text{font-family:sans-serif;font-size:11px;fill:#333}\
svg .title{font-weight:bold;font-size:12px}svg .grid{stroke:#eee}svg .axis{stroke:#999;fill:none}\
svg .band-0{fill:#eef2f7}svg .band-1{fill:#f7f9fb}svg .band-label{fill:#888;font-size:10px}\
svg .marker line{stroke:#c62828;stroke-dasharray:4 3;stroke-width:1.5}svg .marker text{fill:#c62828;font-weight:bold}\
svg .line{stroke-width:1.7}svg .dashed{stroke-dasharray:5 4}";

/// `<`, `>`, `&` and quotes as entities.
pub(crate) fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// Microseconds as milliseconds, with three significant digits or so.
fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A rate with one decimal, or none past 100.
fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Writes the page as `report.html` in `dir` and says where it is.
pub fn write(dir: &Path, report: &Report<'_>) -> anyhow::Result<()> {
    let path = dir.join("report.html");
    std::fs::write(&path, html(report))?;
    println!("report: {}", path.display());
    Ok(())
}

/// The page.
pub fn html(report: &Report<'_>) -> String {
    let mut s = String::new();
    let title = format!("Load report: {}", report.title);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1><dl>",
        t = escape(&title)
    );
    for (name, value) in &report.facts {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
    }
    let _ = write!(
        s,
        "<dt>recorded</dt><dd>{:.1} s</dd></dl>",
        report.series.duration_seconds
    );
    summary(&mut s, report.series);
    if let Some(sweep) = report.sweep {
        sweep_section(&mut s, sweep);
    }
    over_time(&mut s, report);
    s.push_str("</body></html>\n");
    s
}

/// The table: one row per kind, every request together in the footer.
fn summary(s: &mut String, series: &TimeSeries) {
    s.push_str(
        "<h2>Summary</h2><table id=\"summary\"><thead><tr><th>request</th><th>requests</th><th>ok</th>\
         <th>errors</th><th>error %</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th>\
         <th>max ms</th></tr></thead><tbody>",
    );
    let seconds = series.duration_seconds.max(f64::MIN_POSITIVE);
    let row = |s: &mut String, k: &KindSeries, cell: &str| {
        let t = &k.totals;
        let requests = t.ok + t.errors;
        let error_pct = if requests == 0 {
            0.0
        } else {
            100.0 * t.errors as f64 / requests as f64
        };
        let _ = write!(
            s,
            "<tr data-kind=\"{kind}\"><{cell} class=\"kind\">{kind}</{cell}><{cell}>{requests}</{cell}><{cell}>{}</{cell}><{cell}>{}</{cell}><{cell}>{error_pct:.2}</{cell}><{cell}>{}</{cell}><{cell}>{}</{cell}><{cell}>{}</{cell}><{cell}>{}</{cell}><{cell}>{}</{cell}></tr>",
            t.ok,
            t.errors,
            rate(requests as f64 / seconds),
            ms(t.p50_us),
            ms(t.p99_us),
            ms(t.p999_us),
            ms(t.max_us),
            kind = escape(&k.kind),
        );
    };
    for kind in &series.kinds {
        row(s, kind, "td");
    }
    s.push_str("</tbody><tfoot>");
    row(s, &series.all, "td");
    s.push_str(
        "</tfoot></table><p class=\"note\">Latencies of every answered request, errors included; \
         req/s over the whole recording.</p>",
    );
}

/// The sweep's table and its two curves.
fn sweep_section(s: &mut String, sweep: &Sweep) {
    s.push_str(
        "<h2>Sweep: latency against offered rate</h2><table id=\"sweep-table\"><thead><tr><th>offered req/s</th>\
         <th>achieved req/s</th><th>achieved %</th><th>ok</th><th>errors</th><th>not sent</th><th>error %</th>\
         <th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th></th></tr></thead><tbody>",
    );
    for (i, step) in sweep.steps.iter().enumerate() {
        let saturated = sweep.saturation.as_ref().is_some_and(|x| x.index == i);
        let _ = write!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if saturated {
                " class=\"saturated\""
            } else {
                ""
            },
            svg::label(step.offered),
            rate(step.achieved),
            100.0 * step.achieved / step.offered,
            step.ok,
            step.errors,
            step.not_sent,
            step.error_rate_percent,
            ms(step.p50_us),
            ms(step.p99_us),
            ms(step.p999_us),
            if saturated { "saturation" } else { "" },
        );
    }
    s.push_str("</tbody></table>");
    let markers: Vec<Marker> = sweep
        .saturation
        .iter()
        .map(|x| Marker {
            x: x.rate,
            label: format!("saturation: {} req/s", svg::label(x.rate)),
        })
        .collect();
    let curve = |name: &str, color, value: &dyn Fn(&sweep::Step) -> f64| Line {
        name: name.into(),
        color,
        points: sweep
            .steps
            .iter()
            .map(|step| (step.offered, Some(value(step))))
            .collect(),
        dots: true,
        dashed: false,
    };
    let latency = Chart {
        id: Some("sweep-latency".into()),
        title: "Latency against offered rate".into(),
        x_label: "offered requests/s".into(),
        y_label: "latency ms (log)".into(),
        log_y: true,
        lines: vec![
            curve("p50", P50, &|x| x.p50_us as f64 / 1000.0),
            curve("p99", P99, &|x| x.p99_us as f64 / 1000.0),
            curve("p99.9", P999, &|x| x.p999_us as f64 / 1000.0),
        ],
        markers: markers.clone(),
        bands: Vec::new(),
    };
    let mut offered = curve("offered", OFFERED, &|x| x.offered);
    offered.dots = false;
    offered.dashed = true;
    let throughput = Chart {
        id: Some("sweep-throughput".into()),
        title: "Achieved against offered rate".into(),
        x_label: "offered requests/s".into(),
        y_label: "requests/s".into(),
        log_y: false,
        lines: vec![offered, curve("achieved", OK, &|x| x.achieved)],
        markers,
        bands: Vec::new(),
    };
    let _ = write!(
        s,
        "<div class=\"charts\">{}{}</div>",
        latency.render(),
        throughput.render()
    );
    let verdict = match &sweep.saturation {
        Some(x) => format!(
            "<strong>Saturation at {} req/s</strong>: {}.",
            svg::label(x.rate),
            escape(&x.reason)
        ),
        None => "<strong>No saturation</strong> at any rate of the sweep.".into(),
    };
    let _ = write!(
        s,
        "<p class=\"note\" id=\"saturation\">{verdict} The saturation point is the first offered rate at which \
         the shop served fewer than {:.0} % of the offered requests per second successfully (achieved: \
         successful answers over the time from the schedule's start to the last answer), or at which the p99 \
         passed {} × the lowest rate's p99 and {} ms above it. Latencies count from each request's intended \
         send time (coordinated omission corrected).</p>",
        100.0 * sweep::KEPT_UP,
        sweep::KNEE_FACTOR,
        sweep::KNEE_MIN_RISE_US / 1000
    );
}

/// Requests/s with errors, and p50/p99, second by second: every request
/// together, then each kind.
fn over_time(s: &mut String, report: &Report<'_>) {
    s.push_str(
        "<h2>Over time</h2><p class=\"note\">One point per second, at the middle of the second the requests \
         completed in (the last second counts per second of the part the run covered); a latency line \
         breaks where a second had no request of its kind.</p>",
    );
    let bands: Vec<Band> = report
        .sweep
        .map(|sweep| {
            sweep
                .steps
                .iter()
                .map(|step| Band {
                    from: step.start_second,
                    to: step.end_second,
                    label: format!("{}/s", svg::label(step.offered)),
                })
                .collect()
        })
        .unwrap_or_default();
    let kinds = std::iter::once(&report.series.all).chain(&report.series.kinds);
    for (i, kind) in kinds.enumerate() {
        let id = if i == 0 { " id=\"all\"" } else { "" };
        // The last second is usually cut short by the end of the run: its
        // point sits in the middle of the part covered, and its rates are
        // per second of that part (none if it is under a quarter second).
        let end = report.series.duration_seconds;
        let covered = |p: &Point| (end - p.second as f64).clamp(0.0, 1.0);
        let per_second = |count: u64, p: &Point| {
            let covered = covered(p);
            (covered >= 0.25).then(|| count as f64 / covered)
        };
        let line = |name: &str, color, value: &dyn Fn(&Point) -> Option<f64>| Line {
            name: name.into(),
            color,
            points: kind
                .points
                .iter()
                .map(|p| (p.second as f64 + covered(p) / 2.0, value(p)))
                .collect(),
            dots: false,
            dashed: false,
        };
        let throughput = Chart {
            id: None,
            title: format!("{}: requests/s", kind.kind),
            x_label: "seconds".into(),
            y_label: "requests/s".into(),
            log_y: false,
            lines: vec![
                line("ok", OK, &|p| per_second(p.ok, p)),
                line("errors", ERRORS, &|p| per_second(p.errors, p)),
            ],
            markers: Vec::new(),
            bands: bands.clone(),
        };
        let latency = Chart {
            id: None,
            title: format!("{}: latency", kind.kind),
            x_label: "seconds".into(),
            y_label: "ms".into(),
            log_y: false,
            lines: vec![
                line("p50", P50, &|p| p.p50_us.map(|us| us as f64 / 1000.0)),
                line("p99", P99, &|p| p.p99_us.map(|us| us as f64 / 1000.0)),
            ],
            markers: Vec::new(),
            bands: bands.clone(),
        };
        let _ = write!(
            s,
            "<section class=\"kind\"{id} data-kind=\"{k}\"><h3>{k}</h3><div class=\"charts\">{}{}</div></section>",
            throughput.render(),
            latency.render(),
            k = escape(&kind.kind)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open_loop::sweep::{Saturation, Step};
    use crate::series::Series;
    use std::time::Duration;

    fn series() -> TimeSeries {
        let mut s = Series::new();
        for ms in (0..5_000).step_by(50) {
            s.record(Duration::from_millis(ms), "GET /a", 1_000 + ms, true);
            if ms % 1_000 == 0 {
                s.record(Duration::from_millis(ms), "POST <b>", 9_000, false);
            }
        }
        s.finish(Duration::from_secs(5))
    }

    #[test]
    fn the_summary_has_one_row_per_kind_and_the_page_loads_nothing() {
        let series = series();
        let page = html(&Report {
            title: "journeys".into(),
            facts: vec![("target".into(), "http://127.0.0.1:8080/".into())],
            series: &series,
            sweep: None,
        });
        let body = page.split("<tbody>").nth(1).unwrap();
        let body = body.split("</tbody>").next().unwrap();
        assert_eq!(body.matches("<tr").count(), 2, "{body}");
        assert!(body.contains("POST &lt;b&gt;"), "escaped: {body}");
        // Two charts per kind and for everything together.
        assert_eq!(page.matches("<svg").count(), 6);
        assert_eq!(page.matches("<section class=\"kind\"").count(), 3);
        // The only URL is the target's, as text; the page may load nothing.
        assert_eq!(page.matches("http://").count(), 1);
        assert!(!page.contains("https://"));
        assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
        assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("<img"));
        assert!(
            !page.contains("id=\"sweep"),
            "no sweep section without a sweep"
        );
    }

    #[test]
    fn a_sweep_draws_its_curves_and_marks_the_saturation_point() {
        let series = series();
        let step = |offered: f64, achieved: f64, p99_us: u64| Step {
            offered,
            achieved,
            ok: 1,
            errors: 0,
            not_sent: 0,
            error_rate_percent: 0.0,
            p50_us: 500,
            p99_us,
            p999_us: p99_us * 2,
            start_second: offered / 100.0,
            end_second: offered / 100.0 + 1.0,
        };
        let sweep = Sweep {
            steps: vec![step(100.0, 100.0, 1_000), step(200.0, 150.0, 90_000)],
            saturation: Some(Saturation {
                index: 1,
                rate: 200.0,
                reason: "served 150.0 req/s of 200.0 offered".into(),
            }),
        };
        let page = html(&Report {
            title: "sweep".into(),
            facts: Vec::new(),
            series: &series,
            sweep: Some(&sweep),
        });
        assert!(page.contains("id=\"sweep-latency\""));
        assert!(page.contains("saturation: 200 req/s"));
        assert_eq!(page.matches("<tr class=\"saturated\">").count(), 1);
        assert!(page.contains("Saturation at 200 req/s"));
        // Each rate is a band on the time charts.
        assert!(page.contains(">100/s<") && page.contains(">200/s<"));
    }
}
