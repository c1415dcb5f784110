//! Trace continuity across the cutover.
//!
//! Definitions (the SQL files state them too):
//! - an **orphan** span has a `parent_span_id` but its trace has no span with that id;
//!   orphans are counted per phase of the drill ([`Timeline::phases`]) by start time;
//! - a **cross-region** trace has spans in more than one region;
//! - a trace is **broken across the cutover** when it has spans starting before `cutover_at`
//!   and spans starting at or after it, and its spans do not form one tree (an orphan, or more
//!   than one root);
//! - a **new edge** is a pair parent service → child service (different services, seen at the
//!   child's start) whose first call starts at or after `cutover_at`;
//! - **clock skew**: a child that starts before its parent, or ends after it (not checked for
//!   producer parents or consumer children, which may outlive their parent), by more than
//!   `skew_tolerance_ms`; counted per (parent region, child region), reported, never corrected.
//!
//! Spec (all keys optional):
//!
//! ```yaml
//! traces:
//!   skew_tolerance_ms: 1   # child/parent start or end disagreement that counts as skew
//!   list_limit: 20         # at most this many trace ids / spans per evidence list
//! ```

use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

use crate::rows::Rows;

const SUMMARY: &Query = &queries::TRACES_SUMMARY;
const CROSS_REGION: &Query = &queries::TRACES_CROSS_REGION;
const ORPHANS: &Query = &queries::TRACES_ORPHANS;
const BROKEN: &Query = &queries::TRACES_BROKEN;
const NEW_EDGES: &Query = &queries::TRACES_NEW_EDGES;
const SKEW: &Query = &queries::TRACES_SKEW;

/// The `traces` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracesSpec {
    /// A child starting before its parent (or ending after it) by more than this many
    /// milliseconds counts as clock skew. Default 1 ms; 0 reports every disagreement.
    pub skew_tolerance_ms: f64,
    /// At most this many entries in each evidence list (trace ids, orphan spans), 1 to
    /// 10000; the totals always count everything. Default 20.
    pub list_limit: usize,
}

impl Default for TracesSpec {
    fn default() -> Self {
        TracesSpec {
            skew_tolerance_ms: 1.0,
            list_limit: 20,
        }
    }
}

impl TracesSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.skew_tolerance_ms >= 0.0 && self.skew_tolerance_ms.is_finite()) {
            return Err("skew_tolerance_ms must be a non-negative number of milliseconds".into());
        }
        if !(1..=10_000).contains(&self.list_limit) {
            return Err("list_limit must be between 1 and 10000".into());
        }
        Ok(())
    }
}

/// The `traces` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Traces {
    /// Why the section is not measurable (no spans in the log).
    pub reason: Option<String>,
    /// Distinct trace ids.
    pub traces: u64,
    /// Spans (after replay deduplication).
    pub spans: u64,
    /// Traces with spans in more than one region.
    pub cross_region_traces: u64,
    /// The first of them by first span start (at most `list_limit`).
    pub cross_region: Vec<CrossRegionTrace>,
    /// Orphan spans in the whole log.
    pub orphan_spans: u64,
    /// Orphan spans per phase of the drill, by span start; empty without a fault.
    pub orphans_by_phase: Vec<PhaseOrphans>,
    /// The first orphan spans by start time (at most `list_limit`).
    pub orphans: Vec<OrphanSpan>,
    /// The cutover the broken traces and new edges are split at.
    pub cutover_at: Option<Time>,
    /// Why broken traces and new edges are not measurable (no cutover marker).
    pub cutover_reason: Option<String>,
    /// Traces broken across the cutover; null without a cutover.
    pub broken_traces: Option<u64>,
    /// The first of them by first span start (at most `list_limit`).
    pub broken: Vec<BrokenTrace>,
    /// Service-to-service edges first seen at or after the cutover.
    pub new_edges: Vec<ServiceEdge>,
    /// The spec's tolerance for clock skew, milliseconds.
    pub skew_tolerance_ms: f64,
    /// Clock skew per (parent region, child region); every pair of regions with a
    /// parent-child link is listed, skewed or not.
    pub skew: Vec<RegionSkew>,
}

/// A trace with spans in more than one region.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrossRegionTrace {
    /// Trace id (hex).
    pub trace_id: String,
    /// Its regions, sorted.
    pub regions: Vec<String>,
    /// Its spans.
    pub spans: u64,
    /// Start of its first span.
    pub first_start: Time,
}

/// Orphan spans in one phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseOrphans {
    /// `baseline`, `outage` or `recovered`.
    pub phase: String,
    /// Phase start (inclusive).
    pub start: Time,
    /// Phase end (exclusive).
    pub end: Time,
    /// Orphan spans starting in the phase.
    pub orphans: u64,
}

/// A span whose parent was never seen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrphanSpan {
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// The missing parent's id.
    pub parent_span_id: String,
    /// Service of the orphan.
    pub service: String,
    /// Region of the orphan.
    pub region: String,
    /// Start of the orphan.
    pub start: Time,
}

/// A trace broken across the cutover.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrokenTrace {
    /// Trace id.
    pub trace_id: String,
    /// Its regions, sorted.
    pub regions: Vec<String>,
    /// Its spans.
    pub spans: u64,
    /// Spans starting before the cutover.
    pub before_cutover: u64,
    /// Spans starting at or after the cutover.
    pub after_cutover: u64,
    /// Spans without a parent.
    pub roots: u64,
    /// Spans whose parent was never seen.
    pub orphans: u64,
    /// Start of its first span.
    pub first_start: Time,
}

/// A call path parent service → child service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceEdge {
    /// Service of the parent span.
    pub parent_service: String,
    /// Service of the child span.
    pub child_service: String,
    /// Start of the first child span on this edge.
    pub first_seen_at: Time,
    /// Parent-child pairs on this edge.
    pub calls: u64,
}

/// Clock skew between parents in one region and their children in another (or the same).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegionSkew {
    /// Region of the parent spans.
    pub parent_region: String,
    /// Region of the child spans.
    pub child_region: String,
    /// Parent-child pairs checked.
    pub pairs: u64,
    /// Pairs whose child started before its parent by more than the tolerance.
    pub starts_early: u64,
    /// Pairs whose child ended after its parent by more than the tolerance.
    pub ends_late: u64,
    /// Pairs skewed either way.
    pub skewed: u64,
    /// Largest skew, milliseconds; null when no pair is skewed.
    pub max_skew_ms: Option<f64>,
    /// Trace of the worst pair; null when no pair is skewed.
    pub worst_trace_id: Option<String>,
    /// Child span of the worst pair; null when no pair is skewed.
    pub worst_span_id: Option<String>,
}

fn regions(list: Option<String>) -> Vec<String> {
    list.map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Traces, AnalyzeError> {
    let s = &spec.traces;
    let mut out = Traces {
        skew_tolerance_ms: s.skew_tolerance_ms,
        ..Default::default()
    };
    let summary = Rows::query(analyzer, SUMMARY).await?;
    let count = |col: &str| -> Result<u64, AnalyzeError> { Ok(summary.u64s(col)?.first().copied().unwrap_or(0)) };
    out.traces = count("traces")?;
    out.spans = count("spans")?;
    out.cross_region_traces = count("cross_region_traces")?;
    out.orphan_spans = count("orphan_spans")?;
    if out.spans == 0 {
        out.reason = Some("no spans in the log".into());
        return Ok(out);
    }
    let limit = [("limit", Param::Int(s.list_limit as i64))];
    let cross = Rows::query(analyzer, &queries::fill(CROSS_REGION, &limit)?).await?;
    let (ids, regs, spans, starts) = (
        cross.strs("trace_id")?,
        cross.strs("regions")?,
        cross.u64s("spans")?,
        cross.i64s("first_start")?,
    );
    out.cross_region = (0..cross.len())
        .map(|i| CrossRegionTrace {
            trace_id: ids[i].clone().unwrap_or_default(),
            regions: regions(regs[i].clone()),
            spans: spans[i],
            first_start: starts[i].map(Time::new).unwrap_or_default(),
        })
        .collect();
    orphans(analyzer, s, timeline, &mut out).await?;
    out.skew = skew(analyzer, s).await?;
    match timeline.cutover_at {
        Some(cutover_at) => {
            out.cutover_at = Some(Time::new(cutover_at));
            broken(analyzer, s, cutover_at, &mut out).await?;
            out.new_edges = new_edges(analyzer, cutover_at).await?;
        }
        None => out.cutover_reason = Some("no dns_cutover or traffic_shifted marker after the fault".into()),
    }
    Ok(out)
}

/// Orphan spans: the evidence list and the count per phase.
async fn orphans(analyzer: &Analyzer, s: &TracesSpec, t: &Timeline, out: &mut Traces) -> Result<(), AnalyzeError> {
    // The summary counted them: no need to look for none.
    let rows = match out.orphan_spans {
        0 => Rows::empty(),
        _ => Rows::query(analyzer, ORPHANS).await?,
    };
    let starts = rows.i64s("start_time")?;
    out.orphans_by_phase = t
        .phases()
        .into_iter()
        .map(|p| PhaseOrphans {
            phase: p.name.to_string(),
            start: Time::new(p.start),
            end: Time::new(p.end),
            orphans: starts.iter().flatten().filter(|&&s| s >= p.start && s < p.end).count() as u64,
        })
        .collect();
    let (trace, span, parent, service, region) = (
        rows.strs("trace_id")?,
        rows.strs("span_id")?,
        rows.strs("parent_span_id")?,
        rows.strs("service")?,
        rows.strs("region")?,
    );
    out.orphans = (0..rows.len().min(s.list_limit))
        .map(|i| OrphanSpan {
            trace_id: trace[i].clone().unwrap_or_default(),
            span_id: span[i].clone().unwrap_or_default(),
            parent_span_id: parent[i].clone().unwrap_or_default(),
            service: service[i].clone().unwrap_or_default(),
            region: region[i].clone().unwrap_or_default(),
            start: starts[i].map(Time::new).unwrap_or_default(),
        })
        .collect();
    Ok(())
}

/// Traces broken across the cutover.
async fn broken(analyzer: &Analyzer, s: &TracesSpec, cutover_at: i64, out: &mut Traces) -> Result<(), AnalyzeError> {
    let sql = queries::fill(
        BROKEN,
        &[
            ("cutover_at", Param::Time(cutover_at)),
            ("limit", Param::Int(s.list_limit as i64)),
        ],
    )?;
    let rows = Rows::query(analyzer, &sql).await?;
    out.broken_traces = Some(rows.u64s("total")?.first().copied().unwrap_or(0));
    let (ids, regs, first) = (rows.strs("trace_id")?, rows.strs("regions")?, rows.i64s("first_start")?);
    let (spans, before, after) = (
        rows.u64s("spans")?,
        rows.u64s("before_cutover")?,
        rows.u64s("after_cutover")?,
    );
    let (roots, orphans) = (rows.u64s("roots")?, rows.u64s("orphans")?);
    out.broken = (0..rows.len())
        .map(|i| BrokenTrace {
            trace_id: ids[i].clone().unwrap_or_default(),
            regions: regions(regs[i].clone()),
            spans: spans[i],
            before_cutover: before[i],
            after_cutover: after[i],
            roots: roots[i],
            orphans: orphans[i],
            first_start: first[i].map(Time::new).unwrap_or_default(),
        })
        .collect();
    Ok(())
}

/// Edges first seen at or after the cutover.
async fn new_edges(analyzer: &Analyzer, cutover_at: i64) -> Result<Vec<ServiceEdge>, AnalyzeError> {
    let sql = queries::fill(NEW_EDGES, &[("cutover_at", Param::Time(cutover_at))])?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (parent, child, first, calls) = (
        rows.strs("parent_service")?,
        rows.strs("child_service")?,
        rows.i64s("first_seen_at")?,
        rows.u64s("calls")?,
    );
    Ok((0..rows.len())
        .map(|i| ServiceEdge {
            parent_service: parent[i].clone().unwrap_or_default(),
            child_service: child[i].clone().unwrap_or_default(),
            first_seen_at: first[i].map(Time::new).unwrap_or_default(),
            calls: calls[i],
        })
        .collect())
}

/// Clock skew per region pair.
async fn skew(analyzer: &Analyzer, s: &TracesSpec) -> Result<Vec<RegionSkew>, AnalyzeError> {
    let tolerance_ns = (s.skew_tolerance_ms * 1e6).round() as i64;
    let sql = queries::fill(SKEW, &[("tolerance_ns", Param::Int(tolerance_ns))])?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (parent, child) = (rows.strs("parent_region")?, rows.strs("child_region")?);
    let (pairs, early, late, skewed) = (
        rows.u64s("pairs")?,
        rows.u64s("starts_early")?,
        rows.u64s("ends_late")?,
        rows.u64s("skewed")?,
    );
    let (max, trace, span) = (
        rows.f64s("max_skew_ms")?,
        rows.strs("worst_trace_id")?,
        rows.strs("worst_span_id")?,
    );
    Ok((0..rows.len())
        .map(|i| {
            let any = skewed[i] > 0;
            RegionSkew {
                parent_region: parent[i].clone().unwrap_or_default(),
                child_region: child[i].clone().unwrap_or_default(),
                pairs: pairs[i],
                starts_early: early[i],
                ends_late: late[i],
                skewed: skewed[i],
                max_skew_ms: max[i].filter(|_| any).map(|v| (v * 1e3).round() / 1e3),
                worst_trace_id: trace[i].clone().filter(|_| any),
                worst_span_id: span[i].clone().filter(|_| any),
            }
        })
        .collect())
}

impl Traces {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Traces\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "{} traces, {} spans; {} trace(s) span more than one region; {} orphan span(s) (parent never seen).\n",
            self.traces, self.spans, self.cross_region_traces, self.orphan_spans
        );
        for t in &self.cross_region {
            out += &format!(
                "- cross-region trace `{}` ({}; {} spans, from {})\n",
                t.trace_id,
                t.regions.join(", "),
                t.spans,
                t.first_start
            );
        }
        if !self.orphans_by_phase.is_empty() {
            out += "\n| phase | from | to | orphan spans |\n|---|---|---|---|\n";
            for p in &self.orphans_by_phase {
                out += &format!("| {} | {} | {} | {} |\n", p.phase, p.start, p.end, p.orphans);
            }
        }
        for o in &self.orphans {
            out += &format!(
                "- orphan span `{}` of trace `{}` ({} in {}, {}): parent `{}` never seen\n",
                o.span_id, o.trace_id, o.service, o.region, o.start, o.parent_span_id
            );
        }
        out += &self.cutover_markdown();
        out += &self.skew_markdown();
        out
    }

    /// Broken traces and new call paths.
    fn cutover_markdown(&self) -> String {
        let mut out = String::new();
        match (&self.cutover_reason, self.broken_traces) {
            (Some(r), _) => out += &format!("\nBroken traces and new call paths not measurable: {r}.\n"),
            (None, Some(n)) => {
                out += &format!(
                    "\n{n} trace(s) broken across the cutover ({}): spans on both sides, not one tree.\n",
                    self.cutover_at.as_deref().unwrap_or("?")
                );
                for b in &self.broken {
                    out += &format!(
                        "- `{}` ({}): {} spans ({} before, {} after), {} root(s), {} orphan(s)\n",
                        b.trace_id,
                        b.regions.join(", "),
                        b.spans,
                        b.before_cutover,
                        b.after_cutover,
                        b.roots,
                        b.orphans
                    );
                }
                out += &format!(
                    "\n{} call path(s) first seen after the cutover.\n",
                    self.new_edges.len()
                );
                for e in &self.new_edges {
                    out += &format!(
                        "- {} → {}: first at {}, {} call(s)\n",
                        e.parent_service, e.child_service, e.first_seen_at, e.calls
                    );
                }
            }
            (None, None) => {}
        }
        out
    }

    /// The clock skew table.
    fn skew_markdown(&self) -> String {
        let mut out = String::new();
        if !self.skew.is_empty() {
            out += &format!(
                "\nClock skew (tolerance {} ms; reported, not corrected):\n\n| parent region | child region | pairs | child starts early | child ends late | max skew |\n|---|---|---|---|---|---|\n",
                self.skew_tolerance_ms
            );
            for k in &self.skew {
                out += &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    k.parent_region,
                    k.child_region,
                    k.pairs,
                    k.starts_early,
                    k.ends_late,
                    k.max_skew_ms.map(|m| format!("{m} ms")).unwrap_or_else(|| "—".into())
                );
            }
        }
        out
    }
}

impl crate::section::Section for Traces {
    const NAME: &'static str = "traces";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Traces::markdown(self)
    }
}
