//! Truth of the trace and message sections, from the generated messages and calls, by the
//! definitions in `analyzer/src/measures/traces.rs` and `messages.rs` (module docs).

use std::collections::BTreeMap;

use super::truth::{CallFact, MessageFact};
use crate::sim::Ns;

/// Message counts of one side of the cutover.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageCountsTruth {
    /// Messages published.
    pub published: u64,
    /// Published and never delivered.
    pub lost: u64,
    /// Deliveries beyond the first.
    pub duplicated: u64,
    /// Messages delivered more than once.
    pub duplicated_messages: u64,
    /// Deliveries.
    pub deliveries: u64,
}

/// Per destination: (before, after) the cutover by publish time; and the lost and duplicated
/// message ids.
pub fn messages(
    facts: &[MessageFact],
    cutover: Ns,
) -> (
    BTreeMap<&'static str, [MessageCountsTruth; 2]>,
    Vec<String>,
    Vec<String>,
) {
    let mut out: BTreeMap<&'static str, [MessageCountsTruth; 2]> = BTreeMap::new();
    let (mut lost, mut dup) = (Vec::new(), Vec::new());
    for m in facts {
        let side = &mut out.entry(m.destination).or_default()[usize::from(m.published_at >= cutover)];
        let n = m.consumed.len() as u64;
        side.published += 1;
        side.deliveries += n;
        side.lost += u64::from(n == 0);
        side.duplicated += n.saturating_sub(1);
        side.duplicated_messages += u64::from(n > 1);
        if n == 0 {
            lost.push(m.id.clone());
        }
        if n > 1 {
            dup.push(m.id.clone());
        }
    }
    lost.sort();
    dup.sort();
    (out, lost, dup)
}

/// Clock skew per (parent region, child region): calls whose child starts more than
/// `tolerance_ms` before its parent.
pub fn skew(calls: &[CallFact], tolerance_ms: f64) -> BTreeMap<(&'static str, &'static str), (u64, u64)> {
    let mut out: BTreeMap<(&'static str, &'static str), (u64, u64)> = BTreeMap::new();
    for c in calls {
        let e = out.entry((c.parent_region, c.child_region)).or_default();
        e.0 += 1;
        e.1 += u64::from((c.parent_start - c.child_start) as f64 / 1e6 > tolerance_ms);
    }
    out
}

/// Traces with spans in more than one region: inventory calls from the primary, and messages
/// consumed in another region than they were published in.
pub fn cross_region_traces(calls: &[CallFact], messages: &[MessageFact]) -> u64 {
    let calls = calls.iter().filter(|c| c.parent_region != c.child_region).count();
    let msgs = messages
        .iter()
        .filter(|m| m.consumed.iter().any(|(r, _)| *r != m.region))
        .count();
    (calls + msgs) as u64
}
