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
pub mod traces;
pub mod traffic;
pub mod validity;

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Int64Type, TimestampNanosecondType};

use crate::queries::{self, Param};
use crate::report::{Phase, Report, Rpo, Rto, SplitBrain, StoreRpo, Verdict, rfc3339};
use crate::spec::LagUnit;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

pub(crate) fn one(batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>, AnalyzeError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let b = concat_batches(&first.schema(), &batches).map_err(|e| AnalyzeError::Internal(e.to_string()))?;
    Ok((b.num_rows() > 0).then_some(b))
}

pub(crate) fn ts_at(b: &RecordBatch, col: &str, row: usize) -> Option<i64> {
    let a = b.column_by_name(col)?.as_primitive_opt::<TimestampNanosecondType>()?;
    (!a.is_null(row)).then(|| a.value(row))
}

pub(crate) fn int_at(b: &RecordBatch, col: &str, row: usize) -> Option<i64> {
    let a = b.column_by_name(col)?.as_primitive_opt::<Int64Type>()?;
    (!a.is_null(row)).then(|| a.value(row))
}

pub(crate) fn str_at(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let c = b.column_by_name(col)?;
    let a = c.as_string_opt::<i32>()?;
    (!a.is_null(row)).then(|| a.value(row).to_string())
}

fn seconds(ns: i64) -> f64 {
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
    announce("rto and rpo");
    let rto = measure_rto(analyzer, spec, &timeline).await?;
    let rpo = measure_rpo(analyzer, spec, timeline.fault_at).await?;
    let regions = [
        ("primary", &spec.regions.primary),
        ("secondary", &spec.regions.secondary),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect();
    let t = &timeline;
    let mut markers = Vec::new();
    if let Some(b) = one(analyzer.sql(queries::MARKERS_TIMELINE).await?)? {
        for row in 0..b.num_rows() {
            let time_ns = ts_at(&b, "time", row).unwrap_or(0);
            markers.push(crate::report::MarkerRow {
                marker: str_at(&b, "marker", row).unwrap_or_default(),
                time: rfc3339(time_ns),
                time_ns,
                region: str_at(&b, "region", row).unwrap_or_default(),
            });
        }
    }
    // Per-section timings go to the log (CUTOVER_LOG=cutover_analyzer=info), never into the
    // report, which must stay identical across runs.
    macro_rules! timed {
        ($name:expr, $fut:expr) => {{
            announce($name);
            let started = std::time::Instant::now();
            let out = $fut.await?;
            tracing::info!(section = $name, ms = started.elapsed().as_millis() as u64, "measured");
            out
        }};
    }
    let mut report = Report {
        markers,
        report_version: crate::report::REPORT_VERSION,
        drill: spec.name.clone(),
        regions,
        rto,
        rpo,
        latency: timed!("latency", latency::measure(analyzer, spec, t)),
        gaps: timed!("gaps", gaps::measure(analyzer, spec, t)),
        alerts: timed!("alerts", alerts::measure(analyzer, spec, t)),
        budget: timed!("budget", budget::measure(analyzer, spec, t)),
        abort: timed!("abort", abort::measure(analyzer, spec, t)),
        traces: timed!("traces", traces::measure(analyzer, spec, t)),
        messages: timed!("messages", messages::measure(analyzer, spec, t)),
        traffic: timed!("traffic", traffic::measure(analyzer, spec, t)),
        capacity: timed!("capacity", capacity::measure(analyzer, spec, t)),
        validity: timed!("validity", validity::measure(analyzer, spec, t)),
        verdict: Verdict::NotMeasurable,
        replay: analyzer.stats.clone(),
        timeline,
    };
    report.validity.set_coverage(&report.gaps);
    report.verdict = report.overall_verdict();
    Ok(report)
}

/// The first sustained SLI breach (`fault_inferred.sql`), for a log without a fault marker.
async fn infer_fault(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Option<i64>, AnalyzeError> {
    let sql = queries::fill(
        queries::FAULT_INFERRED,
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
    Ok(row.as_ref().and_then(|b| ts_at(b, "fault_at", 0)))
}

/// First and last event time of the log, and the drill_started / drill_ended markers.
async fn fill_bounds(analyzer: &Analyzer, t: &mut Timeline) -> Result<(), AnalyzeError> {
    let row = one(analyzer.sql(queries::BOUNDS).await?)?;
    let at = |col: &str| row.as_ref().and_then(|b| ts_at(b, col, 0));
    t.data_start = at("data_start");
    t.data_end = at("data_end");
    t.drill_started_at = at("drill_started_at");
    t.drill_ended_at = at("drill_ended_at");
    Ok(())
}

/// The drill's timeline, built before any section (every section splits its data at these
/// moments): the fault (marker, else inferred), the log's bounds, recovery (the RTO
/// definition) and the phase boundaries of `rto_phases.sql`. Fails when the log has spans but
/// none is an SLI request ([`check_sli`]).
pub async fn build_timeline(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Timeline, AnalyzeError> {
    check_sli(analyzer, spec).await?;
    let fault = one(analyzer.sql(queries::FAULT_AT).await?)?;
    let mut t = Timeline {
        fault_at: fault.as_ref().and_then(|b| ts_at(b, "fault_at", 0)),
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
        queries::RECOVERED_AT,
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
        t.recovered_at = recovered.as_ref().and_then(|b| ts_at(b, "recovered_at", 0));
    }
    let sql = queries::fill(
        queries::RTO_PHASES,
        &[
            ("fault_at", Param::Time(fault_at)),
            ("secondary", Param::Literal(spec.regions.secondary.clone())),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    let at = |col: &str| row.as_ref().and_then(|b| ts_at(b, col, 0));
    (t.detected_at, t.detected_by) = match (at("alert_detected_at"), at("breach_detected_at")) {
        (Some(a), _) => (Some(a), Some("alert")),
        (None, Some(b)) => (Some(b), Some("sli_breach")),
        (None, None) => (None, None),
    };
    t.declared_at = at("declared_at");
    t.cutover_at = at("cutover_at");
    t.first_good_secondary_at = at("first_good_secondary_at");
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

/// How the SLI requests were sampled: (mode, estimated requests, note) for the report.
async fn sampling(
    analyzer: &Analyzer,
    spec: &DrillSpec,
) -> Result<(String, Option<f64>, Option<String>), AnalyzeError> {
    if spec.sli.metrics.is_some() {
        return Ok(("none".into(), None, None));
    }
    if tail_sampled(spec) {
        return Ok(("tail".into(), None, Some(TAIL_SAMPLED.into())));
    }
    let Some(b) = one(analyzer
        .sql("SELECT sampling_th, sampling_probability, COUNT(*) AS n FROM requests GROUP BY sampling_th, sampling_probability")
        .await?)?
    else {
        return Ok(("none".into(), None, None));
    };
    let default = spec.sli.sampling.probability.unwrap_or(1.0);
    let probs = b
        .column_by_name("sampling_probability")
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Float64Type>());
    let (mut spans, mut estimated, mut lo, mut hi, mut from_trace) = (0u64, 0.0f64, 1.0f64, 0.0f64, 0u64);
    for row in 0..b.num_rows() {
        let n = int_at(&b, "n", row).unwrap_or(0).max(0) as u64;
        let th = str_at(&b, "sampling_th", row).and_then(|t| probability_of_threshold(&t));
        let attr = probs
            .filter(|p| !p.is_null(row))
            .map(|p| p.value(row))
            .filter(|p| *p > 0.0 && *p <= 1.0);
        if th.is_some() || attr.is_some() {
            from_trace += n;
        }
        let p = th.or(attr).unwrap_or(default);
        spans += n;
        estimated += n as f64 / p;
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if spans == 0 || lo >= 1.0 {
        return Ok(("none".into(), None, None));
    }
    let note = format!(
        "{spans} SLI spans were kept with probabilities {}{}, standing for about {} requests ({from_trace} spans carry their own probability, the others take {default}); request counts are estimates, and ratios (recovery, budget, abort) rest on the kept spans, a fair sample under head sampling",
        (lo * 1e4).round() / 1e4,
        if hi > lo {
            format!("–{}", (hi * 1e4).round() / 1e4)
        } else {
            String::new()
        },
        estimated.round()
    );
    Ok(("head".into(), Some(estimated.round()), Some(note)))
}

/// An SLI selection that matches no span of a log that has spans is a mistake in the spec (a
/// misspelled service, a wrong span kind): an error naming what the log does have. A log
/// without spans is not an error (its sections say what they cannot measure).
pub async fn check_sli(analyzer: &Analyzer, spec: &DrillSpec) -> Result<(), AnalyzeError> {
    let counts = one(analyzer.sql("SELECT COUNT(*) AS n FROM requests").await?)?;
    if counts.as_ref().and_then(|b| int_at(b, "n", 0)).unwrap_or(0) > 0 {
        return Ok(());
    }
    if let Some(m) = &spec.sli.metrics {
        let Some(b) = one(analyzer
            .sql("SELECT name, COUNT(*) AS n FROM metric_points GROUP BY name ORDER BY name")
            .await?)?
        else {
            return Ok(());
        };
        let names: Vec<String> = (0..b.num_rows().min(30))
            .filter_map(|row| str_at(&b, "name", row))
            .collect();
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
        let service = str_at(&b, "service", row).unwrap_or_default();
        let kind = str_at(&b, "kind", row).unwrap_or_default();
        let n = int_at(&b, "n", row).unwrap_or(0);
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

async fn measure_rto(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Rto, AnalyzeError> {
    let mut rto = Rto {
        actual_seconds: None,
        fault_at: None,
        recovered_at: None,
        target_seconds: spec.targets.rto_seconds,
        met: None,
        reason: None,
        requests: 0,
        detected_by: None,
        phases: Vec::new(),
        fault_inferred: false,
        sli: "spans".into(),
        resolution_seconds: None,
        sli_note: None,
        sampling: "none".into(),
        estimated_requests: None,
        sampling_note: None,
    };
    (rto.sampling, rto.estimated_requests, rto.sampling_note) = sampling(analyzer, spec).await?;
    if let Some(m) = &analyzer.metrics_sli {
        rto.sli = "metrics".into();
        rto.resolution_seconds = m.resolution_ns.map(seconds);
        let mut note = format!(
            "{} requests from {}; times are precise to the {} s between its points",
            m.requests,
            m.total,
            rto.resolution_seconds.map_or("—".to_string(), |r| r.to_string())
        );
        if m.scaled {
            note += &format!(
                "; intervals with more than {} requests were scaled down (ratios exact, counts not)",
                crate::metrics_sli::MAX_ROWS_PER_INTERVAL
            );
        }
        if m.unpaired > 0 {
            note += &format!(
                "; {} increments of the other selector had no total to pair with",
                m.unpaired
            );
        }
        rto.sli_note = Some(note);
    }
    let counts = one(analyzer.sql("SELECT COUNT(*) AS n FROM requests").await?)?;
    rto.requests = counts.as_ref().and_then(|b| int_at(b, "n", 0)).unwrap_or(0) as u64;
    let Some(fault_at) = timeline.fault_at else {
        rto.reason =
            Some("no fault_injected marker in the log, and no sustained SLI breach to infer the fault from".into());
        return Ok(rto);
    };
    rto.fault_at = Some(rfc3339(fault_at));
    rto.fault_inferred = timeline.fault_inferred;
    if rto.requests == 0 {
        rto.reason = Some(match &spec.sli.metrics {
            Some(m) => format!(
                "no SLI requests: sli.metrics total {:?} has no counter increase in the log",
                m.total
            ),
            None => format!(
                "no SLI requests: no spans of service(s) {} with kind(s) {}",
                spec.sli.services.join(", "),
                spec.sli.span_kinds.join(", ")
            ),
        });
        return Ok(rto);
    }
    rto.detected_by = timeline.detected_by.map(str::to_string);
    rto.phases = phases(timeline);
    if tail_sampled(spec) {
        rto.reason = Some(TAIL_SAMPLED.into());
        return Ok(rto);
    }
    let Some(recovered_at) = timeline.recovered_at else {
        rto.reason = Some(format!(
            "no recovery observed: after the fault, no good request opens a {} s window with at least {} good requests that ends within the data",
            spec.recovery.stable_seconds, spec.recovery.success_ratio
        ));
        return Ok(rto);
    };
    rto.recovered_at = Some(rfc3339(recovered_at));
    let actual = seconds(recovered_at - fault_at);
    rto.actual_seconds = Some(actual);
    rto.met = Some(actual <= spec.targets.rto_seconds);
    Ok(rto)
}

/// Splits the outage at the timeline's phase boundaries.
fn phases(t: &Timeline) -> Vec<Phase> {
    let Some(fault_at) = t.fault_at else {
        return Vec::new();
    };
    let bounds: [(&str, Option<i64>, &str); 6] = [
        ("fault", Some(fault_at), "no fault_injected marker"),
        (
            "detection",
            t.detected_at,
            "no firing alert for an SLI service and no bad request after the fault",
        ),
        ("declared", t.declared_at, "no failover_declared marker after the fault"),
        (
            "cutover",
            t.cutover_at,
            "no dns_cutover or traffic_shifted marker after the fault",
        ),
        (
            "first_good_secondary",
            t.first_good_secondary_at,
            "no good request served by the secondary region after the fault",
        ),
        ("recovered", t.recovered_at, "no recovery observed"),
    ];
    bounds
        .windows(2)
        .map(|w| {
            let ((from, start, why_start), (to, end, why_end)) = (w[0], w[1]);
            let reason = match (start, end) {
                (None, _) => Some(why_start.to_string()),
                (_, None) => Some(why_end.to_string()),
                (Some(s), Some(e)) if e < s => Some(format!("{to} came before {from}")),
                _ => None,
            };
            Phase {
                name: format!("{from}_to_{to}"),
                started_at: start.map(rfc3339),
                ended_at: end.map(rfc3339),
                seconds: match (start, end, &reason) {
                    (Some(s), Some(e), None) => Some(seconds(e - s)),
                    _ => None,
                },
                reason,
            }
        })
        .collect()
}

/// Writes accepted in two regions over overlapping time (`split_brain.sql`).
async fn split_brain(analyzer: &Analyzer) -> Result<Vec<SplitBrain>, AnalyzeError> {
    let Some(b) = one(analyzer.sql(queries::SPLIT_BRAIN).await?)? else {
        return Ok(Vec::new());
    };
    Ok((0..b.num_rows())
        .map(|row| SplitBrain {
            store: str_at(&b, "store", row).unwrap_or_default(),
            regions: [
                str_at(&b, "region_a", row).unwrap_or_default(),
                str_at(&b, "region_b", row).unwrap_or_default(),
            ],
            overlap_start: ts_at(&b, "overlap_start", row).map(rfc3339).unwrap_or_default(),
            overlap_end: ts_at(&b, "overlap_end", row).map(rfc3339).unwrap_or_default(),
            writes: [
                int_at(&b, "writes_a", row).unwrap_or(0) as u64,
                int_at(&b, "writes_b", row).unwrap_or(0) as u64,
            ],
        })
        .collect())
}

/// The RPO a replication-lag gauge predicted: its last value at or before the fault.
async fn lag_estimate(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    fault_at: Option<i64>,
) -> Result<(Option<f64>, Option<String>), AnalyzeError> {
    let Some(replication) = &spec.replication else {
        return Ok((None, Some("the spec names no replication.lag_metric".into())));
    };
    let Some(fault_at) = fault_at else {
        return Ok((None, Some("no fault_injected marker".into())));
    };
    let sql = queries::fill(
        queries::LAG_ESTIMATE,
        &[
            ("lag_metric", Param::Literal(replication.lag_metric.clone())),
            ("fault_at", Param::Time(fault_at)),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    let value = row.as_ref().and_then(|b| {
        let a = b
            .column_by_name("lag")?
            .as_primitive_opt::<arrow::datatypes::Float64Type>()?;
        (!a.is_null(0)).then(|| a.value(0))
    });
    Ok(match value {
        Some(v) => {
            let secs = match replication.lag_unit {
                LagUnit::Seconds => v,
                LagUnit::Milliseconds => v / 1000.0,
            };
            (Some((secs * 1000.0).round() / 1000.0), None)
        }
        None => (
            None,
            Some(format!("no point of {} at or before the fault", replication.lag_metric)),
        ),
    })
}

async fn measure_rpo(analyzer: &Analyzer, spec: &DrillSpec, fault_at: Option<i64>) -> Result<Rpo, AnalyzeError> {
    let mut rpo = Rpo {
        actual_seconds: None,
        lost_writes: None,
        lost: BTreeMap::new(),
        target_seconds: spec.targets.rpo_seconds,
        met: None,
        reason: None,
        stores: Vec::new(),
        estimate_seconds: None,
        estimate_reason: None,
        split_brain: split_brain(analyzer).await?,
    };
    (rpo.estimate_seconds, rpo.estimate_reason) = lag_estimate(analyzer, spec, fault_at).await?;
    let primary = [("primary", Param::Literal(spec.regions.primary.clone()))];
    let promotions = one(analyzer
        .sql(&queries::fill(queries::SURVIVING_WRITES, &primary)?)
        .await?)?;
    let Some(promotions) = promotions else {
        rpo.reason = Some("no db_promoted marker carrying cutover.write.store in the log".into());
        return Ok(rpo);
    };
    let lost = one(analyzer.sql(&queries::fill(queries::LOST_WRITES, &primary)?).await?)?;
    let mut lost_by_store: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    if let Some(b) = &lost {
        for row in 0..b.num_rows() {
            if let (Some(store), Some(seq), Some(t)) =
                (str_at(b, "store", row), int_at(b, "seq", row), ts_at(b, "time", row))
            {
                lost_by_store.entry(store).or_default().push((seq, t));
            }
        }
    }
    let mut total_lost = 0u64;
    let mut worst: Option<f64> = Some(0.0);
    let mut reasons = Vec::new();
    for row in 0..promotions.num_rows() {
        let store = str_at(&promotions, "store", row).unwrap_or_default();
        let last_applied = int_at(&promotions, "last_applied_seq", row);
        let surviving = ts_at(&promotions, "time", row);
        let lost = lost_by_store.remove(&store).unwrap_or_default();
        let newest_lost = lost.iter().map(|(_, t)| *t).max();
        let (rpo_s, reason) = match (last_applied, newest_lost, surviving) {
            (None, _, _) => (
                None,
                Some("db_promoted marker has no integer cutover.write.last_applied_seq".to_string()),
            ),
            (Some(_), None, _) => (Some(0.0), None),
            (Some(seq), Some(_), None) => (
                None,
                Some(format!(
                    "the newest surviving write (seq {seq}) is not in the log, so the data-loss window has no start"
                )),
            ),
            (Some(_), Some(l), Some(s)) => (Some(seconds(l - s).max(0.0)), None),
        };
        if let Some(r) = &reason {
            reasons.push(format!("store {store}: {r}"));
        }
        worst = match (worst, rpo_s) {
            (Some(w), Some(v)) => Some(w.max(v)),
            _ => None,
        };
        total_lost += lost.len() as u64;
        rpo.lost.insert(store.clone(), lost.iter().map(|(s, _)| *s).collect());
        rpo.stores.push(StoreRpo {
            store,
            promoted_at: ts_at(&promotions, "promoted_at", row).map(rfc3339).unwrap_or_default(),
            last_applied_seq: last_applied,
            newest_surviving_write_at: surviving.map(rfc3339),
            newest_lost_write_at: newest_lost.map(rfc3339),
            lost_writes: lost.len() as u64,
            rpo_seconds: rpo_s,
            reason,
        });
    }
    rpo.lost_writes = Some(total_lost);
    rpo.actual_seconds = worst;
    if worst.is_none() {
        rpo.reason = Some(reasons.join("; "));
    }
    rpo.met = worst.map(|w| w <= spec.targets.rpo_seconds);
    Ok(rpo)
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
