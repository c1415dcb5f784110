//! Trace continuity: golden rows of `queries/traces_*.sql` and the section's numbers on a
//! fixture where each one is counted by hand (see the comments in `fixture`).

use std::path::Path;

use crate::common::*;
use cutover_analyzer::measures::traces;
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Body, Event, EventKind, SpanBody};

/// parent region, child region, pairs, starts early, ends late, skewed, max skew.
type SkewRow<'a> = (&'a str, &'a str, u64, u64, u64, u64, Option<f64>);

const E: &str = "us-east-1";
const W: &str = "us-west-2";

/// A span of trace `[trace; 16]` with id `[id; 8]`, times in ms after T0.
fn sp(trace: u8, id: u8, parent: Option<u8>, service: &str, region: &str, kind: i32, ms: (i64, i64)) -> Event {
    let body = SpanBody {
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: "op".into(),
        kind,
        end_time_unix_nano: T0 + ms.1 * MS,
        ..Default::default()
    };
    let mut e = event(
        EventKind::Span,
        region,
        service,
        T0 + ms.0 * MS,
        vec![],
        Body::Span(body),
    );
    e.trace_id = vec![trace; 16];
    e.span_id = vec![id; 8];
    e
}

/// Fault at 10 s, cutover at 20 s, recovered at 30 s (the timeline is given by hand).
/// Orphans: 0x61 at 2 s (baseline), 0x32 at 22 s and 0x33 at 23 s (outage), 0x53 at 32 s
/// (recovered). Cross-region traces: 07 (first span 4.998 s), 04 (15 s), 03 (18 s), 02 (19 s).
/// Broken across the cutover: 04 (two roots), 03 (two orphans). New edges: frontend → payments
/// (30.995 s) and payments → ledger (31.01 s); frontend → cart is old (1.01 s).
/// Skew (tolerance 1 ms): east→west 0x73 starts 2 ms early, 0x72 ends 30 ms late; west→west
/// 0x52 starts 5 ms early; east→east none (the consumer 0x82 outliving its producer is async).
async fn fixture(dir: &Path) {
    let (srv, client, internal, producer, consumer) = (2, 3, 1, 4, 5);
    let events = vec![
        // 01: one region, clean, before the cutover.
        sp(1, 0x11, None, "frontend", E, srv, (1000, 1100)),
        sp(1, 0x12, Some(0x11), "cart", E, client, (1010, 1090)),
        // 02: both regions, across the cutover, one tree: not broken.
        sp(2, 0x21, None, "frontend", E, srv, (19_000, 21_000)),
        sp(2, 0x22, Some(0x21), "cart", W, client, (20_500, 20_900)),
        // 03: across the cutover with two orphans (parents 0x3f and 0x3e never seen).
        sp(3, 0x31, None, "frontend", E, srv, (18_000, 18_100)),
        sp(3, 0x32, Some(0x3f), "payments", W, client, (22_000, 22_050)),
        sp(3, 0x33, Some(0x3e), "payments", W, client, (23_000, 23_010)),
        // 04: across the cutover with two roots.
        sp(4, 0x41, None, "frontend", E, srv, (15_000, 15_100)),
        sp(4, 0x42, None, "frontend", W, srv, (25_000, 25_100)),
        // 05: after the cutover: new edges, a same-service child (no edge), skew, an orphan.
        sp(5, 0x51, None, "frontend", W, srv, (31_000, 31_200)),
        sp(5, 0x52, Some(0x51), "payments", W, internal, (30_995, 31_100)),
        sp(5, 0x54, Some(0x52), "ledger", W, client, (31_010, 31_050)),
        sp(5, 0x55, Some(0x51), "frontend", W, internal, (31_100, 31_150)),
        sp(5, 0x53, Some(0x5f), "checkout", W, srv, (32_000, 32_010)),
        // 06: a baseline orphan.
        sp(6, 0x61, Some(0x6f), "cart", E, srv, (2000, 2050)),
        // 07: parent in the east, children in the west: one ends 30 ms late, one starts 2 ms early.
        sp(7, 0x71, None, "frontend", E, srv, (5000, 5100)),
        sp(7, 0x72, Some(0x71), "inventory", W, client, (5010, 5130)),
        sp(7, 0x73, Some(0x71), "inventory", W, client, (4998, 5050)),
        // 08: a consumer ending long after its producer: asynchronous, not skew.
        sp(8, 0x81, None, "orders", E, producer, (3000, 3010)),
        sp(8, 0x82, Some(0x81), "billing", E, consumer, (3500, 3600)),
    ];
    write_log(dir, &events).await;
}

const SPEC: &str = "name: traces\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 5, rpo_seconds: 1 }\nsli: { services: [frontend] }\ntraces: { skew_tolerance_ms: 1, list_limit: 3 }\n";

fn timeline() -> Timeline {
    Timeline {
        data_start: Some(T0 + S),
        data_end: Some(T0 + 32 * S),
        fault_at: Some(T0 + 10 * S),
        cutover_at: Some(T0 + 20 * S),
        recovered_at: Some(T0 + 30 * S),
        ..Default::default()
    }
}

async fn open() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn trace_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    let params = [
        ("cutover_at", Param::Time(T0 + 20 * S)),
        ("limit", Param::Int(3)),
        ("tolerance_ns", Param::Int(MS)),
    ];
    let failures = check_all(&analyzer, "traces", &params).await;
    assert_eq!(cutover_analyzer::queries::of("traces").len(), 6);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn trace_continuity_counts_by_hand() {
    let (_dir, spec, analyzer) = open().await;
    let t = traces::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(t.reason, None);
    assert_eq!((t.traces, t.spans), (8, 20));
    assert_eq!(t.cross_region_traces, 4);
    let cross: Vec<&str> = t.cross_region.iter().map(|c| c.trace_id.as_str()).collect();
    assert_eq!(cross, vec!["07".repeat(16), "04".repeat(16), "03".repeat(16)]);
    assert_eq!(t.cross_region[0].regions, vec![E.to_string(), W.to_string()]);
    assert_eq!(
        (t.cross_region[0].spans, t.cross_region[0].first_start.as_str()),
        (3, "2026-11-26T12:00:04.998Z")
    );

    assert_eq!(t.orphan_spans, 4);
    let phases: Vec<(&str, u64)> = t
        .orphans_by_phase
        .iter()
        .map(|p| (p.phase.as_str(), p.orphans))
        .collect();
    assert_eq!(phases, vec![("baseline", 1), ("outage", 2), ("recovered", 1)]);
    assert_eq!(t.orphans_by_phase[1].start, "2026-11-26T12:00:10Z");
    assert_eq!(t.orphans_by_phase[1].end, "2026-11-26T12:00:30Z");
    let orphans: Vec<(&str, &str)> = t
        .orphans
        .iter()
        .map(|o| (o.span_id.as_str(), o.parent_span_id.as_str()))
        .collect();
    assert_eq!(
        orphans,
        vec![
            ("6161616161616161", "6f6f6f6f6f6f6f6f"),
            ("3232323232323232", "3f3f3f3f3f3f3f3f"),
            ("3333333333333333", "3e3e3e3e3e3e3e3e")
        ]
    );

    assert_eq!(t.cutover_at.as_deref(), Some("2026-11-26T12:00:20Z"));
    assert_eq!(t.broken_traces, Some(2));
    let broken: Vec<(String, u64, u64, u64, u64, u64)> = t
        .broken
        .iter()
        .map(|b| {
            (
                b.trace_id.clone(),
                b.spans,
                b.before_cutover,
                b.after_cutover,
                b.roots,
                b.orphans,
            )
        })
        .collect();
    assert_eq!(
        broken,
        vec![("04".repeat(16), 2, 1, 1, 2, 0), ("03".repeat(16), 3, 1, 2, 1, 2)]
    );

    let edges: Vec<(&str, &str, &str, u64)> = t
        .new_edges
        .iter()
        .map(|e| {
            (
                e.parent_service.as_str(),
                e.child_service.as_str(),
                e.first_seen_at.as_str(),
                e.calls,
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            ("frontend", "payments", "2026-11-26T12:00:30.995Z", 1),
            ("payments", "ledger", "2026-11-26T12:00:31.010Z", 1)
        ]
    );

    let skew: Vec<SkewRow> = t
        .skew
        .iter()
        .map(|k| {
            (
                k.parent_region.as_str(),
                k.child_region.as_str(),
                k.pairs,
                k.starts_early,
                k.ends_late,
                k.skewed,
                k.max_skew_ms,
            )
        })
        .collect();
    assert_eq!(
        skew,
        vec![
            (E, E, 2, 0, 0, 0, None),
            (E, W, 3, 1, 1, 2, Some(30.0)),
            (W, W, 3, 1, 0, 1, Some(5.0)),
        ]
    );
    assert_eq!(t.skew[1].worst_span_id.as_deref(), Some("7272727272727272"));
    assert_eq!(t.skew[2].worst_span_id.as_deref(), Some("5252525252525252"));
    assert_eq!(t.skew[0].worst_span_id, None);
    let md = t.markdown();
    assert!(md.contains("2 trace(s) broken across the cutover"), "{md}");
    assert!(md.contains("| us-east-1 | us-west-2 | 3 | 1 | 1 | 30 ms |"), "{md}");
}

#[tokio::test]
async fn tolerance_and_missing_cutover_change_what_is_reported() {
    let (_dir, mut spec, analyzer) = open().await;
    // At 3 ms tolerance the 2 ms early start no longer counts; 5 ms and 30 ms still do.
    spec.traces.skew_tolerance_ms = 3.0;
    let no_cutover = Timeline {
        cutover_at: None,
        ..timeline()
    };
    let t = traces::measure(&analyzer, &spec, &no_cutover).await.unwrap();
    assert_eq!(
        (t.skew[1].starts_early, t.skew[1].ends_late, t.skew[1].skewed),
        (0, 1, 1)
    );
    assert_eq!(t.broken_traces, None);
    assert!(t.new_edges.is_empty());
    assert!(t.cutover_reason.as_deref().unwrap().contains("dns_cutover"));
    // The orphan counts do not depend on the cutover.
    assert_eq!(t.orphan_spans, 4);
}

#[tokio::test]
async fn an_empty_log_is_not_measurable_and_the_spec_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &[marker("fault_injected", E, T0, vec![])]).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let t = traces::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(t.reason.as_deref(), Some("no spans in the log"));
    assert_eq!(t.spans, 0);
    let bad = SPEC.replace("skew_tolerance_ms: 1", "skew_tolerance_ms: -1");
    assert!(
        DrillSpec::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("traces: skew_tolerance_ms")
    );
    let bad = SPEC.replace("list_limit: 3", "list_limit: 0");
    assert!(DrillSpec::parse(&bad).unwrap_err().to_string().contains("list_limit"));
    let unknown = SPEC.replace("list_limit: 3", "list_limt: 3");
    assert!(
        DrillSpec::parse(&unknown)
            .unwrap_err()
            .to_string()
            .contains("list_limt")
    );
    let defaults = DrillSpec::parse(&SPEC.replace("traces: { skew_tolerance_ms: 1, list_limit: 3 }\n", "")).unwrap();
    assert_eq!(
        (defaults.traces.skew_tolerance_ms, defaults.traces.list_limit),
        (1.0, 20)
    );
}

#[tokio::test]
async fn a_clean_trace_has_no_orphans_in_any_phase() {
    let dir = tempfile::tempdir().unwrap();
    let events = [
        sp(1, 0x11, None, "frontend", E, 2, (2000, 2100)),
        sp(1, 0x12, Some(0x11), "cart", E, 3, (2010, 2090)),
    ];
    write_log(dir.path(), &events).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let t = traces::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!((t.traces, t.spans, t.orphan_spans, t.cross_region_traces), (1, 2, 0, 0));
    let phases: Vec<(&str, u64)> = t
        .orphans_by_phase
        .iter()
        .map(|p| (p.phase.as_str(), p.orphans))
        .collect();
    assert_eq!(phases, vec![("baseline", 0), ("outage", 0), ("recovered", 0)]);
    assert_eq!(t.broken_traces, Some(0));
    // frontend → cart is first seen at 2.01 s, before the cutover: not new.
    assert!(t.new_edges.is_empty());
}
