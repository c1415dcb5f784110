//! The drill's timeline: the moments every measure splits its data at.
//!
//! Built once per analysis by [`crate::measures::build_timeline`] from the markers, the SLI
//! requests and the alerts, before any section, then handed to every section. Times are ns since the epoch.
//!
//! Phases used by the per-phase measures (latency, traces, …):
//! - `baseline`: from the first event (or `drill_started`) to `fault_at`;
//! - `outage`: from `fault_at` to `recovered_at` (to the end of data when never recovered);
//! - `recovered`: from `recovered_at` to the end of data (or `drill_ended`).

use serde::Serialize;

/// Moments of the drill; `None` when the log does not show them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// First event time in the log (any kind).
    pub data_start: Option<i64>,
    /// Last event time in the log (any kind).
    pub data_end: Option<i64>,
    /// `drill_started` marker.
    pub drill_started_at: Option<i64>,
    /// `drill_ended` marker.
    pub drill_ended_at: Option<i64>,
    /// The fault: the first `fault_injected` marker, or inferred (see `fault_inferred`).
    pub fault_at: Option<i64>,
    /// `true` when there was no `fault_injected` marker and `fault_at` is the start of the
    /// first sustained SLI breach.
    pub fault_inferred: bool,
    /// Detection (first firing SLI alert, else first bad request) after the fault.
    pub detected_at: Option<i64>,
    /// What `detected_at` is: `alert` or `sli_breach`.
    pub detected_by: Option<&'static str>,
    /// First `failover_declared` after the fault.
    pub declared_at: Option<i64>,
    /// First `dns_cutover` or `traffic_shifted` after the fault.
    pub cutover_at: Option<i64>,
    /// First good SLI request served by the secondary after the fault.
    pub first_good_secondary_at: Option<i64>,
    /// Recovery (the RTO definition).
    pub recovered_at: Option<i64>,
}

/// A named phase of the drill with its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseWindow {
    /// `baseline`, `outage` or `recovered`.
    pub name: &'static str,
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl Timeline {
    /// Start of the drill window: `drill_started`, else the first event.
    pub fn drill_start(&self) -> Option<i64> {
        self.drill_started_at.or(self.data_start)
    }

    /// End of the drill window: `drill_ended`, else the last event.
    pub fn drill_end(&self) -> Option<i64> {
        self.drill_ended_at.or(self.data_end)
    }

    /// The three phases that exist in this log (a phase with no time in it is left out).
    /// Empty without a fault.
    pub fn phases(&self) -> Vec<PhaseWindow> {
        let (Some(start), Some(end), Some(fault)) = (self.data_start, self.data_end, self.fault_at) else {
            return Vec::new();
        };
        let end = end + 1;
        let recovered = self.recovered_at.unwrap_or(end).clamp(fault, end);
        [
            PhaseWindow {
                name: "baseline",
                start,
                end: fault,
            },
            PhaseWindow {
                name: "outage",
                start: fault,
                end: recovered,
            },
            PhaseWindow {
                name: "recovered",
                start: recovered,
                end,
            },
        ]
        .into_iter()
        .filter(|p| p.end > p.start)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_split_at_fault_and_recovery() {
        let t = Timeline {
            data_start: Some(0),
            data_end: Some(99),
            fault_at: Some(10),
            recovered_at: Some(40),
            ..Default::default()
        };
        let p: Vec<_> = t.phases().into_iter().map(|p| (p.name, p.start, p.end)).collect();
        assert_eq!(p, vec![("baseline", 0, 10), ("outage", 10, 40), ("recovered", 40, 100)]);
        let never = Timeline {
            recovered_at: None,
            ..t.clone()
        };
        assert_eq!(never.phases().last().unwrap().name, "outage");
        assert!(Timeline::default().phases().is_empty());
    }
}
