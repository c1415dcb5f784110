//! Validity: how far the numbers of the report can be trusted.
//!
//! - **Pipeline** per region: events and the ingest lag (ingest time − event time). A region
//!   whose p99 lag exceeds `validity.max_ingest_lag_seconds` is flagged: its telemetry arrived
//!   late, so gaps and timings near the end of the data may be the pipeline's, not the
//!   system's. A negative smallest lag means event clocks ran ahead of the receiver.
//! - **Samples**: SLI requests per region and phase; a phase below `validity.min_samples` is
//!   flagged `enough: false`.
//! - **Coverage**: the fraction of the primary's streams (before the fault) that appeared in
//!   the secondary after the cutover, from the gaps section (null when that is not measurable).
//! - **SLI series**: requests, bad requests and success ratio per region per
//!   `validity.series_window_seconds` window (for the report's charts).
//!
//! ```yaml
//! validity: { max_ingest_lag_seconds: 30, min_samples: 20, series_window_seconds: 10 }
//! ```

use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::{f64_at, int_at, one, str_at, ts_at};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `validity_ingest_lag.sql`.
pub const INGEST_LAG: &Query = &queries::VALIDITY_INGEST_LAG;
/// `validity_ingest_losses.sql`.
pub const INGEST_LOSSES: &Query = &queries::VALIDITY_INGEST_LOSSES;
/// `validity_samples.sql`.
pub const SAMPLES: &Query = &queries::VALIDITY_SAMPLES;
/// `series_sli.sql`.
pub const SERIES_SLI: &Query = &queries::SERIES_SLI;

/// The `validity` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValiditySpec {
    /// A region whose p99 ingest lag is above this is flagged (default 30).
    #[serde(default = "default_lag")]
    pub max_ingest_lag_seconds: f64,
    /// A phase with fewer SLI requests than this is flagged (default 20).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Window of the SLI series (default 10).
    #[serde(default = "default_window")]
    pub series_window_seconds: f64,
}

fn default_lag() -> f64 {
    30.0
}
fn default_min_samples() -> u64 {
    20
}
fn default_window() -> f64 {
    10.0
}

impl Default for ValiditySpec {
    fn default() -> Self {
        ValiditySpec {
            max_ingest_lag_seconds: default_lag(),
            min_samples: default_min_samples(),
            series_window_seconds: default_window(),
        }
    }
}

impl ValiditySpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.max_ingest_lag_seconds >= 0.0 && self.max_ingest_lag_seconds.is_finite()) {
            return Err("max_ingest_lag_seconds must be a non-negative number".into());
        }
        if !(self.series_window_seconds >= 0.001 && self.series_window_seconds.is_finite()) {
            return Err("series_window_seconds must be at least 0.001".into());
        }
        Ok(())
    }
}

/// The `validity` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Validity {
    /// Pipeline health per region.
    pub pipeline: Vec<PipelineRegion>,
    /// SLI requests per region and phase.
    pub samples: Vec<Sample>,
    /// Fraction of the primary's streams that followed the cutover (from `gaps`); null when
    /// not measurable.
    pub coverage: Option<f64>,
    /// Why `coverage` is null.
    pub coverage_reason: Option<String>,
    /// Window of `sli_series`, seconds.
    pub series_window_seconds: f64,
    /// The SLI per region per window.
    pub sli_series: Vec<SliPoint>,
    /// The evidence this report was computed from: the log's record range and head hash (as
    /// `cutover verify` prints it), and for a salvaged log the ranges its source lost.
    pub log: crate::tables::LogRange,
    /// Data the ingest daemon recorded as lost before storing it (syslog datagrams over UDP),
    /// per receiver and listener; empty when it lost none.
    pub ingest_losses: Vec<IngestLoss>,
}

/// Datagrams one listener lost before they were stored.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestLoss {
    /// Receiver (`syslog_udp`).
    pub receiver: String,
    /// Listen address.
    pub listener: String,
    /// Datagrams lost: dropped by the kernel (receive buffer full) or refused by the log.
    pub dropped_datagrams: u64,
    /// First and last record of a loss, RFC 3339.
    pub first_at: Time,
    /// See `first_at`.
    pub last_at: Time,
}

/// Ingest health of one region.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PipelineRegion {
    /// Region.
    pub region: String,
    /// Events of every kind.
    pub events: u64,
    /// Median ingest lag, seconds.
    pub lag_p50_seconds: f64,
    /// p99 ingest lag (approximate), seconds.
    pub lag_p99_seconds: f64,
    /// Largest ingest lag, seconds.
    pub lag_max_seconds: f64,
    /// Smallest ingest lag, seconds (negative: event clocks ahead of the receiver).
    pub lag_min_seconds: f64,
    /// `true` when the p99 lag is above `validity.max_ingest_lag_seconds`.
    pub lagging: bool,
}

/// SLI requests of one region in one phase.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Region.
    pub region: String,
    /// `baseline`, `outage` or `recovered`.
    pub phase: String,
    /// Requests.
    pub requests: u64,
    /// Bad requests.
    pub bad: u64,
    /// `requests >= validity.min_samples`.
    pub enough: bool,
}

/// One window of the SLI series.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SliPoint {
    /// Region.
    pub region: String,
    /// Window start.
    pub window_start: Time,
    /// Window start, ns since the epoch (for charts).
    #[serde(skip)]
    pub window_start_ns: i64,
    /// Requests.
    pub requests: u64,
    /// Bad requests.
    pub bad: u64,
    /// Good ÷ all.
    pub success_ratio: f64,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Measures the section (coverage is filled in later from the gaps section).
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Validity, AnalyzeError> {
    let v = &spec.validity;
    let mut out = Validity {
        series_window_seconds: v.series_window_seconds,
        log: analyzer.stats.log.clone(),
        ..Default::default()
    };
    if let Some(b) = one(analyzer.sql(INGEST_LAG).await?)? {
        for row in 0..b.num_rows() {
            let p99 = round3(f64_at(&b, "lag_p99_s", row)?.unwrap_or(0.0));
            out.pipeline.push(PipelineRegion {
                region: str_at(&b, "region", row)?.unwrap_or_default(),
                events: int_at(&b, "events", row)?.unwrap_or(0) as u64,
                lag_p50_seconds: round3(f64_at(&b, "lag_p50_s", row)?.unwrap_or(0.0)),
                lag_p99_seconds: p99,
                lag_max_seconds: round3(f64_at(&b, "lag_max_s", row)?.unwrap_or(0.0)),
                lag_min_seconds: round3(f64_at(&b, "lag_min_s", row)?.unwrap_or(0.0)),
                lagging: p99 > v.max_ingest_lag_seconds,
            });
        }
    }
    if let Some(b) = one(analyzer.sql(INGEST_LOSSES).await?)? {
        for row in 0..b.num_rows() {
            out.ingest_losses.push(IngestLoss {
                receiver: str_at(&b, "receiver", row)?.unwrap_or_default(),
                listener: str_at(&b, "listener", row)?.unwrap_or_default(),
                dropped_datagrams: int_at(&b, "dropped_datagrams", row)?.unwrap_or(0).max(0) as u64,
                first_at: Time::new(ts_at(&b, "first_at", row)?.unwrap_or(0)),
                last_at: Time::new(ts_at(&b, "last_at", row)?.unwrap_or(0)),
            });
        }
    }
    if let Some(fault) = timeline.fault_at {
        let recovered = timeline.recovered_at.unwrap_or(i64::MAX / 2);
        let sql = queries::fill(
            SAMPLES,
            &[
                ("fault_at", Param::Time(fault)),
                ("recovered_at", Param::Time(recovered)),
            ],
        )?;
        if let Some(b) = one(analyzer.sql(&sql).await?)? {
            for row in 0..b.num_rows() {
                let requests = int_at(&b, "requests", row)?.unwrap_or(0) as u64;
                out.samples.push(Sample {
                    region: str_at(&b, "region", row)?.unwrap_or_default(),
                    phase: str_at(&b, "phase", row)?.unwrap_or_default(),
                    requests,
                    bad: int_at(&b, "bad", row)?.unwrap_or(0) as u64,
                    enough: requests >= v.min_samples,
                });
            }
        }
    }
    let sql = queries::fill(
        SERIES_SLI,
        &[(
            "window_ms",
            Param::Int((v.series_window_seconds * 1000.0).round() as i64),
        )],
    )?;
    if let Some(b) = one(analyzer.sql(&sql).await?)? {
        for row in 0..b.num_rows() {
            let start = ts_at(&b, "window_start", row)?.unwrap_or(0);
            out.sli_series.push(SliPoint {
                region: str_at(&b, "region", row)?.unwrap_or_default(),
                window_start: Time::new(start),
                window_start_ns: start,
                requests: int_at(&b, "requests", row)?.unwrap_or(0) as u64,
                bad: int_at(&b, "bad", row)?.unwrap_or(0) as u64,
                success_ratio: round3(f64_at(&b, "success_ratio", row)?.unwrap_or(0.0)),
            });
        }
    }
    Ok(out)
}

impl Validity {
    /// Coverage from the gaps section's follow check: followed (in time or late) ÷ streams
    /// the primary had before the fault.
    pub fn set_coverage(&mut self, gaps: &super::gaps::Gaps) {
        use super::gaps::FollowStatus;
        if let Some(r) = &gaps.followed_reason {
            self.coverage_reason = Some(r.clone());
        } else if gaps.followed.is_empty() {
            self.coverage_reason = Some("the primary had no streams before the fault".into());
        } else {
            let present = gaps.followed.iter().filter(|f| f.status != FollowStatus::Never).count();
            self.coverage = Some(round3(present as f64 / gaps.followed.len() as f64));
        }
    }

    /// The section in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Validity\n\n");
        let l = &self.log;
        out += &format!(
            "Evidence: records {}..{} of the log ({} segments, {} sealed), head `{}`.\n\n",
            l.first_seq,
            l.next_seq,
            l.segments,
            l.sealed_segments,
            l.head.as_deref().unwrap_or("none (version-1 log)")
        );
        if !l.salvage_lost.is_empty() {
            out += "This log was salvaged from a damaged one; these records of the source were lost:\n\n";
            out += "| source segment | bytes | seqs | acknowledged | reason |\n|---|---|---|---|---|\n";
            for r in &l.salvage_lost {
                out += &format!(
                    "| {} | {}..{} | {}..{} | {} | {} |\n",
                    r.segment,
                    r.from_offset,
                    r.to_offset,
                    r.from_seq,
                    r.to_seq.map_or_else(|| "end".to_string(), |s| s.to_string()),
                    if r.acknowledged { "yes" } else { "no" },
                    r.reason.replace('|', "/")
                );
            }
            out += "\n";
        }
        for loss in &self.ingest_losses {
            out += &format!(
                "**Lost before storing:** {} datagrams on {} ({}), between {} and {}: telemetry that never reached the log.\n\n",
                loss.dropped_datagrams, loss.listener, loss.receiver, loss.first_at, loss.last_at
            );
        }
        if !self.pipeline.is_empty() {
            out += "| region | events | ingest lag p50 | p99 | max | min | pipeline |\n|---|---|---|---|---|---|---|\n";
            for p in &self.pipeline {
                out += &format!(
                    "| {} | {} | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {} |\n",
                    p.region,
                    p.events,
                    p.lag_p50_seconds,
                    p.lag_p99_seconds,
                    p.lag_max_seconds,
                    p.lag_min_seconds,
                    if p.lagging { "**lagging**" } else { "ok" }
                );
            }
        }
        if !self.samples.is_empty() {
            out += "\n| region | phase | SLI requests | bad | enough samples |\n|---|---|---|---|---|\n";
            for s in &self.samples {
                out += &format!(
                    "| {} | {} | {} | {} | {} |\n",
                    s.region,
                    s.phase,
                    s.requests,
                    s.bad,
                    if s.enough { "yes" } else { "**no**" }
                );
            }
        }
        match (self.coverage, &self.coverage_reason) {
            (Some(c), _) => out += &format!("\nStream coverage after the cutover: {:.1} %.\n", c * 100.0),
            (None, Some(r)) => out += &format!("\nStream coverage not measurable: {r}.\n"),
            _ => {}
        }
        out
    }
}

impl crate::section::Section for Validity {
    const NAME: &'static str = "validity";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Validity::markdown(self)
    }
}
