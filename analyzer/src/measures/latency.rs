//! Latency per region × service × phase, spike windows and the comparison with baseline.
//!
//! ```yaml
//! latency:              # optional; these are the defaults
//!   window_seconds: 10  # width of the tumbling windows of the spike search and the chart
//!   spike_factor: 3.0   # a window spikes when its p99 > spike_factor × baseline p99 …
//!   spike_floor_ms: 100 # … and its p99 > spike_floor_ms …
//!   min_samples: 20     # … and it has at least min_samples requests; also the least
//!                       # sample size of a valid comparison
//! ```
//!
//! Definitions (SQL in `queries/latency_*.sql`, over the `requests` view):
//! - Phases are [`Timeline::phases`]: baseline before the fault, outage until recovery,
//!   recovered after it. A request belongs to the phase its start falls in.
//! - Percentiles come from the `hdr_latency` aggregate ([`crate::udf::hdr`]): nearest rank,
//!   3 significant digits (exact below 2.048 ms, otherwise at most 0.1 % low).
//! - Windows are tumbling windows of `window_seconds` (`date_bin`) with one bound on the fault
//!   (on the first event when there is no fault). The baseline p99 a window is compared with
//!   is that of its region × service before the fault; when that region × service took no
//!   request before the fault (e.g. the secondary), that of the service over all regions, and
//!   the row says so (`baseline_scope`). Adjacent spike windows of one region × service merge
//!   into one spike.
//! - Spike edges: the windows decide *whether* there is a spike (the p99 test above); its
//!   `start` and `end` are then found at the resolution of the requests themselves
//!   ([`refine_edges`]). A request is slow when its duration exceeds the spike's threshold,
//!   max(`spike_factor` × baseline p99, `spike_floor_ms`). Over the requests of the spike's
//!   region × service starting from one window before its first window to one window after its
//!   last (`latency_spike_edges.sql`), each slow request scores +1 and each other −1; the spike
//!   is the run of consecutive requests with the largest total (the change points of a
//!   two-level slow/fast sequence; ties as [`refine_edges`] says). `start` is the start of its
//!   first request, `end` the start of the first request after its last (when none follows,
//!   the end of the window that last request is in).
//!   `windows_start` and `windows_end` keep the bounds of the merged windows. Spikes of one
//!   region × service whose edges then touch or overlap merge into one ([`merge_touching`]).
//! - Comparison: each non-baseline phase of a region × service against the baseline of the
//!   same scope rule, by the two-sided Mann–Whitney U test ([`crate::udf::stats`]) with the
//!   rank-biserial correlation as effect size (positive: the phase is slower) and the
//!   difference of the exact nearest-rank p99s of the two samples. Invalid (with a reason)
//!   when either sample has fewer than `min_samples` requests. Negative durations are left out.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::{bool_at, f64_at, int_at, one, str_at, ts_at};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::udf::stats::{mann_whitney, nearest_rank};
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `latency_phases.sql`.
pub const LATENCY_PHASES: &Query = &queries::LATENCY_PHASES;
/// `latency_windows.sql`.
pub const LATENCY_WINDOWS: &Query = &queries::LATENCY_WINDOWS;
/// `latency_series.sql`.
pub const LATENCY_SERIES: &Query = &queries::LATENCY_SERIES;
/// `latency_samples.sql`.
pub const LATENCY_SAMPLES: &Query = &queries::LATENCY_SAMPLES;
/// `latency_spike_edges.sql`.
pub const LATENCY_SPIKE_EDGES: &Query = &queries::LATENCY_SPIKE_EDGES;
/// `latency_spike_exemplars.sql`.
pub const LATENCY_SPIKE_EXEMPLARS: &Query = &queries::LATENCY_SPIKE_EXEMPLARS;

/// The `latency` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LatencySpec {
    /// Width of the tumbling windows of the spike search and of the chart series, in seconds
    /// (default 10; at least 0.001).
    pub window_seconds: f64,
    /// A window is a spike when its p99 exceeds this many times the baseline p99 (default 3).
    pub spike_factor: f64,
    /// … and its p99 exceeds this many milliseconds (default 100; 0 means no floor).
    pub spike_floor_ms: f64,
    /// … and it has at least this many requests. Also the least size of each sample in a
    /// valid comparison (default 20).
    pub min_samples: u64,
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec {
            window_seconds: 10.0,
            spike_factor: 3.0,
            spike_floor_ms: 100.0,
            min_samples: 20,
        }
    }
}

impl LatencySpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.window_seconds.is_finite() && self.window_seconds >= 0.001) {
            return Err("window_seconds must be a finite number of at least 0.001".into());
        }
        if !(self.spike_factor.is_finite() && self.spike_factor > 0.0) {
            return Err("spike_factor must be a positive finite number".into());
        }
        if !(self.spike_floor_ms.is_finite() && self.spike_floor_ms >= 0.0) {
            return Err("spike_floor_ms must be a finite number of at least 0".into());
        }
        if self.min_samples == 0 {
            return Err("min_samples must be at least 1".into());
        }
        Ok(())
    }

    fn window_ms(&self) -> i64 {
        (self.window_seconds * 1000.0).round() as i64
    }
}

/// Which baseline a window or comparison was held against.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BaselineScope {
    /// The same region × service before the fault.
    Region,
    /// The same service over all regions before the fault (the region × service had none).
    Service,
}

/// Latency of one region × service × phase (`latency_phases.sql`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PhaseLatency {
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// `baseline`, `outage` or `recovered`.
    pub phase: String,
    /// SLI requests started in the phase.
    pub requests: u64,
    /// Of them, bad.
    pub bad_requests: u64,
    /// Of them, with a negative duration (left out of the percentiles).
    pub skipped: u64,
    /// 50th percentile, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile, ms.
    pub p999_ms: Option<f64>,
    /// Largest duration, ms.
    pub max_ms: Option<f64>,
}

/// One tumbling window of one region × service (`latency_windows.sql`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyWindow {
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// Start of the window (it lasts `window_seconds`).
    pub window_start: Time,
    /// SLI requests started in the window.
    pub requests: u64,
    /// 50th percentile, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// The baseline p99 compared with, ms (`None`: no baseline for the service at all).
    pub baseline_p99_ms: Option<f64>,
    /// Whose baseline that is.
    pub baseline_scope: Option<BaselineScope>,
    /// Whether the window is a spike.
    pub spike: bool,
}

/// Adjacent spike windows of one region × service, merged, with edges at request resolution.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Spike {
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// Start of the first slow request of the spike (see the module doc).
    pub start: Time,
    /// Start of the first request after the spike's last slow one (exclusive end).
    pub end: Time,
    /// Start of the first spike window.
    pub windows_start: Time,
    /// End of the last spike window.
    pub windows_end: Time,
    /// A request above this duration counts as slow when the edges are found, ms.
    pub slow_threshold_ms: f64,
    /// Spike windows merged.
    pub windows: u64,
    /// Requests in them.
    pub requests: u64,
    /// Highest window p99, ms.
    pub peak_p99_ms: f64,
    /// The baseline p99 compared with, ms.
    pub baseline_p99_ms: f64,
    /// Whose baseline that is.
    pub baseline_scope: BaselineScope,
    /// Exemplars of the region × service's metrics measured during the spike, largest first
    /// (at most 5): the traces to open.
    pub exemplars: Vec<SpikeExemplar>,
}

/// An exemplar measured during a spike.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpikeExemplar {
    /// The metric it belongs to.
    pub metric: String,
    /// When it was measured.
    pub time: Time,
    /// The measurement.
    pub value: f64,
    /// Its trace (hex), if it names one.
    pub trace_id: Option<String>,
    /// Its span (hex), if it names one.
    pub span_id: Option<String>,
}

/// One phase of one region × service against the baseline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// `outage` or `recovered`.
    pub phase: String,
    /// Durations in the phase sample.
    pub requests: u64,
    /// Durations in the baseline sample.
    pub baseline_requests: u64,
    /// Whose baseline (`None` when the service had no baseline request anywhere).
    pub baseline_scope: Option<BaselineScope>,
    /// Mann–Whitney U of the phase sample (pairs phase > baseline, ties half).
    pub u: Option<f64>,
    /// z score after tie and continuity corrections.
    pub z: Option<f64>,
    /// Two-sided p-value (normal approximation).
    pub p_value: Option<f64>,
    /// Rank-biserial correlation in [−1, 1]: P(phase > baseline) − P(phase < baseline).
    pub rank_biserial: Option<f64>,
    /// Nearest-rank p99 of the phase sample, ms.
    pub p99_ms: Option<f64>,
    /// Nearest-rank p99 of the baseline sample, ms.
    pub baseline_p99_ms: Option<f64>,
    /// `p99_ms − baseline_p99_ms`.
    pub p99_diff_ms: Option<f64>,
    /// Both samples have at least `min_samples` durations.
    pub valid: bool,
    /// Why the comparison is not valid.
    pub reason: Option<String>,
}

/// A point of the latency chart (`latency_series.sql`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesPoint {
    /// Region.
    pub region: String,
    /// Start of the window.
    pub window_start: Time,
    /// SLI requests (every service) started in the window.
    pub requests: u64,
    /// 50th percentile, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
}

/// The `latency` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Why the section (or its per-phase part) is not measurable.
    pub reason: Option<String>,
    /// Window width used, seconds.
    pub window_seconds: f64,
    /// Per region × service × phase, ordered by region, service, phase.
    pub phases: Vec<PhaseLatency>,
    /// Every window of every region × service (the evidence behind `spikes`).
    pub windows: Vec<LatencyWindow>,
    /// Merged spike windows, ordered by region, service, start.
    pub spikes: Vec<Spike>,
    /// Each non-baseline phase against the baseline.
    pub comparisons: Vec<Comparison>,
    /// Per region and window: requests, p50, p99; ordered by region then time.
    pub series: Vec<SeriesPoint>,
}

fn count_at(b: &RecordBatch, col: &str, row: usize) -> Result<u64, AnalyzeError> {
    Ok(int_at(b, col, row)?.unwrap_or(0).max(0) as u64)
}

fn scope_at(b: &RecordBatch, row: usize) -> Result<Option<BaselineScope>, AnalyzeError> {
    Ok(match str_at(b, "baseline_scope", row)?.as_deref() {
        Some("region") => Some(BaselineScope::Region),
        Some("service") => Some(BaselineScope::Service),
        _ => None,
    })
}

/// The phase cut points: (first phase start, fault, recovery, last phase end).
fn cut_points(timeline: &Timeline) -> Option<[i64; 4]> {
    let phases = timeline.phases();
    let (first, last) = (phases.first()?, phases.last()?);
    let (start, end) = (first.start, last.end);
    let fault = phases.iter().find(|p| p.name != "baseline").map_or(end, |p| p.start);
    let recovered = phases.iter().find(|p| p.name == "recovered").map_or(end, |p| p.start);
    Some([start, fault, recovered, end])
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Latency, AnalyzeError> {
    let ls = &spec.latency;
    let mut out = Latency {
        window_seconds: ls.window_seconds,
        ..Default::default()
    };
    if spec.sli.metrics.is_some() {
        out.reason = Some("the SLI is from metrics: its requests have no durations (latency comes from spans)".into());
        return Ok(out);
    }
    if super::tail_sampled(spec) {
        out.reason = Some(
            "the SLI's spans are tail-sampled (kept by outcome or duration): their latency is not the service's".into(),
        );
        return Ok(out);
    }
    let counted = one(analyzer.sql("SELECT COUNT(*) AS n FROM requests").await?)?;
    if counted.as_ref().map(|b| count_at(b, "n", 0)).transpose()?.unwrap_or(0) == 0 {
        out.reason = Some(format!(
            "no SLI requests: no spans of service(s) {} with kind(s) {}",
            spec.sli.services.join(", "),
            spec.sli.span_kinds.join(", ")
        ));
        return Ok(out);
    }
    let Some(origin) = timeline.fault_at.or(timeline.data_start) else {
        out.reason = Some("the log has no event times".into());
        return Ok(out);
    };
    let mut params = vec![
        ("window_ms", Param::Int(ls.window_ms())),
        ("origin", Param::Time(origin)),
        ("spike_factor", Param::Number(ls.spike_factor)),
        ("spike_floor_ms", Param::Number(ls.spike_floor_ms)),
        ("min_samples", Param::Int(ls.min_samples as i64)),
    ];
    out.series = series(analyzer, &params).await?;
    let Some([start, fault, recovered, end]) = cut_points(timeline) else {
        out.reason = Some(
            "no fault (no fault_injected marker and no sustained SLI breach), so no phases, baseline, spikes or comparisons"
                .into(),
        );
        return Ok(out);
    };
    params.extend([
        ("phases_start", Param::Time(start)),
        ("fault_at", Param::Time(fault)),
        ("recovered_at", Param::Time(recovered)),
        ("phases_end", Param::Time(end)),
    ]);
    out.phases = phase_rows(analyzer, &params).await?;
    out.windows = windows(analyzer, &params).await?;
    out.spikes = merge_spikes(&out.windows, ls.window_ms() * 1_000_000);
    for spike in &mut out.spikes {
        spike.slow_threshold_ms = (ls.spike_factor * spike.baseline_p99_ms).max(ls.spike_floor_ms);
        spike_edges(analyzer, spike, ls.window_ms() * 1_000_000).await?;
    }
    out.spikes = merge_touching(std::mem::take(&mut out.spikes));
    out.comparisons = comparisons(analyzer, &params, ls.min_samples).await?;
    if !out.phases.iter().any(|p| p.phase == "baseline") {
        out.reason = Some("no SLI request before the fault: nothing to compare with".into());
    }
    Ok(out)
}

async fn rows(
    analyzer: &Analyzer,
    sql: &'static Query,
    params: &[(&str, Param)],
) -> Result<Option<RecordBatch>, AnalyzeError> {
    one(analyzer.sql(&queries::fill(sql, params)?).await?)
}

async fn series(analyzer: &Analyzer, params: &[(&str, Param)]) -> Result<Vec<SeriesPoint>, AnalyzeError> {
    let Some(b) = rows(analyzer, LATENCY_SERIES, params).await? else {
        return Ok(Vec::new());
    };
    (0..b.num_rows())
        .map(|r| {
            Ok(SeriesPoint {
                region: str_at(&b, "region", r)?.unwrap_or_default(),
                window_start: ts_at(&b, "window_start", r)?.map(Time::new).unwrap_or_default(),
                requests: count_at(&b, "requests", r)?,
                p50_ms: f64_at(&b, "p50_ms", r)?,
                p99_ms: f64_at(&b, "p99_ms", r)?,
            })
        })
        .collect()
}

async fn phase_rows(analyzer: &Analyzer, params: &[(&str, Param)]) -> Result<Vec<PhaseLatency>, AnalyzeError> {
    let Some(b) = rows(analyzer, LATENCY_PHASES, params).await? else {
        return Ok(Vec::new());
    };
    (0..b.num_rows())
        .map(|r| {
            Ok(PhaseLatency {
                region: str_at(&b, "region", r)?.unwrap_or_default(),
                service: str_at(&b, "service", r)?.unwrap_or_default(),
                phase: str_at(&b, "phase", r)?.unwrap_or_default(),
                requests: count_at(&b, "requests", r)?,
                bad_requests: count_at(&b, "bad_requests", r)?,
                skipped: count_at(&b, "skipped", r)?,
                p50_ms: f64_at(&b, "p50_ms", r)?,
                p90_ms: f64_at(&b, "p90_ms", r)?,
                p99_ms: f64_at(&b, "p99_ms", r)?,
                p999_ms: f64_at(&b, "p999_ms", r)?,
                max_ms: f64_at(&b, "max_ms", r)?,
            })
        })
        .collect()
}

async fn windows(analyzer: &Analyzer, params: &[(&str, Param)]) -> Result<Vec<LatencyWindow>, AnalyzeError> {
    let Some(b) = rows(analyzer, LATENCY_WINDOWS, params).await? else {
        return Ok(Vec::new());
    };
    (0..b.num_rows())
        .map(|r| {
            Ok(LatencyWindow {
                region: str_at(&b, "region", r)?.unwrap_or_default(),
                service: str_at(&b, "service", r)?.unwrap_or_default(),
                window_start: ts_at(&b, "window_start", r)?.map(Time::new).unwrap_or_default(),
                requests: count_at(&b, "requests", r)?,
                p50_ms: f64_at(&b, "p50_ms", r)?,
                p99_ms: f64_at(&b, "p99_ms", r)?,
                baseline_p99_ms: f64_at(&b, "baseline_p99_ms", r)?,
                baseline_scope: scope_at(&b, r)?,
                spike: bool_at(&b, "spike", r)?.unwrap_or(false),
            })
        })
        .collect()
}

/// Merges spike windows that follow each other (next start = previous start + width) within
/// one region × service. `windows` is ordered by region, service, window start.
pub fn merge_spikes(windows: &[LatencyWindow], width_ns: i64) -> Vec<Spike> {
    let mut spikes: Vec<(Spike, i64)> = Vec::new();
    for w in windows.iter().filter(|w| w.spike) {
        let (Some(start), Some(p99), Some(base), Some(scope)) =
            (Some(w.window_start.ns()), w.p99_ms, w.baseline_p99_ms, w.baseline_scope)
        else {
            continue;
        };
        let end = start + width_ns;
        if let Some((last, last_end)) = spikes.last_mut()
            && last.region == w.region
            && last.service == w.service
            && *last_end == start
        {
            last.end = Time::new(end);
            last.windows_end = Time::new(end);
            last.windows += 1;
            last.requests += w.requests;
            last.peak_p99_ms = last.peak_p99_ms.max(p99);
            *last_end = end;
            continue;
        }
        let spike = Spike {
            region: w.region.clone(),
            service: w.service.clone(),
            start: w.window_start.clone(),
            end: Time::new(end),
            windows_start: w.window_start.clone(),
            windows_end: Time::new(end),
            slow_threshold_ms: 0.0,
            windows: 1,
            requests: w.requests,
            peak_p99_ms: p99,
            baseline_p99_ms: base,
            baseline_scope: scope,
            exemplars: Vec::new(),
        };
        spikes.push((spike, end));
    }
    spikes.into_iter().map(|(s, _)| s).collect()
}

/// Merges spikes of one region × service whose request-level edges touch or overlap (two runs
/// of spike windows one quiet window apart whose slow requests run into that window are one
/// spike with a dip). `spikes` is ordered by region, service, start of windows.
pub fn merge_touching(spikes: Vec<Spike>) -> Vec<Spike> {
    let mut out: Vec<Spike> = Vec::with_capacity(spikes.len());
    for s in spikes {
        if let Some(last) = out.last_mut()
            && last.region == s.region
            && last.service == s.service
            && let (Some(last_end), Some(start)) = (Some(last.end.ns()), Some(s.start.ns()))
            && start <= last_end
        {
            if Some(s.end.ns()) > Some(last_end) {
                last.end = s.end;
            }
            if Some(s.start.ns()) < Some(last.start.ns()) {
                last.start = s.start;
            }
            last.windows_end = s.windows_end;
            last.windows += s.windows;
            last.requests += s.requests;
            last.peak_p99_ms = last.peak_p99_ms.max(s.peak_p99_ms);
            last.exemplars.extend(s.exemplars);
            last.exemplars.sort_by(|a, b| b.value.total_cmp(&a.value));
            last.exemplars.truncate(5);
            continue;
        }
        out.push(s);
    }
    out
}

/// Finds `spike`'s start and end among the requests around its windows (`width_ns` wide).
async fn spike_edges(analyzer: &Analyzer, spike: &mut Spike, width_ns: i64) -> Result<(), AnalyzeError> {
    let (Some(from), Some(to)) = (Some(spike.windows_start.ns()), Some(spike.windows_end.ns())) else {
        return Ok(());
    };
    let (lo, hi) = (from.saturating_sub(width_ns), to.saturating_add(width_ns));
    let params = [
        ("region", Param::Literal(spike.region.clone())),
        ("service", Param::Literal(spike.service.clone())),
        ("edges_from", Param::Time(lo)),
        ("edges_to", Param::Time(hi)),
    ];
    let Some(b) = rows(analyzer, LATENCY_SPIKE_EDGES, &params).await? else {
        return Ok(());
    };
    let mut requests: Vec<(i64, f64)> = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        if let (Some(t), Some(d)) = (ts_at(&b, "start_time", r)?, f64_at(&b, "duration_ms", r)?) {
            requests.push((t, d));
        }
    }
    if let Some(e) = refine_edges(&requests, spike.slow_threshold_ms, (from, to)) {
        // With no request after the last slow one, the spike ends with the window it is in.
        let window_end = from + ((e.last_slow - from).div_euclid(width_ns) + 1) * width_ns;
        spike.start = Time::new(e.start);
        spike.end = Time::new(e.next.unwrap_or(window_end));
    }
    let (Some(start), Some(end)) = (Some(spike.start.ns()), Some(spike.end.ns())) else {
        return Ok(());
    };
    let params = [
        ("region", Param::Literal(spike.region.clone())),
        ("service", Param::Literal(spike.service.clone())),
        ("edges_from", Param::Time(start)),
        ("edges_to", Param::Time(end)),
    ];
    if let Some(b) = rows(analyzer, LATENCY_SPIKE_EXEMPLARS, &params).await? {
        spike.exemplars = (0..b.num_rows())
            .map(|r| {
                Ok(SpikeExemplar {
                    metric: str_at(&b, "name", r)?.unwrap_or_default(),
                    time: ts_at(&b, "time", r)?.map(Time::new).unwrap_or_default(),
                    value: f64_at(&b, "value", r)?.unwrap_or(f64::NAN),
                    trace_id: str_at(&b, "trace_id", r)?,
                    span_id: str_at(&b, "span_id", r)?,
                })
            })
            .collect::<Result<_, AnalyzeError>>()?;
    }
    Ok(())
}

/// The spike among `requests` ((start ns, duration ms), in start order) around the merged
/// spike windows `windows` ([start, end) ns): the run of consecutive requests where slow ones
/// (duration > `threshold_ms`) most outnumber the others (+1 per slow request, −1 per other;
/// among runs of equal total the first wins, and a run is extended over a stretch that nets
/// zero when a slow request ends it). When that run holds fewer than half of the slow
/// requests inside the windows (a diffuse tail: a few percent of slow requests pass the p99
/// test but never form a majority), the spike is instead from the first to the last slow
/// request inside the windows. `None` when no request is slow.
pub fn refine_edges(requests: &[(i64, f64)], threshold_ms: f64, windows: (i64, i64)) -> Option<SpikeEdges> {
    let (mut best, mut best_at) = (0i64, None::<(usize, usize)>);
    let (mut sum, mut from) = (0i64, 0usize);
    for (i, (_, d)) in requests.iter().enumerate() {
        if sum < 0 {
            (sum, from) = (0, i);
        }
        sum += if *d > threshold_ms { 1 } else { -1 };
        if sum > best || (sum == best && best_at.is_some_and(|(f, _)| f == from)) {
            (best, best_at) = (sum, Some((from, i)));
        }
    }
    let (mut first, mut last) = best_at?;
    let slow = |(_, d): &(i64, f64)| *d > threshold_ms;
    let inside = |(t, _): &(i64, f64)| *t >= windows.0 && *t < windows.1;
    let in_run = requests[first..=last].iter().filter(|r| slow(r)).count();
    let in_windows: Vec<usize> = (0..requests.len())
        .filter(|i| slow(&requests[*i]) && inside(&requests[*i]))
        .collect();
    if in_run * 2 < in_windows.len()
        && let (Some(a), Some(b)) = (in_windows.first(), in_windows.last())
    {
        (first, last) = (*a, *b);
    }
    let last_slow = requests[last].0;
    Some(SpikeEdges {
        start: requests[first].0,
        last_slow,
        next: requests[last..].iter().map(|(t, _)| *t).find(|t| *t > last_slow),
    })
}

/// What [`refine_edges`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpikeEdges {
    /// Start of the spike's first (slow) request, ns.
    pub start: i64,
    /// Start of its last slow request, ns.
    pub last_slow: i64,
    /// Start of the first request after that one, ns, if any.
    pub next: Option<i64>,
}

/// Sorted durations per (region, service, phase).
type Samples = BTreeMap<(String, String, String), Vec<f64>>;

async fn samples(analyzer: &Analyzer, params: &[(&str, Param)]) -> Result<Samples, AnalyzeError> {
    let mut out: Samples = BTreeMap::new();
    let Some(b) = rows(analyzer, LATENCY_SAMPLES, params).await? else {
        return Ok(out);
    };
    let d = b
        .column_by_name("duration_ms")
        .and_then(|c| c.as_primitive_opt::<Float64Type>())
        .ok_or_else(|| AnalyzeError::Internal("latency_samples: duration_ms is not DOUBLE".into()))?;
    let (region, service, phase) = (
        b.column(0).as_string::<i32>(),
        b.column(1).as_string::<i32>(),
        b.column(2).as_string::<i32>(),
    );
    for r in 0..b.num_rows() {
        let v = d.value(r);
        if d.is_null(r) || !v.is_finite() || v < 0.0 {
            continue;
        }
        let key = (
            region.value(r).to_string(),
            service.value(r).to_string(),
            phase.value(r).to_string(),
        );
        out.entry(key).or_default().push(v);
    }
    for v in out.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    Ok(out)
}

async fn comparisons(
    analyzer: &Analyzer,
    params: &[(&str, Param)],
    min_samples: u64,
) -> Result<Vec<Comparison>, AnalyzeError> {
    let samples = samples(analyzer, params).await?;
    // The baseline of each service over all regions, for a region × service without one.
    let mut by_service: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((_, service, phase), v) in &samples {
        if phase == "baseline" {
            by_service.entry(service).or_default().extend(v);
        }
    }
    for v in by_service.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    let mut out = Vec::new();
    for ((region, service, phase), x) in samples.iter().filter(|((_, _, p), _)| p != "baseline") {
        let own = samples.get(&(region.clone(), service.clone(), "baseline".to_string()));
        let (y, scope) = match (own, by_service.get(service.as_str())) {
            (Some(y), _) => (y.as_slice(), Some(BaselineScope::Region)),
            (None, Some(y)) => (y.as_slice(), Some(BaselineScope::Service)),
            (None, None) => (&[][..], None),
        };
        out.push(compare(region, service, phase, x, y, scope, min_samples));
    }
    Ok(out)
}

/// One comparison of an ascending phase sample `x` with an ascending baseline sample `y`.
pub fn compare(
    region: &str,
    service: &str,
    phase: &str,
    x: &[f64],
    y: &[f64],
    baseline_scope: Option<BaselineScope>,
    min_samples: u64,
) -> Comparison {
    let test = mann_whitney(x, y);
    let (p99, base_p99) = (nearest_rank(x, 0.99), nearest_rank(y, 0.99));
    let (n1, n2) = (x.len() as u64, y.len() as u64);
    let reason = if n2 == 0 {
        Some(format!("no baseline request for service {service} in any region"))
    } else if n1 < min_samples || n2 < min_samples {
        Some(format!(
            "too few samples: {n1} in the phase, {n2} in the baseline; at least {min_samples} each"
        ))
    } else {
        None
    };
    Comparison {
        region: region.to_string(),
        service: service.to_string(),
        phase: phase.to_string(),
        requests: n1,
        baseline_requests: n2,
        baseline_scope,
        u: test.as_ref().map(|t| t.u),
        z: test.as_ref().map(|t| t.z),
        p_value: test.as_ref().map(|t| t.p_value),
        rank_biserial: test.as_ref().map(|t| t.rank_biserial),
        p99_ms: p99,
        baseline_p99_ms: base_p99,
        p99_diff_ms: p99.zip(base_p99).map(|(a, b)| a - b),
        valid: reason.is_none(),
        reason,
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v}"))
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn scope(s: Option<BaselineScope>) -> &'static str {
    match s {
        Some(BaselineScope::Region) => "region",
        Some(BaselineScope::Service) => "service (all regions)",
        None => "none",
    }
}

impl Latency {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Latency\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n\n");
        }
        if !self.phases.is_empty() {
            out += "| region | service | phase | requests | bad | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n";
            out += "|---|---|---|---|---|---|---|---|---|---|\n";
            for p in &self.phases {
                out += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    p.region,
                    p.service,
                    p.phase,
                    p.requests,
                    p.bad_requests,
                    ms(p.p50_ms),
                    ms(p.p90_ms),
                    ms(p.p99_ms),
                    ms(p.p999_ms),
                    ms(p.max_ms)
                );
            }
        }
        if self.spikes.is_empty() {
            out += &format!("\nSpikes ({} s windows): none.\n", self.window_seconds);
        } else {
            out += &format!(
                "\nSpikes ({} s windows decide a spike; start and end are its first slow request and the first request after its last):",
                self.window_seconds
            );
            out += "\n\n| region | service | start | end | slow above ms | windows | windows from | windows to | requests | peak p99 ms | baseline p99 ms | baseline of |\n";
            out += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
            for s in &self.spikes {
                out += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    s.region,
                    s.service,
                    s.start,
                    s.end,
                    s.slow_threshold_ms,
                    s.windows,
                    s.windows_start,
                    s.windows_end,
                    s.requests,
                    s.peak_p99_ms,
                    s.baseline_p99_ms,
                    scope(Some(s.baseline_scope))
                );
            }
            for s in self.spikes.iter().filter(|s| !s.exemplars.is_empty()) {
                out += &format!(
                    "\nExemplars of the {} {} spike (traces to open):\n\n",
                    s.region, s.service
                );
                for x in &s.exemplars {
                    out += &format!(
                        "- {} {} = {} at {}: trace {} span {}\n",
                        x.metric,
                        s.region,
                        x.value,
                        x.time,
                        x.trace_id.as_deref().unwrap_or("—"),
                        x.span_id.as_deref().unwrap_or("—")
                    );
                }
            }
        }
        out + &self.comparisons_markdown()
    }

    fn comparisons_markdown(&self) -> String {
        if self.comparisons.is_empty() {
            return String::new();
        }
        let mut out = String::from("\nAgainst baseline (Mann–Whitney U, two-sided):\n\n");
        out += "| region | service | phase | n | baseline n | baseline of | U | p-value | rank-biserial | p99 Δ ms | valid |\n";
        out += "|---|---|---|---|---|---|---|---|---|---|---|\n";
        for c in &self.comparisons {
            let valid = match &c.reason {
                None => "yes".to_string(),
                Some(r) => format!("no: {r}"),
            };
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.region,
                c.service,
                c.phase,
                c.requests,
                c.baseline_requests,
                scope(c.baseline_scope),
                ms(c.u),
                num(c.p_value, 4),
                num(c.rank_biserial, 3),
                ms(c.p99_diff_ms),
                valid
            );
        }
        out
    }
}

impl crate::section::Section for Latency {
    const NAME: &'static str = "latency";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Latency::markdown(self)
    }

    fn holds(&self, verdict: crate::report::FailOn) -> bool {
        use crate::report::FailOn;
        match verdict {
            FailOn::Latency => !self.spikes.is_empty(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, p99: f64, spike: bool) -> LatencyWindow {
        LatencyWindow {
            region: "r".into(),
            service: "s".into(),
            window_start: Time::parse(start).unwrap(),
            requests: 5,
            p50_ms: Some(1.0),
            p99_ms: Some(p99),
            baseline_p99_ms: Some(10.0),
            baseline_scope: Some(BaselineScope::Region),
            spike,
        }
    }

    #[test]
    fn adjacent_spike_windows_merge_and_gaps_split() {
        let w = [
            window("2026-11-26T12:00:00Z", 50.0, true),
            window("2026-11-26T12:00:10Z", 70.0, true),
            window("2026-11-26T12:00:20Z", 5.0, false),
            window("2026-11-26T12:00:30Z", 40.0, true),
        ];
        let s = merge_spikes(&w, 10_000_000_000);
        let got: Vec<_> = s
            .iter()
            .map(|s| {
                (
                    s.start.to_string(),
                    s.end.to_string(),
                    s.windows,
                    s.requests,
                    s.peak_p99_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "2026-11-26T12:00:00Z".to_string(),
                    "2026-11-26T12:00:20Z".to_string(),
                    2,
                    10,
                    70.0
                ),
                (
                    "2026-11-26T12:00:30Z".to_string(),
                    "2026-11-26T12:00:40Z".to_string(),
                    1,
                    5,
                    40.0
                ),
            ]
        );
    }

    #[test]
    fn spike_edges_follow_the_slow_requests() {
        const S: i64 = 1_000_000_000;
        // One request a second; slow (500 ms) from 12 s to 31 s, an outlier at 3 s, a fast
        // request at 20 s inside the spike.
        let reqs: Vec<(i64, f64)> = (0..50)
            .map(|i| {
                let slow = (12..=31).contains(&i) && i != 20 || i == 3;
                (i * S, if slow { 500.0 } else { 10.0 })
            })
            .collect();
        let edges = |start, last_slow, next| Some(SpikeEdges { start, last_slow, next });
        assert_eq!(
            refine_edges(&reqs, 100.0, (10 * S, 40 * S)),
            edges(12 * S, 31 * S, Some(32 * S))
        );
        // Slow to the end: nothing follows.
        let tail: Vec<(i64, f64)> = (0..10).map(|i| (i * S, if i >= 6 { 500.0 } else { 1.0 })).collect();
        assert_eq!(refine_edges(&tail, 100.0, (0, 10 * S)), edges(6 * S, 9 * S, None));
        // Requests sharing the last slow one's start do not end it.
        let same = [(0, 1.0), (S, 500.0), (S, 1.0), (2 * S, 1.0)];
        assert_eq!(refine_edges(&same, 100.0, (0, 10 * S)), edges(S, S, Some(2 * S)));
        // S F S: the run goes on over the fast request; S F F S: the first run wins.
        let d = |v: &[f64]| {
            v.iter()
                .enumerate()
                .map(|(i, d)| (i as i64 * S, *d))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            refine_edges(&d(&[500.0, 1.0, 500.0, 1.0]), 100.0, (0, 10 * S)),
            edges(0, 2 * S, Some(3 * S))
        );
        assert_eq!(
            refine_edges(&d(&[500.0, 1.0, 1.0, 500.0]), 100.0, (0, S)),
            edges(0, 0, Some(S))
        );
        // A diffuse tail: one request in twenty slow across the windows [10 s, 20 s) (enough
        // for their p99), none outside. No majority run holds half of them: the spike runs from
        // the first to the last slow request inside the windows.
        let tail: Vec<(i64, f64)> = (0..300)
            .map(|i| {
                let t = i * S / 10;
                (
                    t,
                    if (100..200).contains(&i) && i % 20 == 5 {
                        500.0
                    } else {
                        1.0
                    },
                )
            })
            .collect();
        assert_eq!(
            refine_edges(&tail, 100.0, (10 * S, 20 * S)),
            edges(10 * S + S / 2, 18 * S + S / 2, Some(18 * S + 6 * S / 10))
        );
        // Nothing slow: no edges.
        assert_eq!(refine_edges(&[(0, 1.0), (S, 2.0)], 100.0, (0, 10 * S)), None);
        // At exactly the threshold a request is not slow (the window test is strict too).
        assert_eq!(refine_edges(&[(0, 100.0)], 100.0, (0, S)), None);
    }

    #[test]
    fn spikes_whose_edges_touch_merge() {
        let spike = |ws: &str, we: &str, start: &str, end: &str, peak: f64| Spike {
            region: "r".into(),
            service: "s".into(),
            start: Time::parse(start).unwrap(),
            end: Time::parse(end).unwrap(),
            windows_start: Time::parse(ws).unwrap(),
            windows_end: Time::parse(we).unwrap(),
            slow_threshold_ms: 100.0,
            windows: 1,
            requests: 10,
            peak_p99_ms: peak,
            baseline_p99_ms: 10.0,
            baseline_scope: BaselineScope::Region,
            exemplars: Vec::new(),
        };
        let text = |s: &str| format!("2026-11-26T12:00:{s}Z");
        let t = |s: &str| Time::parse(&text(s)).unwrap();
        // Windows 0–10 and 20–30 s; the first spike's slow requests run to 15 s and the second's
        // start at 14 s: one spike. A third, at 50 s, stays apart.
        let merged = merge_touching(vec![
            spike(&text("00"), &text("10"), &text("02"), &text("15"), 50.0),
            spike(&text("20"), &text("30"), &text("14"), &text("28"), 70.0),
            spike(&text("50"), &text("59"), &text("51"), &text("55"), 40.0),
        ]);
        let got: Vec<_> = merged
            .iter()
            .map(|s| {
                (
                    s.start.clone(),
                    s.end.clone(),
                    s.windows_start.clone(),
                    s.windows_end.clone(),
                    s.windows,
                    s.peak_p99_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (t("02"), t("28"), t("00"), t("30"), 2, 70.0),
                (t("51"), t("55"), t("50"), t("59"), 1, 40.0),
            ]
        );
    }

    #[test]
    fn spec_defaults_and_validation() {
        let d = LatencySpec::default();
        assert_eq!(
            (d.window_seconds, d.spike_factor, d.spike_floor_ms, d.min_samples),
            (10.0, 3.0, 100.0, 20)
        );
        assert!(d.validate().is_ok());
        let bad = [
            LatencySpec {
                window_seconds: 0.0,
                ..d.clone()
            },
            LatencySpec {
                window_seconds: f64::INFINITY,
                ..d.clone()
            },
            LatencySpec {
                spike_factor: -1.0,
                ..d.clone()
            },
            LatencySpec {
                spike_floor_ms: f64::NAN,
                ..d.clone()
            },
            LatencySpec {
                min_samples: 0,
                ..d.clone()
            },
        ];
        for s in bad {
            assert!(s.validate().is_err(), "{s:?}");
        }
    }

    #[test]
    fn too_few_samples_make_a_comparison_invalid() {
        let c = compare(
            "r",
            "s",
            "outage",
            &[5.0, 6.0],
            &[1.0, 2.0, 3.0],
            Some(BaselineScope::Region),
            3,
        );
        assert!(!c.valid);
        assert_eq!(c.u, Some(6.0));
        assert_eq!(c.p99_diff_ms, Some(3.0));
        assert!(c.reason.unwrap().contains("2 in the phase, 3 in the baseline"));
        let none = compare("r", "s", "outage", &[5.0], &[], None, 1);
        assert_eq!((none.valid, none.u), (false, None));
    }
}
