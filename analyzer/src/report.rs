//! The drill report's data and verdicts: the registry of its sections (the `sections!` list
//! below; see [`crate::section`]), the `--fail-on` verdicts and the overall verdict. The JSON
//! layout is versioned and documented in `docs/report.md`; the Markdown is rendered in
//! `markdown.rs`, each section's part by the section itself.

use std::collections::BTreeMap;

use serde::Serialize;

/// Version of the JSON report layout; raised only for incompatible changes.
pub const REPORT_VERSION: u32 = 2;

/// Renders ns since the epoch as RFC 3339 UTC (`2026-11-26T10:00:00.123Z`).
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

crate::section::sections! {
    /// Recovery time.
    rto: crate::measures::rto::Rto,
    /// Recovery point.
    rpo: crate::measures::rpo::Rpo,
    /// Latency per region × service × phase.
    latency: crate::measures::latency::Latency,
    /// Telemetry gaps and streams that did not follow the cutover.
    gaps: crate::measures::gaps::Gaps,
    /// Alert audit.
    alerts: crate::measures::alerts::Alerts,
    /// Error budget and burn rates.
    budget: crate::measures::budget::Budget,
    /// Abort criteria.
    abort: crate::measures::abort::Abort,
    /// Trace continuity.
    traces: crate::measures::traces::Traces,
    /// Message reconciliation.
    messages: crate::measures::messages::Messages,
    /// Residual traffic and session drops.
    traffic: crate::measures::traffic::Traffic,
    /// Capacity of the secondary.
    capacity: crate::measures::capacity::Capacity,
    /// Sample sizes, stream coverage, pipeline health and the SLI series.
    validity: crate::measures::validity::Validity,
}

pub use crate::measures::rpo::{Rpo, SplitBrain, StoreRpo};
pub use crate::measures::rto::{Phase, Rto};

/// One drill marker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MarkerRow {
    /// Marker kind.
    pub marker: String,
    /// Event time.
    pub time: crate::time::Time,
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
            .any(|f| self.holds(*f));
        // Not missed and RTO and RPO both measured: both met.
        match (missed, self.holds(FailOn::Unmeasurable)) {
            (true, _) => Verdict::Missed,
            (false, false) => Verdict::Met,
            (false, true) => Verdict::NotMeasurable,
        }
    }

    /// Exit code when only the verdicts in `fail_on` fail the run: 1 if any of them holds in
    /// a section ([`crate::section::Section::holds`]).
    pub fn exit_code_for(&self, fail_on: &[FailOn]) -> i32 {
        i32::from(fail_on.iter().any(|f| self.holds(*f)))
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
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
