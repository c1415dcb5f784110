//! What the charts draw, taken from the report's sections.

use super::chart::{LineSeries, Rows};
use crate::report::Report;

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
                    Some((p.window_start.ns(), v?))
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

/// One row per stream that had a gap; an open gap runs to the data end; unexpected gaps are
/// highlighted.
pub fn gaps(report: &Report) -> Rows {
    let end = report.timeline.data_end.unwrap_or(0);
    let mut rows: Rows = Vec::new();
    for g in &report.gaps.gaps {
        let start = g.start.ns();
        let stop = g.end.as_ref().map_or(end, |t| t.ns());
        let hot = g.class == crate::measures::gaps::GapClass::Unexpected;
        match rows.iter_mut().find(|(label, _)| *label == g.stream) {
            Some((_, bars)) => bars.push((start, stop, hot)),
            None => rows.push((g.stream.clone(), vec![(start, stop, hot)])),
        }
    }
    // Streams with an unexpected gap first; at most MAX_GAP_ROWS rows (the table below the
    // charts lists every gap).
    rows.sort_by_key(|(_, bars)| !bars.iter().any(|b| b.2));
    rows.truncate(MAX_GAP_ROWS);
    rows
}

/// Most streams the gaps chart draws.
pub const MAX_GAP_ROWS: usize = 60;

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
                .filter_map(|p| Some((p.at.ns(), p.consumed_fraction? * 100.0)))
                .collect(),
            color: i + 2,
            dashed: false,
        })
        .collect()
}
