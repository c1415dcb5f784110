//! Inline SVG charts on a shared time axis (ns since the epoch, drawn in UTC).

use std::fmt::Write;

use super::esc;
use crate::report::Report;

const W: f64 = 1000.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const PALETTE: [&str; 6] = ["#2f6fd6", "#d9772b", "#2c9a55", "#8b4fc7", "#c23b4e", "#6b7a8f"];

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    /// Legend text.
    pub label: String,
    /// (time ns, value), in time order.
    pub points: Vec<(i64, f64)>,
    /// Palette index (series of one region share it).
    pub color: usize,
    /// Drawn dashed.
    pub dashed: bool,
}

/// A shaded interval with a label (an RTO phase).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Start, ns.
    pub start: i64,
    /// End, ns.
    pub end: i64,
    /// Label.
    pub label: String,
}

/// Rows of interval bars: (row label, bars (start, end, highlighted)).
pub type Rows = Vec<(String, Vec<(i64, i64, bool)>)>;

struct Axis {
    x0: i64,
    x1: i64,
}

impl Axis {
    fn x(&self, t: i64) -> f64 {
        let f = (t.clamp(self.x0, self.x1) - self.x0) as f64 / (self.x1 - self.x0) as f64;
        LEFT + f * (W - LEFT - RIGHT)
    }

    /// Time ticks along the bottom at `y`.
    fn ticks(&self, out: &mut String, top: f64, y: f64) {
        for i in 0..=6 {
            let t = self.x0 + (self.x1 - self.x0) / 6 * i;
            let x = self.x(t);
            let label = chrono::DateTime::from_timestamp_nanos(t).format("%H:%M:%S");
            let anchor = if i == 6 { "end" } else { "middle" };
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"#e6e9ef\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{label}</text>",
                y + 14.0
            );
        }
    }

    fn marks(&self, out: &mut String, marks: &[(i64, String)], top: f64, bottom: f64) {
        for (t, label) in marks {
            let x = self.x(*t);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#9aa5b5\" stroke-dasharray=\"3 3\"><title>{}</title></line>",
                esc(label)
            );
        }
    }
}

fn svg_open(name: &str, h: f64) -> String {
    format!("<svg class=\"chart\" data-chart=\"{name}\" viewBox=\"0 0 {W} {h}\" xmlns=\"http://www.w3.org/2000/svg\">")
}

fn no_data(out: &mut String, h: f64) {
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data</text>",
        W / 2.0,
        h / 2.0
    );
}

/// A captioned figure around an SVG.
pub fn figure(name: &str, caption: &str, svg: &str) -> String {
    format!(
        "<figure id=\"chart-{name}\"><figcaption>{}</figcaption>{svg}</figure>\n",
        esc(caption)
    )
}

/// The RTO phases as bands, from the report's phase rows.
pub fn phase_bands(report: &Report) -> Vec<Band> {
    report
        .rto
        .phases
        .iter()
        .filter_map(|p| {
            let (s, e) = (p.started_at.as_ref()?.ns(), p.ended_at.as_ref()?.ns());
            (e >= s).then(|| Band {
                start: s,
                end: e,
                label: p.name.replace('_', " "),
            })
        })
        .collect()
}

/// Markers (labelled ticks) above the RTO phases (bands).
pub fn timeline(x0: i64, x1: i64, marks: &[(i64, String)], bands: &[Band]) -> String {
    let h = 170.0;
    let axis = Axis { x0, x1 };
    let mut out = svg_open("timeline", h);
    axis.ticks(&mut out, 10.0, h - 24.0);
    let _ = write!(
        out,
        "<rect x=\"{LEFT}\" y=\"100\" width=\"{:.1}\" height=\"26\" fill=\"#eef1f6\"/>",
        W - LEFT - RIGHT
    );
    for (i, b) in bands.iter().enumerate() {
        let (xs, xe) = (axis.x(b.start), axis.x(b.end));
        let _ = write!(
            out,
            "<rect x=\"{xs:.1}\" y=\"100\" width=\"{:.1}\" height=\"26\" fill=\"{}\" opacity=\"0.75\"><title>{}</title></rect>",
            (xe - xs).max(1.0),
            PALETTE[i % PALETTE.len()],
            esc(&b.label)
        );
    }
    let _ = write!(
        out,
        "<text x=\"4\" y=\"117\">phases</text><text x=\"4\" y=\"40\">markers</text>"
    );
    for (i, (t, label)) in marks.iter().enumerate() {
        let x = axis.x(*t);
        let y = 22.0 + (i % 4) as f64 * 18.0;
        // Labels near the right edge end at their line instead of running off the chart.
        let (tx, anchor) = if x > W - 160.0 {
            (x - 3.0, "end")
        } else {
            (x + 3.0, "start")
        };
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"126\" stroke=\"#3a4556\"/><text x=\"{tx:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            y + 3.0,
            esc(label)
        );
    }
    if marks.is_empty() && bands.is_empty() {
        no_data(&mut out, h);
    }
    out + "</svg>"
}

/// A line chart; `y_range` fixes the y axis (else 0 to the largest value).
pub fn lines(
    name: &str,
    x0: i64,
    x1: i64,
    y_range: Option<(f64, f64)>,
    y_label: &str,
    series: &[LineSeries],
    marks: &[(i64, String)],
) -> String {
    let (h, top, bottom) = (240.0, 14.0, 206.0);
    let axis = Axis { x0, x1 };
    let mut out = svg_open(name, h);
    axis.ticks(&mut out, top, bottom);
    axis.marks(&mut out, marks, top, bottom);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let (lo, hi) = y_range.unwrap_or((0.0, if max > 0.0 { max * 1.1 } else { 1.0 }));
    let y = |v: f64| bottom - (v.clamp(lo, hi) - lo) / (hi - lo) * (bottom - top);
    for f in [0.0, 0.5, 1.0] {
        let v = lo + (hi - lo) * f;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e6e9ef\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            y(v),
            W - RIGHT,
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            short(v)
        );
    }
    let _ = write!(out, "<text x=\"4\" y=\"10\">{}</text>", esc(y_label));
    let mut drawn = 0;
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        drawn += 1;
        let color = PALETTE[s.color % PALETTE.len()];
        let mut d = String::new();
        for (n, (t, v)) in s.points.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if n == 0 { "M" } else { " L" }, axis.x(*t), y(*v));
        }
        let dash = if s.dashed { " stroke-dasharray=\"5 4\"" } else { "" };
        let _ = write!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{dash}><title>{}</title></path>",
            esc(&s.label)
        );
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + 8.0 + (drawn - 1) as f64 * 170.0,
            h - 8.0,
            LEFT + 22.0 + (drawn - 1) as f64 * 170.0,
            h - 4.0,
            esc(&s.label)
        );
    }
    if drawn == 0 {
        no_data(&mut out, h);
    }
    out + "</svg>"
}

/// One row of bars per label (gaps per stream); highlighted bars are red.
pub fn rows(name: &str, x0: i64, x1: i64, rows: &Rows, marks: &[(i64, String)]) -> String {
    let row_h = 18.0;
    let top = 10.0;
    let bottom = top + row_h * rows.len().max(1) as f64;
    let h = bottom + 24.0;
    let axis = Axis { x0, x1 };
    let mut out = svg_open(name, h);
    axis.ticks(&mut out, top, bottom);
    axis.marks(&mut out, marks, top, bottom);
    for (i, (label, bars)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        for (s, e, hot) in bars {
            let (xs, xe) = (axis.x(*s), axis.x(*e));
            let _ = write!(
                out,
                "<rect x=\"{xs:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
                y + 3.0,
                (xe - xs).max(1.5),
                row_h - 6.0,
                if *hot { "#c23b4e" } else { "#c5ccd6" },
                esc(label)
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + 4.0,
            y + 13.0,
            esc(&truncate(label, 60))
        );
    }
    if rows.is_empty() {
        no_data(&mut out, h);
    }
    out + "</svg>"
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_scales_points_into_the_plot() {
        let s = vec![LineSeries {
            label: "us-east-1".into(),
            points: vec![(0, 0.0), (10, 1.0)],
            color: 0,
            dashed: false,
        }];
        let svg = lines("sli", 0, 10, Some((0.0, 1.0)), "ratio", &s, &[]);
        // x from LEFT to W − RIGHT, y from the bottom (206) to the top (14).
        assert!(svg.contains("d=\"M64.0,206.0 L984.0,14.0\""), "{svg}");
        assert!(!svg.contains("no data"));
        let empty = lines("sli", 0, 10, None, "ratio", &[], &[]);
        assert!(empty.contains("no data"));
    }
}
