//! Telemetry gaps per stream and whether every stream followed the cutover.
//!
//! Spec (all keys optional):
//!
//! ```yaml
//! gaps:
//!   gap_factor: 3.0                 # a gap is a silence longer than gap_factor × cadence
//!   cadence_seconds: { metrics: 15 } # per signal (spans, metrics, logs, siem); else inferred
//!   follow_delay_seconds: 60        # allowed delay after the cutover for a stream to follow
//!   min_events: 3                   # streams with fewer distinct event times are not checked
//!   min_gap_seconds: 5              # a gap must also be longer than this (0: no floor)
//! ```
//!
//! Definitions (the SQL is in `queries/gaps_*.sql` and `queries/view_stream_times.sql`; the
//! per-stream rules in the functions of `analyzer/src/udf/streams.rs`):
//! - A **stream** is region × service × signal, where the signal is `spans` (event time =
//!   span start), `metrics` (metric points; Prometheus staleness markers are left out, as they
//!   mark the end of a series, not data), `logs` or `siem`; metric points also form one stream
//!   per metric name. Only distinct event times count: duplicates collapse into one.
//! - **Cadence**: `cadence_seconds` for the signal when the spec gives it, else inferred as the
//!   median step between consecutive distinct event times of the stream.
//! - A stream with fewer than `min_events` distinct event times is listed but not checked.
//! - A **gap** is a step between consecutive distinct event times longer (strictly) than
//!   the threshold = max(`gap_factor` × cadence, `min_gap_seconds`); start = the event before, end = the event after. After the last
//!   event of a stream, a silence to the end of the data longer than the threshold is an
//!   **open gap** (end null, seconds measured to the data end). Before a stream's first event
//!   there is no gap (a stream that starts late is the "followed" check's business).
//! - **Expected** gap: the stream is in the primary region and the silence was not yet a gap
//!   when the fault came, i.e. `start + threshold >= fault_at` (this covers every gap starting
//!   at or after the fault, and a primary stream whose last event came shortly before the
//!   fault killed it). Every other gap, and every gap when there is no fault, is
//!   **unexpected**.
//! - **Followed the cutover**: every stream (service × signal, and service × metric name) with
//!   an event in the primary before the fault must have an event in the secondary at or after
//!   the cutover (`Timeline::cutover_at`). delay = that event − cutover: `followed` when
//!   delay ≤ `follow_delay_seconds`, `late` when longer, `never` without such an event.
//!   Not measurable without a fault or a cutover.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::seconds;
use crate::queries::{self, Param, Query};
use crate::rows::{f64_at, int_at, one, str_at, ts_at, u64_at};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `gaps_streams.sql`.
pub const STREAMS: &Query = &queries::GAPS_STREAMS;
/// `gaps_silences.sql`.
pub const SILENCES: &Query = &queries::GAPS_SILENCES;
/// `gaps_followed.sql`.
pub const FOLLOWED: &Query = &queries::GAPS_FOLLOWED;

/// A telemetry signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Spans (`spans` table), by start time.
    Spans,
    /// Metric points (`metric_points`), staleness markers left out.
    Metrics,
    /// Log records (`logs`).
    Logs,
    /// SIEM events (`siem`).
    Siem,
}

impl Signal {
    /// The name used in the SQL and in stream keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Siem => "siem",
        }
    }

    fn parse(s: &str) -> Option<Signal> {
        [Signal::Spans, Signal::Metrics, Signal::Logs, Signal::Siem]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The `gaps` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GapsSpec {
    /// A gap is a silence longer than `gap_factor` × the stream's cadence (≥ 1; default 3).
    #[serde(default = "default_gap_factor")]
    pub gap_factor: f64,
    /// Expected cadence per signal, seconds (> 0). Signals not named here use the inferred
    /// cadence (median step between distinct event times) of each stream.
    #[serde(default)]
    pub cadence_seconds: BTreeMap<Signal, f64>,
    /// How long after the cutover a stream may take to appear in the secondary (≥ 0; default
    /// 60).
    #[serde(default = "default_follow_delay")]
    pub follow_delay_seconds: f64,
    /// Streams with fewer distinct event times are listed but not gap-checked (≥ 2, as a
    /// cadence needs one step; default 3).
    #[serde(default = "default_min_events")]
    pub min_events: u64,
    /// Floor of every stream's threshold, seconds (≥ 0; default 5; 0 = no floor, the bare
    /// `gap_factor` × cadence rule). A median step says little about bursty streams (spans
    /// and logs of request traffic, whose median step can be milliseconds); the floor keeps
    /// their short pauses from counting as gaps.
    #[serde(default = "default_min_gap")]
    pub min_gap_seconds: f64,
}

fn default_min_gap() -> f64 {
    5.0
}

fn default_gap_factor() -> f64 {
    3.0
}

fn default_follow_delay() -> f64 {
    60.0
}

fn default_min_events() -> u64 {
    3
}

impl Default for GapsSpec {
    fn default() -> Self {
        GapsSpec {
            gap_factor: default_gap_factor(),
            cadence_seconds: BTreeMap::new(),
            follow_delay_seconds: default_follow_delay(),
            min_events: default_min_events(),
            min_gap_seconds: default_min_gap(),
        }
    }
}

impl GapsSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.gap_factor >= 1.0 && self.gap_factor.is_finite()) {
            return Err(format!("gap_factor must be a number ≥ 1, not {}", self.gap_factor));
        }
        if let Some((s, v)) = self.cadence_seconds.iter().find(|(_, v)| !(**v > 0.0 && v.is_finite())) {
            return Err(format!(
                "cadence_seconds.{} must be a positive number of seconds, not {v}",
                s.as_str()
            ));
        }
        if !(self.follow_delay_seconds >= 0.0 && self.follow_delay_seconds.is_finite()) {
            return Err(format!(
                "follow_delay_seconds must be a non-negative number, not {}",
                self.follow_delay_seconds
            ));
        }
        if !(self.min_gap_seconds >= 0.0 && self.min_gap_seconds.is_finite()) {
            return Err(format!(
                "min_gap_seconds must be a non-negative number, not {}",
                self.min_gap_seconds
            ));
        }
        if self.min_events < 2 {
            return Err(format!(
                "min_events must be at least 2 (a cadence needs two event times), not {}",
                self.min_events
            ));
        }
        Ok(())
    }

    /// `min_gap_seconds` in ns.
    fn min_gap_ns(&self) -> i64 {
        (self.min_gap_seconds * 1e9).round() as i64
    }

    /// The spec's cadence of `signal` in ns, 0 when the spec gives none.
    fn cadence_ns(&self, signal: Signal) -> i64 {
        self.cadence_seconds
            .get(&signal)
            .map(|s| (s * 1e9).round() as i64)
            .unwrap_or(0)
    }
}

/// Whether a gap was the drill's intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GapClass {
    /// A primary-region stream going quiet with the fault (see the module doc).
    Expected,
    /// Any other gap.
    #[default]
    Unexpected,
}

/// Outcome of the "followed the cutover" check for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FollowStatus {
    /// Appeared in the secondary within `follow_delay_seconds` of the cutover.
    Followed,
    /// Appeared in the secondary, but later than allowed.
    Late,
    /// Never appeared in the secondary after the cutover.
    #[default]
    Never,
}

/// One telemetry stream.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stream {
    /// `region/service/signal`, or `region/service/metrics/<metric name>`.
    pub key: String,
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// Signal.
    pub signal: Option<Signal>,
    /// Metric name, for a per-metric stream.
    pub metric: Option<String>,
    /// Rows (events) of the stream.
    pub events: u64,
    /// Distinct event times.
    pub times: u64,
    /// First event time.
    pub first_at: Time,
    /// Last event time.
    pub last_at: Time,
    /// Cadence used, seconds (µs resolution); null when not checked and not inferable.
    pub cadence_seconds: Option<f64>,
    /// `true` when the cadence was inferred (median step), `false` when from the spec.
    pub cadence_inferred: bool,
    /// max(`gap_factor` × cadence, `min_gap_seconds`), seconds (µs resolution).
    pub threshold_seconds: Option<f64>,
    /// Whether the stream was gap-checked.
    pub checked: bool,
    /// Why it was not checked.
    pub reason: Option<String>,
}

/// One gap.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Gap {
    /// The stream's key (see [`Stream::key`]).
    pub stream: String,
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// Signal.
    pub signal: Option<Signal>,
    /// Metric name, for a per-metric stream.
    pub metric: Option<String>,
    /// Last event before the silence.
    pub start: Time,
    /// First event after the silence; null for an open gap (the stream never resumed).
    pub end: Option<Time>,
    /// Length of the silence (to the data end for an open gap), ms resolution.
    pub seconds: f64,
    /// Whether the stream never resumed.
    pub open: bool,
    /// Expected or unexpected.
    pub class: GapClass,
}

/// One stream of the "followed the cutover" check.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Follow {
    /// `service/signal` or `service/metrics/<metric name>`.
    pub key: String,
    /// Service.
    pub service: String,
    /// Signal.
    pub signal: Option<Signal>,
    /// Metric name, for a per-metric stream.
    pub metric: Option<String>,
    /// Last event in the primary before the fault.
    pub primary_last_at: Time,
    /// First event in the secondary at or after the cutover.
    pub secondary_first_at: Option<Time>,
    /// `secondary_first_at − cutover_at`, seconds (ms resolution).
    pub delay_seconds: Option<f64>,
    /// Followed, late or never.
    pub status: FollowStatus,
}

/// The `gaps` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Gaps {
    /// Why the section is not measurable.
    pub reason: Option<String>,
    /// The spec's `gap_factor`.
    pub gap_factor: f64,
    /// End of the data (open gaps are measured to it).
    pub data_end: Option<Time>,
    /// Number of gap-checked streams.
    pub streams_checked: u64,
    /// Every stream, checked or not.
    pub streams: Vec<Stream>,
    /// Every gap of the checked streams, by stream then start.
    pub gaps: Vec<Gap>,
    /// Gaps classed unexpected.
    pub unexpected_gaps: u64,
    /// The cutover the follow check measures from.
    pub cutover_at: Option<Time>,
    /// The spec's `follow_delay_seconds`.
    pub follow_delay_seconds: f64,
    /// Streams of the primary before the fault and how they followed.
    pub followed: Vec<Follow>,
    /// Why the follow check is not measurable.
    pub followed_reason: Option<String>,
    /// Streams that appeared late in the secondary.
    pub late_followed: u64,
    /// Streams that never appeared in the secondary after the cutover.
    pub never_followed: u64,
}

/// A stream's identity: (region, service, signal, metric name).
type StreamId = (String, String, Option<Signal>, Option<String>);

/// Common key columns of the gap queries; `gaps_followed.sql` has no region (its streams are
/// the primary's, followed in the secondary).
fn key_at(b: &RecordBatch, row: usize) -> Result<StreamId, AnalyzeError> {
    let metric = str_at(b, "metric", row)?.filter(|m| !m.is_empty());
    let region = if b.schema().column_with_name("region").is_some() {
        str_at(b, "region", row)?.unwrap_or_default()
    } else {
        String::new()
    };
    Ok((
        region,
        str_at(b, "service", row)?.unwrap_or_default(),
        str_at(b, "signal", row)?.as_deref().and_then(Signal::parse),
        metric,
    ))
}

fn key_text(parts: &[&str], signal: Option<Signal>, metric: &Option<String>) -> String {
    let mut k = parts.join("/");
    k += "/";
    k += signal.map(Signal::as_str).unwrap_or("?");
    if let Some(m) = metric {
        k += "/";
        k += m;
    }
    k
}

/// Seconds at µs resolution (cadences of busy span streams are below a millisecond).
fn micros(ns: f64) -> f64 {
    (ns / 1e3).round() / 1e6
}

/// The class of a gap starting at `start` (ns) in `region` with threshold `threshold_ns`.
pub fn classify(region: &str, primary: &str, start: i64, threshold_ns: f64, fault_at: Option<i64>) -> GapClass {
    match fault_at {
        Some(f) if region == primary && start as f64 + threshold_ns >= f as f64 => GapClass::Expected,
        _ => GapClass::Unexpected,
    }
}

/// Follow status for a delay (seconds) against the allowed delay.
pub fn follow_status(delay_seconds: Option<f64>, allowed_seconds: f64) -> FollowStatus {
    match delay_seconds {
        None => FollowStatus::Never,
        Some(d) if d <= allowed_seconds => FollowStatus::Followed,
        Some(_) => FollowStatus::Late,
    }
}

/// Streams from `gaps_streams.sql`, each with its threshold in ns when it is checked.
async fn streams(analyzer: &Analyzer, spec: &DrillSpec) -> Result<Vec<(Stream, Option<f64>)>, AnalyzeError> {
    let Some(b) = one(analyzer.sql(STREAMS).await?)? else {
        return Ok(Vec::new());
    };
    let g = &spec.gaps;
    let mut out = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        let (region, service, signal, metric) = key_at(&b, row)?;
        let times = u64_at(&b, "times", row)?.unwrap_or(0);
        let inferred = f64_at(&b, "inferred_cadence_ns", row)?;
        // The same integer ns the SQL gets, so both sides compute the same threshold.
        let from_spec = signal.map(|s| g.cadence_ns(s)).filter(|ns| *ns > 0).map(|ns| ns as f64);
        let cadence_ns = from_spec.or(inferred);
        let threshold_ns = cadence_ns.map(|c| (g.gap_factor * c).max(g.min_gap_ns() as f64));
        let checked = times >= g.min_events && threshold_ns.is_some();
        let reason =
            (!checked).then(|| format!("{times} distinct event time(s), fewer than min_events {}", g.min_events));
        let stream = Stream {
            key: key_text(&[&region, &service], signal, &metric),
            region,
            service,
            signal,
            metric,
            events: u64_at(&b, "events", row)?.unwrap_or(0),
            times,
            first_at: ts_at(&b, "first_at", row)?.map(Time::new).unwrap_or_default(),
            last_at: ts_at(&b, "last_at", row)?.map(Time::new).unwrap_or_default(),
            cadence_seconds: cadence_ns.map(micros),
            cadence_inferred: from_spec.is_none() && inferred.is_some(),
            threshold_seconds: threshold_ns.map(micros),
            checked,
            reason,
        };
        out.push((stream, threshold_ns.filter(|_| checked)));
    }
    Ok(out)
}

/// Gaps from `gaps_silences.sql`, classified.
async fn gaps(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    timeline: &Timeline,
    data_end: i64,
    thresholds: &BTreeMap<StreamId, f64>,
) -> Result<Vec<Gap>, AnalyzeError> {
    let g = &spec.gaps;
    let sql = queries::fill(
        SILENCES,
        &[
            ("min_events", Param::Int(g.min_events as i64)),
            ("gap_factor", Param::Number(g.gap_factor)),
            ("min_gap_ns", Param::Int(g.min_gap_ns())),
            ("data_end", Param::Time(data_end)),
            ("spans_cadence_ns", Param::Int(g.cadence_ns(Signal::Spans))),
            ("metrics_cadence_ns", Param::Int(g.cadence_ns(Signal::Metrics))),
            ("logs_cadence_ns", Param::Int(g.cadence_ns(Signal::Logs))),
            ("siem_cadence_ns", Param::Int(g.cadence_ns(Signal::Siem))),
        ],
    )?;
    let Some(b) = one(analyzer.sql(&sql).await?)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        let id = key_at(&b, row)?;
        let Some(threshold) = thresholds.get(&id).copied() else {
            return Err(AnalyzeError::Internal(format!("gap of an unchecked stream {id:?}")));
        };
        let (region, service, signal, metric) = id;
        let stream = key_text(&[&region, &service], signal, &metric);
        let start = ts_at(&b, "start_at", row)?.unwrap_or_default();
        let end = ts_at(&b, "end_at", row)?;
        out.push(Gap {
            class: classify(&region, &spec.regions.primary, start, threshold, timeline.fault_at),
            stream,
            region,
            service,
            signal,
            metric,
            start: Time::new(start),
            end: end.map(Time::new),
            seconds: seconds(int_at(&b, "silence_ns", row)?.unwrap_or_default()),
            open: end.is_none(),
        });
    }
    Ok(out)
}

/// The "followed the cutover" check (`gaps_followed.sql`); the reason when not measurable.
async fn followed(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    timeline: &Timeline,
) -> Result<Result<Vec<Follow>, String>, AnalyzeError> {
    let Some(fault_at) = timeline.fault_at else {
        return Ok(Err(
            "no fault_injected marker: no \"before the fault\" to compare with".into()
        ));
    };
    let Some(cutover_at) = timeline.cutover_at else {
        return Ok(Err("no dns_cutover or traffic_shifted marker after the fault".into()));
    };
    let sql = queries::fill(
        FOLLOWED,
        &[
            ("primary", Param::Literal(spec.regions.primary.clone())),
            ("secondary", Param::Literal(spec.regions.secondary.clone())),
            ("fault_at", Param::Time(fault_at)),
            ("cutover_at", Param::Time(cutover_at)),
        ],
    )?;
    let Some(b) = one(analyzer.sql(&sql).await?)? else {
        return Ok(Ok(Vec::new()));
    };
    let mut out = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        let (_, service, signal, metric) = key_at(&b, row)?;
        let first = ts_at(&b, "secondary_first_at", row)?;
        let delay = first.map(|f| seconds(f - cutover_at));
        out.push(Follow {
            key: key_text(&[&service], signal, &metric),
            service,
            signal,
            metric,
            primary_last_at: ts_at(&b, "primary_last_at", row)?.map(Time::new).unwrap_or_default(),
            secondary_first_at: first.map(Time::new),
            delay_seconds: delay,
            status: follow_status(delay, spec.gaps.follow_delay_seconds),
        });
    }
    Ok(Ok(out))
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Gaps, AnalyzeError> {
    let mut out = Gaps {
        gap_factor: spec.gaps.gap_factor,
        follow_delay_seconds: spec.gaps.follow_delay_seconds,
        data_end: timeline.data_end.map(Time::new),
        cutover_at: timeline.cutover_at.map(Time::new),
        ..Default::default()
    };
    let streams = streams(analyzer, spec).await?;
    let Some(data_end) = timeline.data_end.filter(|_| !streams.is_empty()) else {
        out.reason = Some("no spans, metric points, log records or siem events in the log".into());
        return Ok(out);
    };
    let thresholds: BTreeMap<StreamId, f64> = streams
        .iter()
        .filter_map(|(s, t)| {
            let id = (s.region.clone(), s.service.clone(), s.signal, s.metric.clone());
            t.map(|t| (id, t))
        })
        .collect();
    out.streams = streams.into_iter().map(|(s, _)| s).collect();
    out.streams_checked = out.streams.iter().filter(|s| s.checked).count() as u64;
    out.gaps = gaps(analyzer, spec, timeline, data_end, &thresholds).await?;
    out.unexpected_gaps = out.gaps.iter().filter(|g| g.class == GapClass::Unexpected).count() as u64;
    match followed(analyzer, spec, timeline).await? {
        Ok(f) => out.followed = f,
        Err(reason) => out.followed_reason = Some(reason),
    }
    out.late_followed = out.followed.iter().filter(|f| f.status == FollowStatus::Late).count() as u64;
    out.never_followed = out.followed.iter().filter(|f| f.status == FollowStatus::Never).count() as u64;
    Ok(out)
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "—".into())
}

impl Gaps {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Gaps\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "{} of {} streams checked (gap = silence > {} × cadence); {} gap(s), {} unexpected.\n\n",
            self.streams_checked,
            self.streams.len(),
            self.gap_factor,
            self.gaps.len(),
            self.unexpected_gaps
        );
        out += "| stream | events | cadence s | inferred | checked |\n|---|---|---|---|---|\n";
        for s in &self.streams {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                s.key,
                s.events,
                opt(&s.cadence_seconds),
                if s.cadence_inferred { "yes" } else { "no" },
                if s.checked { "yes".to_string() } else { opt(&s.reason) }
            );
        }
        if !self.gaps.is_empty() {
            out += "\n| stream | start | end | seconds | class |\n|---|---|---|---|---|\n";
            for g in &self.gaps {
                let class = match g.class {
                    GapClass::Expected => "expected",
                    GapClass::Unexpected => "**unexpected**",
                };
                let end = g.end.as_deref().unwrap_or("never resumed");
                out += &format!("| {} | {} | {} | {} | {} |\n", g.stream, g.start, end, g.seconds, class);
            }
        }
        out += "\n### Followed the cutover?\n\n";
        if let Some(r) = &self.followed_reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "Allowed delay {} s after the cutover at {}: {} late, {} never.\n\n",
            self.follow_delay_seconds,
            opt(&self.cutover_at),
            self.late_followed,
            self.never_followed
        );
        out += "| stream | first in secondary | delay s | status |\n|---|---|---|---|\n";
        for f in &self.followed {
            let status = match f.status {
                FollowStatus::Followed => "followed",
                FollowStatus::Late => "**late**",
                FollowStatus::Never => "**never**",
            };
            out += &format!(
                "| {} | {} | {} | {} |\n",
                f.key,
                opt(&f.secondary_first_at),
                opt(&f.delay_seconds),
                status
            );
        }
        out
    }
}

/// Whether the section holds a failing verdict for `--fail-on gaps`: an unexpected gap, or a
/// stream that followed the cutover late or never.
pub fn fails(section: &Gaps) -> bool {
    section.unexpected_gaps > 0 || section.late_followed > 0 || section.never_followed > 0
}

impl crate::section::Section for Gaps {
    const NAME: &'static str = "gaps";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Gaps::markdown(self)
    }

    fn holds(&self, verdict: crate::report::FailOn) -> bool {
        use crate::report::FailOn;
        match verdict {
            FailOn::Gaps => fails(self),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silence_is_expected_only_in_the_primary_once_the_fault_is_near() {
        // Threshold 3 s, fault at 60 s: a primary stream last heard at 57 s had not yet been
        // silent for longer than its threshold when the fault came; at 56.9 s it had.
        let s = 1_000_000_000i64;
        assert_eq!(classify("e", "e", 57 * s, 3e9, Some(60 * s)), GapClass::Expected);
        assert_eq!(
            classify("e", "e", 56_900_000_000, 3e9, Some(60 * s)),
            GapClass::Unexpected
        );
        assert_eq!(classify("e", "e", 70 * s, 3e9, Some(60 * s)), GapClass::Expected);
        assert_eq!(classify("w", "e", 70 * s, 3e9, Some(60 * s)), GapClass::Unexpected);
        assert_eq!(classify("e", "e", 70 * s, 3e9, None), GapClass::Unexpected);
    }

    #[test]
    fn the_allowed_delay_is_inclusive() {
        assert_eq!(follow_status(Some(5.0), 5.0), FollowStatus::Followed);
        assert_eq!(follow_status(Some(5.001), 5.0), FollowStatus::Late);
        assert_eq!(follow_status(None, 5.0), FollowStatus::Never);
    }

    #[test]
    fn spec_defaults_and_validation() {
        let d: GapsSpec = serde_yaml::from_str("{}").unwrap();
        assert_eq!(d, GapsSpec::default());
        assert_eq!((d.gap_factor, d.follow_delay_seconds, d.min_events), (3.0, 60.0, 3));
        let s: GapsSpec = serde_yaml::from_str("cadence_seconds: { metrics: 15 }").unwrap();
        assert_eq!(s.cadence_ns(Signal::Metrics), 15_000_000_000);
        assert_eq!(s.cadence_ns(Signal::Logs), 0);
        assert!(serde_yaml::from_str::<GapsSpec>("cadence_seconds: { traces: 1 }").is_err());
        assert!(serde_yaml::from_str::<GapsSpec>("gap_size: 1").is_err());
        let s: GapsSpec = serde_yaml::from_str("min_gap_seconds: 1.5").unwrap();
        assert_eq!(s.min_gap_ns(), 1_500_000_000);
        for bad in [
            "gap_factor: 0.5",
            "cadence_seconds: { logs: 0 }",
            "follow_delay_seconds: -1",
            "min_events: 1",
            "min_gap_seconds: -1",
        ] {
            let s: GapsSpec = serde_yaml::from_str(bad).unwrap();
            assert!(s.validate().is_err(), "{bad} should be refused");
        }
    }
}
