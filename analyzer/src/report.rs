//! The drill report: JSON (versioned, documented in `docs/report.md`) and Markdown.

use std::collections::BTreeMap;

use serde::Serialize;

/// Version of the JSON report layout; raised only for incompatible changes.
pub const REPORT_VERSION: u32 = 2;

/// Renders ns since the epoch as RFC 3339 UTC (`2026-11-26T10:00:00.123Z`).
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The spec's name.
    pub drill: String,
    /// Primary and secondary region.
    pub regions: BTreeMap<String, String>,
    /// Every drill marker in time order.
    pub markers: Vec<MarkerRow>,
    /// Recovery time.
    pub rto: Rto,
    /// Recovery point.
    pub rpo: Rpo,
    /// Latency per region × service × phase.
    pub latency: crate::measures::latency::Latency,
    /// Telemetry gaps and streams that did not follow the cutover.
    pub gaps: crate::measures::gaps::Gaps,
    /// Alert audit.
    pub alerts: crate::measures::alerts::Alerts,
    /// Error budget and burn rates.
    pub budget: crate::measures::budget::Budget,
    /// Abort criteria.
    pub abort: crate::measures::abort::Abort,
    /// Trace continuity.
    pub traces: crate::measures::traces::Traces,
    /// Message reconciliation.
    pub messages: crate::measures::messages::Messages,
    /// Residual traffic and session drops.
    pub traffic: crate::measures::traffic::Traffic,
    /// Capacity of the secondary.
    pub capacity: crate::measures::capacity::Capacity,
    /// Sample sizes, stream coverage, pipeline health and the SLI series.
    pub validity: crate::measures::validity::Validity,
    /// [`Report::overall_verdict`].
    pub verdict: Verdict,
    /// What the replay saw.
    pub replay: crate::tables::ReplayStats,
    /// The drill's moments in ns (for the HTML charts; the JSON has them as strings).
    #[serde(skip)]
    pub timeline: crate::timeline::Timeline,
}

/// One drill marker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MarkerRow {
    /// Marker kind.
    pub marker: String,
    /// Event time.
    pub time: String,
    /// Event time, ns (for charts).
    #[serde(skip)]
    pub time_ns: i64,
    /// Region that emitted it.
    pub region: String,
}

/// Verdicts that can fail `cutover analyze` (`--fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// The RTO target was missed.
    Rto,
    /// The RPO target was missed.
    Rpo,
    /// RTO or RPO could not be measured.
    Unmeasurable,
    /// Writes to a store were accepted in two regions over overlapping time.
    SplitBrain,
    /// A latency spike window was found.
    Latency,
    /// An SLO's `max_drill_budget_percent` was exceeded.
    Budget,
    /// An abort criterion held: the drill should have been aborted.
    Abort,
    /// An unexpected telemetry gap, or a stream that never followed the cutover.
    Gaps,
    /// An expected alert did not fire, or fired late.
    Alerts,
}

impl FailOn {
    /// The default of `--fail-on`: every target of the spec.
    pub const TARGETS: [FailOn; 7] = [
        FailOn::Rto,
        FailOn::Rpo,
        FailOn::Unmeasurable,
        FailOn::Budget,
        FailOn::Abort,
        FailOn::Alerts,
        FailOn::Gaps,
    ];

    /// Every verdict.
    pub const ALL: [FailOn; 9] = [
        FailOn::Rto,
        FailOn::Rpo,
        FailOn::Unmeasurable,
        FailOn::SplitBrain,
        FailOn::Latency,
        FailOn::Budget,
        FailOn::Abort,
        FailOn::Gaps,
        FailOn::Alerts,
    ];
}

/// Overall verdict.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every target met.
    Met,
    /// At least one target missed.
    Missed,
    /// Nothing missed, but at least one target could not be measured.
    NotMeasurable,
}

/// Recovery time objective section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rto {
    /// recovered_at − fault_at, seconds; null when not measurable.
    pub actual_seconds: Option<f64>,
    /// First `fault_injected` marker; without one, the inferred fault (`fault_inferred`).
    pub fault_at: Option<String>,
    /// `true` when the log had no `fault_injected` marker and `fault_at` is the start of the
    /// first sustained SLI breach (`recovery.breach_seconds`).
    pub fault_inferred: bool,
    /// Start of the first good request of a stable window after the fault.
    pub recovered_at: Option<String>,
    /// The spec's target.
    pub target_seconds: f64,
    /// Whether actual ≤ target; null when not measurable.
    pub met: Option<bool>,
    /// Why it is not measurable.
    pub reason: Option<String>,
    /// SLI requests seen (all regions).
    pub requests: u64,
    /// `alert` or `sli_breach`: what marked detection; null when nothing did.
    pub detected_by: Option<String>,
    /// The RTO split at detection, failover declared, cutover and first good request in the
    /// secondary; consecutive phases, each measurable on its own.
    pub phases: Vec<Phase>,
    /// What the SLI's requests are: `spans`, or `metrics` (counters, see `sli.metrics`).
    pub sli: String,
    /// With a metrics SLI: the median interval between its points, seconds. Times computed
    /// from it (recovery, the RTO, burn) are precise to about this much.
    pub resolution_seconds: Option<f64>,
    /// With a metrics SLI: how its requests were built (the `total` selector, scaling).
    pub sli_note: Option<String>,
    /// How the SLI's spans were sampled: `none` (every request has its span), `head` or
    /// `tail` (`sli.sampling.mode`).
    pub sampling: String,
    /// With head sampling: the requests the kept spans stand for (each span counts 1 / its
    /// sampling probability); null when nothing was sampled.
    pub estimated_requests: Option<f64>,
    /// What the sampling means for the measures.
    pub sampling_note: Option<String>,
}

/// One phase of the outage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Phase {
    /// `fault_to_detection`, `detection_to_declared`, `declared_to_cutover`,
    /// `cutover_to_first_good_secondary`, `first_good_secondary_to_recovered`.
    pub name: String,
    /// Start of the phase.
    pub started_at: Option<String>,
    /// End of the phase.
    pub ended_at: Option<String>,
    /// Length; null when an end is missing.
    pub seconds: Option<f64>,
    /// Why it is not measurable.
    pub reason: Option<String>,
}

/// Recovery point objective section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rpo {
    /// Largest per-store RPO, seconds; null when any store is not measurable or none promoted.
    pub actual_seconds: Option<f64>,
    /// Number of lost writes over all stores.
    pub lost_writes: Option<u64>,
    /// Lost sequence numbers per store.
    pub lost: BTreeMap<String, Vec<i64>>,
    /// The spec's target.
    pub target_seconds: f64,
    /// Whether actual ≤ target; null when not measurable.
    pub met: Option<bool>,
    /// Why it is not measurable.
    pub reason: Option<String>,
    /// Evidence per promoted store.
    pub stores: Vec<StoreRpo>,
    /// The RPO a replication-lag gauge predicted (last value at or before the fault), seconds;
    /// null without `replication.lag_metric` in the spec or without a point before the fault.
    pub estimate_seconds: Option<f64>,
    /// Why there is no estimate.
    pub estimate_reason: Option<String>,
    /// Stores written in two regions over overlapping time.
    pub split_brain: Vec<SplitBrain>,
}

/// Writes to one store accepted in two regions over overlapping time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitBrain {
    /// Store.
    pub store: String,
    /// The two regions.
    pub regions: [String; 2],
    /// Start of the overlap.
    pub overlap_start: String,
    /// End of the overlap.
    pub overlap_end: String,
    /// Writes each region accepted in the overlap, in `regions` order.
    pub writes: [u64; 2],
}

/// One store's promotion and what it lost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoreRpo {
    /// Store name (`cutover.write.store`).
    pub store: String,
    /// The promotion marker's time.
    pub promoted_at: String,
    /// The promoted replica's last applied sequence number.
    pub last_applied_seq: Option<i64>,
    /// Event time of that write in the primary region.
    pub newest_surviving_write_at: Option<String>,
    /// Event time of the newest lost write.
    pub newest_lost_write_at: Option<String>,
    /// Lost writes.
    pub lost_writes: u64,
    /// newest lost − newest surviving, seconds (0 when nothing lost).
    pub rpo_seconds: Option<f64>,
    /// Why `rpo_seconds` is null.
    pub reason: Option<String>,
}

impl Report {
    /// Exit code of `cutover analyze` with the default `--fail-on` ([`FailOn::TARGETS`]): 0
    /// all met, 1 otherwise (missed, or RTO/RPO not measurable).
    pub fn exit_code(&self) -> i32 {
        self.exit_code_for(&FailOn::TARGETS)
    }

    /// The overall verdict: `missed` when a target of [`FailOn::TARGETS`] is missed, `met`
    /// when RTO and RPO are met and nothing is missed, `not_measurable` otherwise.
    pub fn overall_verdict(&self) -> Verdict {
        let missed = FailOn::TARGETS
            .iter()
            .filter(|f| **f != FailOn::Unmeasurable)
            .any(|f| self.exit_code_for(&[*f]) == 1);
        match (missed, self.rto.met, self.rpo.met) {
            (true, _, _) => Verdict::Missed,
            (false, Some(true), Some(true)) => Verdict::Met,
            _ => Verdict::NotMeasurable,
        }
    }

    /// Exit code when only the verdicts in `fail_on` fail the run: 1 if any of them holds.
    pub fn exit_code_for(&self, fail_on: &[FailOn]) -> i32 {
        let holds = |f: &FailOn| match f {
            FailOn::Rto => self.rto.met == Some(false),
            FailOn::Rpo => self.rpo.met == Some(false),
            FailOn::Unmeasurable => self.rto.met.is_none() || self.rpo.met.is_none(),
            FailOn::SplitBrain => !self.rpo.split_brain.is_empty(),
            FailOn::Latency => !self.latency.spikes.is_empty(),
            FailOn::Budget => self.budget.slos.iter().any(|s| s.met == Some(false)),
            FailOn::Abort => self.abort.criteria.iter().any(|c| c.should_have_aborted),
            FailOn::Gaps => crate::measures::gaps::fails(&self.gaps),
            FailOn::Alerts => crate::measures::alerts::fails(&self.alerts),
        };
        i32::from(fail_on.iter().any(holds))
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Markdown text. `truth` adds a column of ground-truth values (the demo's simulator).
    pub fn to_markdown(&self, truth: Option<&Truth>) -> String {
        let secs = |v: Option<f64>| {
            v.map(|s| format!("{s:.3} s"))
                .unwrap_or_else(|| "not measurable".into())
        };
        let met = |m: Option<bool>| match m {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measurable",
        };
        let mut out = format!("# Drill report: {}\n\n", self.drill);
        out += &format!(
            "Primary region `{}`, secondary `{}`. Verdict: **{}**.\n\n",
            self.regions.get("primary").map(String::as_str).unwrap_or("?"),
            self.regions.get("secondary").map(String::as_str).unwrap_or("?"),
            match self.verdict {
                Verdict::Met => "all targets met",
                Verdict::Missed => "target missed",
                Verdict::NotMeasurable => "not measurable",
            }
        );
        let header = if truth.is_some() {
            "| measure | measured | truth | target | verdict |\n|---|---|---|---|---|\n"
        } else {
            "| measure | measured | target | verdict |\n|---|---|---|---|\n"
        };
        out += header;
        let row = |name: &str, measured: String, truth_v: Option<String>, target: f64, verdict: &str| match &truth_v {
            Some(t) => format!("| {name} | {measured} | {t} | {target} s | {verdict} |\n"),
            None => format!("| {name} | {measured} | {target} s | {verdict} |\n"),
        };
        out += &row(
            "RTO",
            secs(self.rto.actual_seconds),
            truth.map(|t| format!("{:.3} s", t.rto_seconds)),
            self.rto.target_seconds,
            met(self.rto.met),
        );
        out += &row(
            "RPO",
            secs(self.rpo.actual_seconds),
            truth.map(|t| format!("{:.3} s", t.rpo_seconds)),
            self.rpo.target_seconds,
            met(self.rpo.met),
        );
        let lost = self
            .rpo
            .lost_writes
            .map(|n| n.to_string())
            .unwrap_or_else(|| "not measurable".into());
        match truth {
            Some(t) => out += &format!("| lost writes | {lost} | {} | | |\n", t.lost_writes),
            None => out += &format!("| lost writes | {lost} | | |\n"),
        }
        out += "\n## Recovery time\n\n";
        out += &format!(
            "- fault {}: {}\n",
            if self.rto.fault_inferred {
                "inferred from the first sustained SLI breach (no fault_injected marker)"
            } else {
                "injected"
            },
            self.rto.fault_at.as_deref().unwrap_or("—")
        );
        out += &format!("- recovered: {}\n", self.rto.recovered_at.as_deref().unwrap_or("—"));
        out += &format!("- SLI requests: {}\n", self.rto.requests);
        if let Some(note) = &self.rto.sli_note {
            out += &format!("- SLI from metrics: {note}\n");
        }
        if let Some(note) = &self.rto.sampling_note {
            out += &format!("- sampled traces: {note}\n");
        }
        if let Some(r) = &self.rto.reason {
            out += &format!("- not measurable: {r}\n");
        }
        if !self.rto.phases.is_empty() {
            out += "\n| phase | from | to | duration |\n|---|---|---|---|\n";
            for p in &self.rto.phases {
                let d = match (p.seconds, &p.reason) {
                    (Some(s), _) => format!("{s:.3} s"),
                    (None, Some(r)) => format!("not measurable: {r}"),
                    (None, None) => "not measurable".into(),
                };
                out += &format!(
                    "| {} | {} | {} | {d} |\n",
                    p.name.replace('_', " "),
                    p.started_at.as_deref().unwrap_or("—"),
                    p.ended_at.as_deref().unwrap_or("—")
                );
            }
            if let Some(by) = &self.rto.detected_by {
                out += &format!(
                    "\nDetection by {}.\n",
                    if by == "alert" {
                        "an alert"
                    } else {
                        "the SLI (first bad request)"
                    }
                );
            }
        }
        out += "\n## Recovery point\n\n";
        if let Some(r) = &self.rpo.reason {
            out += &format!("Not measurable: {r}\n\n");
        }
        for s in &self.rpo.stores {
            out += &format!(
                "- store `{}`: promoted {} with last applied seq {}; newest surviving write {}; {} lost write(s){}; RPO {}\n",
                s.store,
                s.promoted_at,
                s.last_applied_seq.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                s.newest_surviving_write_at.as_deref().unwrap_or("—"),
                s.lost_writes,
                self.rpo
                    .lost
                    .get(&s.store)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!(" (seq {})", compact_ranges(v)))
                    .unwrap_or_default(),
                s.rpo_seconds
                    .map(|v| format!("{v:.3} s"))
                    .unwrap_or_else(|| format!("not measurable: {}", s.reason.as_deref().unwrap_or("?"))),
            );
        }
        match (self.rpo.estimate_seconds, &self.rpo.estimate_reason) {
            (Some(e), _) => {
                out += &format!(
                    "\nReplication-lag estimate at the fault: {e:.3} s (measured RPO: {}).\n",
                    secs(self.rpo.actual_seconds)
                )
            }
            (None, Some(r)) => out += &format!("\nNo replication-lag estimate: {r}.\n"),
            _ => {}
        }
        for sb in &self.rpo.split_brain {
            out += &format!(
                "\n**Split brain**: store `{}` took writes in {} ({}) and {} ({}) between {} and {}.\n",
                sb.store, sb.regions[0], sb.writes[0], sb.regions[1], sb.writes[1], sb.overlap_start, sb.overlap_end
            );
        }
        out += &self.latency.markdown();
        out += &self.gaps.markdown();
        out += &self.alerts.markdown();
        out += &self.budget.markdown();
        out += &self.abort.markdown();
        out += &self.traces.markdown();
        out += &self.messages.markdown();
        out += &self.traffic.markdown();
        out += &self.capacity.markdown();
        out += &self.validity.markdown();
        out += &format!(
            "\nReplayed {} records ({} duplicate spans dropped, {} undecodable).\n",
            self.replay.records, self.replay.duplicate_spans, self.replay.undecodable
        );
        out
    }
}

/// Ground truth printed beside measured values (the demo's simulator knows it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Truth {
    /// True RTO.
    pub rto_seconds: f64,
    /// True RPO.
    pub rpo_seconds: f64,
    /// True number of lost writes.
    pub lost_writes: u64,
}

/// `1-3, 7, 9-10` from a sorted list.
pub fn compact_ranges(v: &[i64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compact() {
        assert_eq!(compact_ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
        assert_eq!(compact_ranges(&[]), "");
    }

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        assert_eq!(rfc3339(1_700_000_000_123_000_000), "2023-11-14T22:13:20.123Z");
    }
}
