//! RTO and RPO, from the queries in `queries/`, with verdicts against the spec.
//!
//! Definitions (the contract; see the README's conventions):
//! - `fault_at` = time of the first `fault_injected` marker.
//! - `recovered_at` = start of the earliest good request starting after `fault_at` such that at
//!   least `recovery.success_ratio` of the requests starting in the next
//!   `recovery.stable_seconds` (that request included) are good.
//! - RTO = `recovered_at` − `fault_at`.
//! - Lost writes of a store = writes in the primary region with seq > `last_applied_seq`, at
//!   or before the promotion time.
//! - RPO = event time of the newest lost write − event time of the newest surviving write
//!   (seq = `last_applied_seq` in the primary region); 0 when nothing was lost.

pub mod abort;
pub mod alerts;
pub mod budget;
pub mod capacity;
pub mod gaps;
pub mod latency;
pub mod messages;
pub mod rpo;
pub mod rto;
pub mod traces;
pub mod traffic;
pub mod validity;

use std::collections::BTreeMap;

use crate::queries::{self, Param};
use crate::report::Report;
use crate::section::Context;
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

pub(crate) use crate::rows::{int_at, one, str_at, ts_at};

pub(crate) fn seconds(ns: i64) -> f64 {
    // Millisecond resolution is what the report promises; rounding keeps re-runs identical.
    (ns as f64 / 1e6).round() / 1e3
}

/// Measures the drill in `analyzer` against `spec`.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Report, AnalyzeError> {
    measure_with_progress(analyzer, spec, None).await
}

/// Called with each section's name before it is measured (for a progress line).
pub type SectionProgress<'a> = Option<&'a (dyn Fn(&str) + Send + Sync)>;

/// [`measure`], calling `progress` with each section's name before measuring it.
pub async fn measure_with_progress(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    progress: SectionProgress<'_>,
) -> Result<Report, AnalyzeError> {
    let announce = |name: &str| {
        if let Some(p) = progress {
            p(name)
        }
    };
    announce("timeline");
    let timeline = build_timeline(analyzer, spec).await?;
    let regions = [
        ("primary", &spec.regions.primary),
        ("secondary", &spec.regions.secondary),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect();
    let mut markers = Vec::new();
    if let Some(b) = one(analyzer.sql(&queries::MARKERS_TIMELINE).await?)? {
        for row in 0..b.num_rows() {
            markers.push(crate::report::MarkerRow {
                marker: str_at(&b, "marker", row)?.unwrap_or_default(),
                time: Time::new(ts_at(&b, "time", row)?.unwrap_or(0)),
                region: str_at(&b, "region", row)?.unwrap_or_default(),
            });
        }
    }
    let cx = Context {
        analyzer,
        spec,
        timeline: &timeline,
    };
    let mut sections = crate::report::measure_sections(&cx, &announce).await?;
    // The one measure that crosses sections: stream coverage is the gaps section's follow
    // check.
    sections.validity.set_coverage(&sections.gaps);
    Ok(Report::assemble(
        spec.name.clone(),
        regions,
        markers,
        sections,
        analyzer.stats.clone(),
        timeline,
    ))
}

/// The first sustained SLI breach (`fault_inferred.sql`), for a log without a fault marker.
async fn infer_fault(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Option<i64>, AnalyzeError> {
    let sql = queries::fill(
        &queries::FAULT_INFERRED,
        &[
            (
                "breach_ms",
                Param::Int((spec.recovery.breach_seconds * 1000.0).round() as i64),
            ),
            (
                "breach_success_ratio",
                Param::Number(spec.recovery.breach_success_ratio),
            ),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    Ok(row.as_ref().map(|b| ts_at(b, "fault_at", 0)).transpose()?.flatten())
}

/// First and last event time of the log, and the drill_started / drill_ended markers.
async fn fill_bounds(analyzer: &Analyzer, t: &mut Timeline) -> Result<(), AnalyzeError> {
    let row = one(analyzer.sql(&queries::BOUNDS).await?)?;
    let at = |col: &str| -> Result<Option<i64>, AnalyzeError> {
        Ok(row.as_ref().map(|b| ts_at(b, col, 0)).transpose()?.flatten())
    };
    t.data_start = at("data_start")?;
    t.data_end = at("data_end")?;
    t.drill_started_at = at("drill_started_at")?;
    t.drill_ended_at = at("drill_ended_at")?;
    Ok(())
}

/// The drill's timeline, built before any section (every section splits its data at these
/// moments): the fault (marker, else inferred), the log's bounds, recovery (the RTO
/// definition) and the phase boundaries of `rto_phases.sql`. Fails when the log has spans but
/// none is an SLI request ([`check_sli`]).
pub async fn build_timeline(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Timeline, AnalyzeError> {
    check_sli(analyzer, spec).await?;
    let fault = one(analyzer.sql(&queries::FAULT_AT).await?)?;
    let mut t = Timeline {
        fault_at: fault.as_ref().map(|b| ts_at(b, "fault_at", 0)).transpose()?.flatten(),
        ..Default::default()
    };
    fill_bounds(analyzer, &mut t).await?;
    // Tail-sampled spans keep errors and drop successes: a breach or a recovery read from
    // them would be the sampler's, not the service's.
    let tail = tail_sampled(spec);
    if t.fault_at.is_none() && !tail {
        t.fault_at = infer_fault(analyzer, spec).await?;
        t.fault_inferred = t.fault_at.is_some();
    }
    let Some(fault_at) = t.fault_at else {
        return Ok(t);
    };
    let sql = queries::fill(
        &queries::RECOVERED_AT,
        &[
            ("fault_at", Param::Time(fault_at)),
            (
                "stable_ms",
                Param::Int((spec.recovery.stable_seconds * 1000.0).round() as i64),
            ),
            ("success_ratio", Param::Number(spec.recovery.success_ratio)),
        ],
    )?;
    if !tail {
        let recovered = one(analyzer.sql(&sql).await?)?;
        t.recovered_at = recovered
            .as_ref()
            .map(|b| ts_at(b, "recovered_at", 0))
            .transpose()?
            .flatten();
    }
    let sql = queries::fill(
        &queries::RTO_PHASES,
        &[
            ("fault_at", Param::Time(fault_at)),
            ("secondary", Param::Literal(spec.regions.secondary.clone())),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    let at = |col: &str| -> Result<Option<i64>, AnalyzeError> {
        Ok(row.as_ref().map(|b| ts_at(b, col, 0)).transpose()?.flatten())
    };
    (t.detected_at, t.detected_by) = match (at("alert_detected_at")?, at("breach_detected_at")?) {
        (Some(a), _) => (Some(a), Some("alert")),
        (None, Some(b)) => (Some(b), Some("sli_breach")),
        (None, None) => (None, None),
    };
    t.declared_at = at("declared_at")?;
    t.cutover_at = at("cutover_at")?;
    t.first_good_secondary_at = at("first_good_secondary_at")?;
    Ok(t)
}

/// Whether the SLI is tail-sampled spans (see [`crate::spec::SamplingSpec`]).
pub fn tail_sampled(spec: &DrillSpec) -> bool {
    spec.sli.metrics.is_none() && spec.sli.sampling.mode == crate::spec::SamplingMode::Tail
}

/// Why a latency condition (SLO threshold, abort criterion) is not measured with a metrics SLI.
pub const NO_DURATIONS: &str = "the SLI is from metrics (sli.metrics): its requests have no durations, so a latency condition is not measurable; use the latency form of sli.metrics (good: a bucket) for a latency SLO";

/// Why a ratio of tail-sampled spans is not measured.
pub const TAIL_SAMPLED: &str = "the SLI's spans are tail-sampled (sli.sampling.mode: tail): errors were kept and successes dropped, so their error ratio would pass for an outage; give sli.metrics for RTO, budget and abort";

/// The sampling probability a threshold `th` of an OpenTelemetry tracestate (`ot=th:T`, up to
/// 14 hex digits, left-aligned on 56 bits) stands for: 1 − T / 2^56. `None` when not valid.
pub fn probability_of_threshold(th: &str) -> Option<f64> {
    if th.is_empty() || th.len() > 14 {
        return None;
    }
    let t = u64::from_str_radix(th, 16).ok()? << (4 * (14 - th.len()));
    // (2^56 − T) is exact in u64; dividing after the subtraction keeps p = 2^-56 for the
    // largest threshold.
    let p = ((1u64 << 56) - t) as f64 / (1u64 << 56) as f64;
    (p > 0.0).then_some(p)
}

/// An SLI selection that matches no span of a log that has spans is a mistake in the spec (a
/// misspelled service, a wrong span kind): an error naming what the log does have. A log
/// without spans is not an error (its sections say what they cannot measure).
pub async fn check_sli(analyzer: &Analyzer, spec: &DrillSpec) -> Result<(), AnalyzeError> {
    let counts = one(analyzer.sql("SELECT COUNT(*) AS n FROM requests").await?)?;
    if counts
        .as_ref()
        .map(|b| int_at(b, "n", 0))
        .transpose()?
        .flatten()
        .unwrap_or(0)
        > 0
    {
        return Ok(());
    }
    if let Some(m) = &spec.sli.metrics {
        let Some(b) = one(analyzer
            .sql("SELECT name, COUNT(*) AS n FROM metric_points GROUP BY name ORDER BY name")
            .await?)?
        else {
            return Ok(());
        };
        let mut names: Vec<String> = Vec::new();
        for row in 0..b.num_rows().min(30) {
            names.extend(str_at(&b, "name", row)?);
        }
        return Err(AnalyzeError::Spec(format!(
            "sli.metrics gives no request: total {:?} with {:?} select no two points of one series; the log has metrics {}{}",
            m.total,
            m.bad.as_ref().or(m.good.as_ref()).cloned().unwrap_or_default(),
            names.join(", "),
            if b.num_rows() > names.len() { ", …" } else { "" }
        )));
    }
    let Some(b) = one(analyzer
        .sql("SELECT service, kind, COUNT(*) AS n FROM spans GROUP BY service, kind ORDER BY service, kind")
        .await?)?
    else {
        return Ok(());
    };
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in 0..b.num_rows() {
        let service = str_at(&b, "service", row)?.unwrap_or_default();
        let kind = str_at(&b, "kind", row)?.unwrap_or_default();
        let n = int_at(&b, "n", row)?.unwrap_or(0);
        seen.entry(service).or_default().push(format!("{kind} {n}"));
    }
    let listed: Vec<String> = seen
        .iter()
        .take(20)
        .map(|(service, kinds)| format!("{service} ({})", kinds.join(", ")))
        .collect();
    let more = seen.len().saturating_sub(listed.len());
    Err(AnalyzeError::Spec(format!(
        "sli matches no span: services [{}] with span_kinds [{}]; the log has spans of {}{}",
        spec.sli.services.join(", "),
        spec.sli.span_kinds.join(", "),
        listed.join(", "),
        if more > 0 {
            format!(" and {more} more services")
        } else {
            String::new()
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::probability_of_threshold as p;

    #[test]
    fn sampling_thresholds_read_as_opentelemetry_defines_them() {
        assert_eq!(p("0"), Some(1.0));
        assert_eq!(p("8"), Some(0.5));
        assert_eq!(p("c"), Some(0.25));
        assert_eq!(p("f"), Some(1.0 / 16.0));
        // The largest threshold: p = 2^-56, not rounded to 0.
        assert_eq!(p("ffffffffffffff"), Some(1.0 / (1u64 << 56) as f64));
        // 10 %: T = 0.9 × 2^56, left-aligned.
        assert!((p("e666666666666").unwrap() - 0.1).abs() < 1e-12);
        for bad in ["", "g", "123456789abcdef", "ffffffffffffff0"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
