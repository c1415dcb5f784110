//! Ground truth of a scenario, computed from what the generator decided, in plain Rust.
//!
//! Definitions follow `docs/conventions.md` and each report section's module doc; none of this
//! reads the analyzer's SQL.

use std::collections::BTreeMap;

use crate::sim::{Moments, Ns, Request, Write};

/// One generated stream of a periodic signal (metric name or SIEM feed) in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFact {
    /// Region.
    pub region: &'static str,
    /// `service.name` (for SIEM: the feed's app name).
    pub service: &'static str,
    /// `metric` or `siem`.
    pub signal: &'static str,
    /// Metric name (for SIEM: the sender's hostname).
    pub name: String,
    /// The cadence it was generated with, ns.
    pub cadence: Ns,
    /// Event times of every point, ascending.
    pub times: Vec<Ns>,
    /// Values (metrics; 0 for SIEM), one per time.
    pub values: Vec<f64>,
}

/// One generated alert (firing, and resolved when `ends_at` is set).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFact {
    /// `alertname`.
    pub name: String,
    /// Region of the Alertmanager that sent it.
    pub region: &'static str,
    /// Service label.
    pub service: &'static str,
    /// `startsAt`.
    pub starts_at: Ns,
    /// When cutover received the firing notification.
    pub received_at: Ns,
    /// `endsAt` of the resolved notification, if any.
    pub ends_at: Option<Ns>,
}

/// One message published to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFact {
    /// `messaging.message.id`.
    pub id: String,
    /// `messaging.destination.name`.
    pub destination: &'static str,
    /// Region of the publisher.
    pub region: &'static str,
    /// Publish time.
    pub published_at: Ns,
    /// Consumption times (region, time): empty = lost, two or more = duplicated.
    pub consumed: Vec<(&'static str, Ns)>,
}

/// A window in which one region served slow requests on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeFact {
    /// Region.
    pub region: &'static str,
    /// Service.
    pub service: &'static str,
    /// Start (inclusive), ns.
    pub start: Ns,
    /// End (exclusive), ns.
    pub end: Ns,
    /// Added to every request starting in the window, ms.
    pub extra_ms: i64,
}

/// A parent/child pair whose child ran on a host with a skewed clock.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFact {
    /// Trace id (lowercase hex).
    pub trace_id: String,
    /// Parent region.
    pub parent_region: &'static str,
    /// Child region.
    pub child_region: &'static str,
    /// Parent start.
    pub parent_start: Ns,
    /// Child start as recorded (with the skew).
    pub child_start: Ns,
}

/// What the split-brain measure must report for a store.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitBrainTruth {
    /// Store.
    pub store: String,
    /// Overlap start: the later of the two regions' first writes.
    pub overlap_start: Ns,
    /// Overlap end: the earlier of the two regions' last writes.
    pub overlap_end: Ns,
    /// Writes in the overlap, [primary, secondary].
    pub writes: [u64; 2],
}

/// What the generator made, for the truths whose definition lives in a section.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// SLI requests in time order.
    pub requests: Vec<Request>,
    /// Writes in time order.
    pub writes: Vec<Write>,
    /// Periodic streams (metrics, SIEM feeds).
    pub streams: Vec<StreamFact>,
    /// Alerts.
    pub alerts: Vec<AlertFact>,
    /// Messages.
    pub messages: Vec<MessageFact>,
    /// Slow windows.
    pub spikes: Vec<SpikeFact>,
    /// Cross-region calls.
    pub calls: Vec<CallFact>,
}

/// The answer a correct analysis gives for a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioTruth {
    /// The generator's moments (fault, declared, promoted, dns, shifted, end, TTL, warm-up).
    pub moments: Moments,
    /// `fault_injected`, or the inferred fault when the scenario has no such marker.
    pub fault_at: Ns,
    /// Detection: the first firing SLI alert's `startsAt` at or after the fault, else the
    /// first bad request at or after it.
    pub detected_at: Option<Ns>,
    /// `alert` or `sli_breach`.
    pub detected_by: Option<&'static str>,
    /// First `failover_declared` at or after the fault.
    pub declared_at: Option<Ns>,
    /// First `dns_cutover` or `traffic_shifted` at or after the fault.
    pub cutover_at: Option<Ns>,
    /// First good request served by the secondary after the fault.
    pub first_good_secondary_at: Option<Ns>,
    /// Recovery by the spec's definition over the generated requests.
    pub recovered_at: Option<Ns>,
    /// `recovered_at − fault_at`, seconds.
    pub rto_seconds: Option<f64>,
    /// Store → sequence numbers the promoted replica never had.
    pub lost_writes: BTreeMap<String, Vec<i64>>,
    /// Newest lost write − newest surviving write, seconds (0 when nothing was lost).
    pub rpo_seconds: f64,
    /// Stores that took writes in both regions over overlapping time.
    pub split_brain: Vec<SplitBrainTruth>,
    /// `failover_completed`.
    pub completed_at: Ns,
    /// SLI requests served by the primary at or after `dns_cutover`.
    pub residual_requests: usize,
    /// What was generated, for section truths.
    pub generated: Generated,
}

/// Nanoseconds to seconds.
pub fn secs(ns: Ns) -> f64 {
    ns as f64 / 1e9
}

/// Detection truth: the first firing alert of an SLI service with `startsAt` at or after
/// the fault, else the first bad request at or after the fault.
pub fn detection(g: &Generated, sli_services: &[&str], fault: Ns) -> (Option<Ns>, Option<&'static str>) {
    let alert = g
        .alerts
        .iter()
        .filter(|a| sli_services.contains(&a.service) && a.starts_at >= fault)
        .map(|a| a.starts_at)
        .min();
    if let Some(a) = alert {
        return (Some(a), Some("alert"));
    }
    let breach = g
        .requests
        .iter()
        .filter(|r| r.bad() && r.start >= fault)
        .map(|r| r.start)
        .min();
    (breach, breach.map(|_| "sli_breach"))
}

/// Lost writes per store and the RPO, from the replica's real state at the promotion.
pub fn lost_writes(
    writes: &[Write],
    store: &str,
    last_applied: i64,
    promoted: Ns,
) -> (BTreeMap<String, Vec<i64>>, f64) {
    let lost: Vec<&Write> = writes
        .iter()
        .filter(|w| w.primary && w.seq > last_applied && w.time <= promoted)
        .collect();
    let surviving = writes
        .iter()
        .find(|w| w.primary && w.seq == last_applied)
        .map(|w| w.time);
    let rpo = match (lost.iter().map(|w| w.time).max(), surviving) {
        (Some(l), Some(s)) => secs(l - s).max(0.0),
        _ => 0.0,
    };
    let mut seqs: Vec<i64> = lost.iter().map(|w| w.seq).collect();
    seqs.sort_unstable();
    (BTreeMap::from([(store.to_string(), seqs)]), rpo)
}

/// Split brain: both regions' write spans [first, last] overlap.
pub fn split_brain(writes: &[Write], store: &str) -> Vec<SplitBrainTruth> {
    let span = |primary: bool| {
        let t: Vec<Ns> = writes.iter().filter(|w| w.primary == primary).map(|w| w.time).collect();
        Some((*t.iter().min()?, *t.iter().max()?))
    };
    let (Some(p), Some(s)) = (span(true), span(false)) else {
        return Vec::new();
    };
    let (start, end) = (p.0.max(s.0), p.1.min(s.1));
    if start > end {
        return Vec::new();
    }
    let count = |primary: bool| {
        writes
            .iter()
            .filter(|w| w.primary == primary && w.time >= start && w.time <= end)
            .count() as u64
    };
    vec![SplitBrainTruth {
        store: store.to_string(),
        overlap_start: start,
        overlap_end: end,
        writes: [count(true), count(false)],
    }]
}

/// SLI requests and bad ones per (region, phase): baseline before the fault, outage until
/// recovery, recovered after (the timeline's phases).
pub fn samples(
    requests: &[Request],
    fault: Ns,
    recovered: Option<Ns>,
) -> BTreeMap<(&'static str, &'static str), (u64, u64)> {
    let mut out = BTreeMap::new();
    for r in requests {
        let phase = if r.start < fault {
            "baseline"
        } else if recovered.is_none_or(|rec| r.start < rec) {
            "outage"
        } else {
            "recovered"
        };
        let e = out.entry((super::events::region(r.primary), phase)).or_insert((0, 0));
        e.0 += 1;
        e.1 += u64::from(r.bad());
    }
    out
}

/// The fault inferred without a `fault_injected` marker: the start of the earliest bad request
/// such that fewer than `ratio` of the requests starting in `[its start, its start + window]`
/// are good, the window ending no later than the last request.
pub fn inferred_fault(requests: &[Request], window: Ns, ratio: f64) -> Option<Ns> {
    let last = requests.iter().map(|r| r.start).max()?;
    requests
        .iter()
        .filter(|r| r.bad() && r.start + window <= last)
        .map(|r| r.start)
        .find(|&start| {
            let (n, good) = requests
                .iter()
                .filter(|q| q.start >= start && q.start <= start + window)
                .fold((0usize, 0usize), |(n, g), q| (n + 1, g + usize::from(!q.bad())));
            (good as f64) < ratio * n as f64
        })
}
