//! Line charts as inline SVG: axes with ticks and labels, a legend, lines
//! that break where a value is missing, vertical markers and shaded bands.
//! Text uses the browser's own sans-serif font; nothing is loaded.

use std::fmt::Write as _;

use super::escape;

/// Size of a chart, in CSS pixels.
const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 250.0;
/// Room for the title and legend, the tick labels, the axis labels.
const TOP: f64 = 40.0;
const RIGHT: f64 = 16.0;
const BOTTOM: f64 = 42.0;
const LEFT: f64 = 62.0;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its name in the legend, and its `data-series`.
    pub name: String,
    /// A CSS colour.
    pub color: &'static str,
    /// `(x, y)` points; a missing `y` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
    /// Draws a dot on every point, not only on isolated ones.
    pub dots: bool,
    /// Draws the line dashed.
    pub dashed: bool,
}

/// A vertical line at `x`, labelled.
#[derive(Debug, Clone)]
pub struct Marker {
    /// Where.
    pub x: f64,
    /// What it says.
    pub label: String,
}

/// A shaded stretch of the x axis, labelled.
#[derive(Debug, Clone)]
pub struct Band {
    /// From.
    pub from: f64,
    /// To.
    pub to: f64,
    /// What it says.
    pub label: String,
}

/// A line chart.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// The `id` of the `<svg>`, if any.
    pub id: Option<String>,
    /// Above the plot.
    pub title: String,
    /// Under the x axis.
    pub x_label: String,
    /// Along the y axis.
    pub y_label: String,
    /// A logarithmic y axis (values ≤ 0 are left out).
    pub log_y: bool,
    /// The lines, in legend order.
    pub lines: Vec<Line>,
    /// Vertical markers.
    pub markers: Vec<Marker>,
    /// Shaded bands.
    pub bands: Vec<Band>,
}

/// A linear or logarithmic mapping of data to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    /// Pixel of `lo` and of `hi`.
    from: f64,
    to: f64,
}

impl Scale {
    fn px(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (v.log10(), self.lo.log10(), self.hi.log10())
        } else {
            (v, self.lo, self.hi)
        };
        self.from + (v - lo) / (hi - lo) * (self.to - self.from)
    }
}

/// A round step (1, 2 or 5 × 10ⁿ) giving about `count` ticks over `span`.
fn step_for(span: f64, count: f64) -> f64 {
    let raw = span / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if step > 0.0 { step } else { 1.0 }
}

/// About `count` linear ticks from `lo` to `hi`, multiples of a round
/// step.
pub fn ticks(lo: f64, hi: f64, count: f64) -> Vec<f64> {
    let step = step_for(hi - lo, count);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Decades from `lo` to `hi` (powers of ten), with 2 and 5 between when
/// there are few of them.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let between: &[f64] = if last - first <= 2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    (first..=last)
        .flat_map(|e| between.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
        .collect()
}

/// A tick label: no more decimals than the values need.
pub fn label(v: f64) -> String {
    let text = if v == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

impl Chart {
    /// The chart as an `<svg>` element.
    pub fn render(&self) -> String {
        let xs = self.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let xs = xs
            .chain(self.markers.iter().map(|m| m.x))
            .chain(self.bands.iter().flat_map(|b| [b.from, b.to]));
        let (mut x_lo, mut x_hi) = bounds(xs);
        if x_hi <= x_lo {
            (x_lo, x_hi) = (x_lo - 1.0, x_hi + 1.0);
        }
        let ys = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .filter(|y| !self.log_y || *y > 0.0);
        let (y_lo, y_hi) = bounds(ys);
        let (y_lo, y_hi, y_ticks) = if self.log_y {
            let lo = if y_lo > 0.0 { y_lo } else { 1.0 };
            let hi = y_hi.max(lo);
            let lo = 10f64.powf(lo.log10().floor());
            let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
            (lo, hi, log_ticks(lo, hi))
        } else {
            // From 0, up to a round tick above the highest value.
            let hi = if y_hi > 0.0 { y_hi } else { 1.0 };
            let step = step_for(hi, 5.0);
            let hi = (hi / step).ceil() * step;
            (0.0, hi, ticks(0.0, hi, 5.0))
        };
        let x = Scale {
            lo: x_lo,
            hi: x_hi,
            log: false,
            from: LEFT,
            to: WIDTH - RIGHT,
        };
        let y = Scale {
            lo: y_lo,
            hi: y_hi,
            log: self.log_y,
            from: HEIGHT - BOTTOM,
            to: TOP,
        };

        let mut s = String::new();
        let id = self
            .id
            .as_ref()
            .map(|id| format!(" id=\"{}\"", escape(id)))
            .unwrap_or_default();
        let _ = write!(
            s,
            "<svg class=\"chart\"{id} viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
            escape(&self.title)
        );
        let _ = write!(
            s,
            "<text class=\"title\" x=\"{LEFT}\" y=\"16\">{}</text>",
            escape(&self.title)
        );
        for (i, band) in self.bands.iter().enumerate() {
            let (a, b) = (x.px(band.from), x.px(band.to));
            let _ = write!(
                s,
                "<rect class=\"band band-{}\" x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/><text class=\"band-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                i % 2,
                (b - a).max(0.0),
                HEIGHT - BOTTOM - TOP,
                (a + b) / 2.0,
                TOP + 11.0,
                escape(&band.label)
            );
        }
        // Grid and y ticks.
        for t in &y_ticks {
            let py = y.px(*t);
            let _ = write!(
                s,
                "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                py + 4.0,
                label(*t)
            );
        }
        // X ticks.
        for t in ticks(x_lo, x_hi, 8.0) {
            let px = x.px(t);
            let _ = write!(
                s,
                "<line class=\"axis\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 5.0,
                HEIGHT - BOTTOM + 17.0,
                label(t)
            );
        }
        // Axes and their labels.
        let _ = write!(
            s,
            "<path class=\"axis\" d=\"M{LEFT},{TOP} V{:.1} H{:.1}\"/>",
            HEIGHT - BOTTOM,
            WIDTH - RIGHT
        );
        let _ = write!(
            s,
            "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 6.0,
            escape(&self.x_label)
        );
        let _ = write!(
            s,
            "<text class=\"axis-label\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (TOP + HEIGHT - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
        // The lines.
        for line in &self.lines {
            s.push_str(&path(line, &x, &y, self.log_y));
        }
        for marker in &self.markers {
            let px = x.px(marker.x);
            let _ = write!(
                s,
                "<g class=\"marker\"><line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\">{}</text></g>",
                HEIGHT - BOTTOM,
                px + if px > WIDTH / 2.0 { -4.0 } else { 4.0 },
                TOP + 12.0,
                if px > WIDTH / 2.0 { "end" } else { "start" },
                escape(&marker.label)
            );
        }
        s.push_str(&legend(&self.lines));
        s.push_str("</svg>");
        s
    }
}

/// The smallest and largest of `values` (0, 0 when there are none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 0.0))
}

/// A line as a `<path>` (broken where values are missing) and dots where
/// wanted or where a point stands alone.
fn path(line: &Line, x: &Scale, y: &Scale, log: bool) -> String {
    let usable = |p: &(f64, Option<f64>)| p.1.filter(|v| v.is_finite() && (!log || *v > 0.0));
    let mut d = String::new();
    let mut dots = String::new();
    let mut previous = false;
    for (i, p) in line.points.iter().enumerate() {
        let Some(v) = usable(p) else {
            previous = false;
            continue;
        };
        let (px, py) = (x.px(p.0), y.px(v));
        let _ = write!(d, "{}{px:.1},{py:.1} ", if previous { 'L' } else { 'M' });
        let next = line.points.get(i + 1).and_then(usable).is_some();
        if line.dots || (!previous && !next) {
            let _ = write!(dots, "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"2.5\"/>");
        }
        previous = true;
    }
    format!(
        "<g class=\"series\" data-series=\"{name}\" style=\"stroke:{c};fill:{c}\"><path class=\"line{dash}\" d=\"{d}\" style=\"fill:none\"/>{dots}</g>",
        name = escape(&line.name),
        c = line.color,
        dash = if line.dashed { " dashed" } else { "" },
        d = d.trim_end(),
    )
}

/// Swatches and names, right-aligned above the plot.
fn legend(lines: &[Line]) -> String {
    let mut s = String::from("<g class=\"legend\">");
    let mut right = WIDTH - RIGHT;
    for line in lines.iter().rev() {
        // About 6.5 px a character at 11 px.
        let width = 18.0 + 6.5 * line.name.chars().count() as f64;
        let left = right - width;
        let _ = write!(
            s,
            "<rect x=\"{left:.1}\" y=\"24\" width=\"12\" height=\"4\" style=\"fill:{}\"/><text x=\"{:.1}\" y=\"30\">{}</text>",
            line.color,
            left + 16.0,
            escape(&line.name)
        );
        right = left - 10.0;
    }
    s.push_str("</g>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 47.0, 5.0), [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(ticks(3.0, 9.0, 5.0), [4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.5, 10.6, 8.0), [2.0, 4.0, 6.0, 8.0, 10.0]);
        let labels: Vec<String> = ticks(0.0, 0.9, 5.0).into_iter().map(label).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8"]);
        assert_eq!(log_ticks(0.1, 100.0), [0.1, 1.0, 10.0, 100.0]);
        assert_eq!(log_ticks(1.0, 10.0), [1.0, 2.0, 5.0, 10.0]);
        assert_eq!(label(2500.0), "2500");
        assert_eq!(label(12.5), "12.5");
        assert_eq!(label(0.0), "0");
    }

    #[test]
    fn a_missing_value_breaks_the_line_and_a_lone_point_gets_a_dot() {
        let line = Line {
            name: "p99".into(),
            color: "#000",
            points: vec![
                (0.0, Some(1.0)),
                (1.0, Some(2.0)),
                (2.0, None),
                (3.0, Some(3.0)),
                (4.0, None),
            ],
            dots: false,
            dashed: false,
        };
        let chart = Chart {
            title: "t <&>".into(),
            lines: vec![line],
            ..Chart::default()
        };
        let svg = chart.render();
        let d = svg.split("class=\"line\" d=\"").nth(1).unwrap();
        let d = d.split('"').next().unwrap();
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert_eq!(d.matches('M').count(), 2, "one break: {d}");
        assert_eq!(svg.matches("<circle").count(), 1, "the lone point");
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(!svg.contains("http"), "no namespace or link: {svg}");
    }
}
