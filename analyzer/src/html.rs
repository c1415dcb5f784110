//! The self-contained HTML report: one file, no network fetches (a Content-Security-Policy
//! forbids them), charts as inline SVG.
//!
//! Charts (each an `<svg class="chart" data-chart="NAME">`):
//! - `timeline`: the drill markers and the RTO phases on one time axis;
//! - `sli`: success ratio per region over time (`validity.sli_series`);
//! - `latency`: p50 and p99 per region over time (`latency.series`);
//! - `gaps`: one row per stream with a gap, each gap a bar (`gaps.gaps`);
//! - `budget`: error budget consumed over the drill (`budget.series`).
//!
//! A chart without data is still drawn, with a "no data" note, so a reader sees the absence.
//! The text sections are the Markdown report rendered to HTML, so both always agree. A small
//! inline script counts the charts the browser laid out (`data-charts-rendered` on `<html>`);
//! the end-to-end test reads it from headless Chromium.

use std::fmt::Write;

use crate::report::Report;

mod chart;
mod data;
mod markdown;

pub use chart::{Band, LineSeries, Rows};

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2430;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde2ea;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:13px}td,th{border:1px solid #dde2ea;padding:3px 8px;text-align:left}
th{background:#f3f5f9}code{background:#f3f5f9;padding:0 3px;border-radius:3px}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:4px;font-weight:600}
.met{background:#d9f2df;color:#145a26}.missed{background:#fbdcdc;color:#8a1616}.not_measurable{background:#fdf0cc;color:#6b5000}
figure{margin:1.2rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
svg.chart{width:100%;height:auto;background:#fbfcfe;border:1px solid #e6e9ef}
svg text{font:11px system-ui,sans-serif;fill:#3a4556}
";

const SCRIPT: &str = "window.addEventListener('load',function(){var n=[];document.querySelectorAll('svg.chart').forEach(function(s){var b=s.getBBox();if(b.width>0&&b.height>0&&s.querySelector('path,rect,line')){n.push(s.dataset.chart);}});document.documentElement.dataset.chartsRendered=String(n.length);document.documentElement.dataset.charts=n.join(',');});";

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole report as one HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">";
    let _ = write!(out, "<title>Drill report: {}</title>", esc(&report.drill));
    let _ = write!(out, "<style>{STYLE}</style><script>{SCRIPT}</script></head><body>");
    let _ = write!(out, "<h1>Drill report: {}</h1>", esc(&report.drill));
    let verdict = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<p>Primary <code>{}</code>, secondary <code>{}</code>. Verdict: <span class=\"verdict {verdict}\">{}</span></p>",
        esc(report.regions.get("primary").map(String::as_str).unwrap_or("?")),
        esc(report.regions.get("secondary").map(String::as_str).unwrap_or("?")),
        esc(&verdict.replace('_', " "))
    );
    out += &charts(report);
    out += &markdown::to_html(&report.to_markdown(None), true);
    out += "</body></html>\n";
    out
}

fn charts(report: &Report) -> String {
    let (Some(x0), Some(x1)) = (report.timeline.data_start, report.timeline.data_end) else {
        return "<p>No events in the log: no charts.</p>".into();
    };
    let x1 = x1.max(x0 + 1);
    let mut out = String::from("<h2>Charts</h2>");
    let marks: Vec<(i64, String)> = report.markers.iter().map(|m| (m.time.ns(), m.marker.clone())).collect();
    let bands = chart::phase_bands(report);
    out += &chart::figure(
        "timeline",
        "Timeline: markers and RTO phases",
        &chart::timeline(x0, x1, &marks, &bands),
    );
    let regions = region_order(report);
    let sli: Vec<LineSeries> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| LineSeries {
            label: r.clone(),
            color: i,
            dashed: false,
            points: report
                .validity
                .sli_series
                .iter()
                .filter(|p| &p.region == r)
                .map(|p| (p.window_start_ns, p.success_ratio))
                .collect(),
        })
        .collect();
    out += &chart::figure(
        "sli",
        "Success ratio per region",
        &chart::lines("sli", x0, x1, Some((0.0, 1.0)), "success ratio", &sli, &marks),
    );
    out += &chart::figure(
        "latency",
        "Latency per region (p50 dashed, p99 solid), ms",
        &chart::lines("latency", x0, x1, None, "ms", &data::latency(report, &regions), &marks),
    );
    out += &chart::figure(
        "gaps",
        "Telemetry gaps per stream (red: unexpected, grey: expected)",
        &chart::rows("gaps", x0, x1, &data::gaps(report), &marks),
    );
    out += &chart::figure(
        "budget",
        "Error budget consumed by the drill, % of the period's budget",
        &chart::lines("budget", x0, x1, None, "% of budget", &data::budget(report), &marks),
    );
    out
}

/// Primary first, then secondary, then any other region seen in the SLI series.
pub(crate) fn region_order(report: &Report) -> Vec<String> {
    let mut regions: Vec<String> = ["primary", "secondary"]
        .iter()
        .filter_map(|k| report.regions.get(*k).cloned())
        .collect();
    for p in &report.validity.sli_series {
        if !regions.contains(&p.region) {
            regions.push(p.region.clone());
        }
    }
    regions
}
