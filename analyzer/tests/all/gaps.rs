//! Telemetry gaps and "followed the cutover": golden rows of `queries/gaps_*.sql` and the
//! section's numbers on a fixture where every row can be checked by hand.
//!
//! Fixture (seconds after T0; E = us-east-1 the primary, W = us-west-2 the secondary):
//! fault 60, dns_cutover 70, drill_ended 120 (the data end). Spec: metrics cadence 10 s,
//! gap_factor 3, min_events 3, follow_delay 5 s.
//!
//! | stream | event times | cadence → threshold | gaps |
//! |---|---|---|---|
//! | E/api/logs | 0 5 10 15 40 | inferred 5 → 15 | 15→40 (25, unexpected); 40→open (80, unexpected: 40+15 < 60) |
//! | E/api/metrics | cpu, mem, disk below | spec 10 → 30 | 50→open (70, expected: 50+30 ≥ 60) |
//! | E/api/metrics/cpu | 0 10 … 50 (+ stale marker at 100, ignored) | 10 → 30 | 50→open (70, expected) |
//! | E/api/metrics/disk | 0 10 50 50 (a duplicate last time: one open gap) | 10 → 30 | 10→50 (40, unexpected); 50→open (70, expected) |
//! | E/api/metrics/mem | 0 10 20 30 30 40 50 (a duplicate) | 10 → 30 | 50→open (70, expected) |
//! | E/batch/spans | 5 | — | not checked (1 time) |
//! | E/db/metrics(/boot_time) | 5 35 | — | not checked (2 times) |
//! | E/fw/siem | 0 10 30 60 | median(10,20,30) = 20 → 60 | none: 60→120 is exactly 60 |
//! | E/web/spans | 0 1 … 59 | 1 → 3 | 59→open (61, expected: 59+3 ≥ 60) |
//! | W/api/logs | 65, 73 74 … 120 | 1 → 3 | 65→73 (8, unexpected) |
//! | W/api/metrics(/cpu, /mem) | cpu 72 82 … 112, mem 80 90 … 120 | 10 → 30 | none |
//! | W/fw/siem | 71 73 77 83 93 | median(2,4,6,10) = 5 → 15 | 93→open (27, unexpected) |
//! | W/web/spans | 75 76 77 78, 90 91 … 120 | 1 → 3 | 78→90 (12, unexpected) |
//!
//! Followed (first W event at or after 70): api/logs 73 (3 s; the W event at 65 is before
//! the cutover), api/metrics 72, cpu 72, mem 80 (10 s: late), fw/siem 71, web/spans 75 (5 s:
//! exactly the allowed delay); disk, batch/spans, db/metrics, db/metrics/boot_time never.

use crate::common::*;
use cutover_analyzer::measures::gaps::{self, FollowStatus, GapClass, Signal};
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Body, Event, EventKind, LogBody, MetricBody, SiemBody, SpanBody};

const E: &str = "us-east-1";
const W: &str = "us-west-2";

fn metric(region: &str, service: &str, name: &str, t: i64, stale: bool) -> Event {
    let body = MetricBody {
        name: name.into(),
        metric_type: "gauge".into(),
        value: 1.0,
        is_stale: stale,
        ..Default::default()
    };
    event(
        EventKind::MetricPoint,
        region,
        service,
        T0 + t * S,
        vec![],
        Body::Metric(body),
    )
}

fn log(region: &str, service: &str, t: i64) -> Event {
    event(
        EventKind::Log,
        region,
        service,
        T0 + t * S,
        vec![],
        Body::Log(LogBody::default()),
    )
}

fn siem(region: &str, service: &str, t: i64) -> Event {
    let body = SiemBody {
        format: "rfc5424".into(),
        ..Default::default()
    };
    event(EventKind::Siem, region, service, T0 + t * S, vec![], Body::Siem(body))
}

/// A good server span with a unique id `n`.
fn span_at(n: u32, region: &str, service: &str, t: i64) -> Event {
    let body = SpanBody {
        name: "GET /".into(),
        kind: 2,
        end_time_unix_nano: T0 + t * S + 10 * MS,
        ..Default::default()
    };
    let mut e = event(EventKind::Span, region, service, T0 + t * S, vec![], Body::Span(body));
    e.trace_id = [n.to_be_bytes(); 4].concat();
    e.span_id = [n.to_be_bytes(); 2].concat();
    e
}

fn fixture() -> Vec<Event> {
    let mut ev = vec![
        marker("fault_injected", E, T0 + 60 * S, vec![]),
        marker("dns_cutover", W, T0 + 70 * S, vec![]),
        marker("drill_ended", W, T0 + 120 * S, vec![]),
    ];
    for t in (0..=50).step_by(10) {
        ev.push(metric(E, "api", "cpu", t, false));
        ev.push(metric(E, "api", "mem", t, false));
    }
    ev.push(metric(E, "api", "mem", 30, false));
    ev.push(metric(E, "api", "cpu", 100, true));
    for t in [0, 10, 50, 50] {
        ev.push(metric(E, "api", "disk", t, false));
    }
    for t in [5, 35] {
        ev.push(metric(E, "db", "boot_time", t, false));
    }
    for t in (72..=112).step_by(10) {
        ev.push(metric(W, "api", "cpu", t, false));
    }
    for t in (80..=120).step_by(10) {
        ev.push(metric(W, "api", "mem", t, false));
    }
    for t in [0, 5, 10, 15, 40] {
        ev.push(log(E, "api", t));
    }
    ev.push(log(W, "api", 65));
    ev.extend((73..=120).map(|t| log(W, "api", t)));
    let mut n = 0u32;
    let mut spans = |region: &str, service: &str, times: Vec<i64>| {
        times
            .into_iter()
            .map(|t| {
                n += 1;
                span_at(n, region, service, t)
            })
            .collect::<Vec<_>>()
    };
    ev.extend(spans(E, "web", (0..=59).collect()));
    ev.extend(spans(E, "batch", vec![5]));
    ev.extend(spans(W, "web", [75, 76, 77, 78].into_iter().chain(90..=120).collect()));
    for t in [0, 10, 30, 60] {
        ev.push(siem(E, "fw", t));
    }
    for t in [71, 73, 77, 83, 93] {
        ev.push(siem(W, "fw", t));
    }
    ev
}

const SPEC: &str = "name: gaps\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 60, rpo_seconds: 1 }\nsli: { services: [web] }\ngaps: { cadence_seconds: { metrics: 10 }, follow_delay_seconds: 5, min_gap_seconds: 0 }\n";

async fn open() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &fixture()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

fn timeline() -> Timeline {
    Timeline {
        data_start: Some(T0),
        data_end: Some(T0 + 120 * S),
        fault_at: Some(T0 + 60 * S),
        cutover_at: Some(T0 + 70 * S),
        ..Default::default()
    }
}

/// RFC 3339 of T0 + `s` seconds.
fn at(s: i64) -> cutover_analyzer::time::Time {
    cutover_analyzer::time::Time::new(T0 + s * S)
}

#[tokio::test]
async fn gap_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    let params = [
        ("min_events", Param::Int(3)),
        ("gap_factor", Param::Number(3.0)),
        ("min_gap_ns", Param::Int(0)),
        ("data_end", Param::Time(T0 + 120 * S)),
        ("spans_cadence_ns", Param::Int(0)),
        ("metrics_cadence_ns", Param::Int(10 * S)),
        ("logs_cadence_ns", Param::Int(0)),
        ("siem_cadence_ns", Param::Int(0)),
        ("primary", Param::Literal(E.into())),
        ("secondary", Param::Literal(W.into())),
        ("fault_at", Param::Time(T0 + 60 * S)),
        ("cutover_at", Param::Time(T0 + 70 * S)),
    ];
    let failures = check_all(&analyzer, "gaps", &params).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// key, events, distinct times, cadence seconds, inferred, checked.
type StreamRow<'a> = (&'a str, u64, u64, Option<f64>, bool, bool);

#[tokio::test]
async fn streams_carry_their_cadence_and_counts() {
    let (_dir, spec, analyzer) = open().await;
    let g = gaps::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(g.reason, None);
    let rows: Vec<StreamRow> = g
        .streams
        .iter()
        .map(|s| {
            (
                s.key.as_str(),
                s.events,
                s.times,
                s.cadence_seconds,
                s.cadence_inferred,
                s.checked,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("us-east-1/api/logs", 5, 5, Some(5.0), true, true),
            ("us-east-1/api/metrics", 17, 6, Some(10.0), false, true),
            ("us-east-1/api/metrics/cpu", 6, 6, Some(10.0), false, true),
            ("us-east-1/api/metrics/disk", 4, 3, Some(10.0), false, true),
            ("us-east-1/api/metrics/mem", 7, 6, Some(10.0), false, true),
            ("us-east-1/batch/spans", 1, 1, None, false, false),
            ("us-east-1/db/metrics", 2, 2, Some(10.0), false, false),
            ("us-east-1/db/metrics/boot_time", 2, 2, Some(10.0), false, false),
            ("us-east-1/fw/siem", 4, 4, Some(20.0), true, true),
            ("us-east-1/web/spans", 60, 60, Some(1.0), true, true),
            ("us-west-2/api/logs", 49, 49, Some(1.0), true, true),
            ("us-west-2/api/metrics", 10, 10, Some(10.0), false, true),
            ("us-west-2/api/metrics/cpu", 5, 5, Some(10.0), false, true),
            ("us-west-2/api/metrics/mem", 5, 5, Some(10.0), false, true),
            ("us-west-2/fw/siem", 5, 5, Some(5.0), true, true),
            ("us-west-2/web/spans", 35, 35, Some(1.0), true, true),
        ]
    );
    assert_eq!(g.streams_checked, 13);
    let fw = &g.streams[14];
    assert_eq!((fw.signal, fw.threshold_seconds), (Some(Signal::Siem), Some(15.0)));
    assert_eq!(
        g.streams[5].reason.as_deref(),
        Some("1 distinct event time(s), fewer than min_events 3")
    );
    assert_eq!(g.streams[4].metric.as_deref(), Some("mem"));
    assert_eq!(
        (g.streams[4].first_at.clone(), g.streams[4].last_at.clone()),
        (at(0), at(50))
    );
}

#[tokio::test]
async fn gaps_are_exact_and_classified() {
    let (_dir, spec, analyzer) = open().await;
    let g = gaps::measure(&analyzer, &spec, &timeline()).await.unwrap();
    let got: Vec<(
        &str,
        cutover_analyzer::time::Time,
        Option<cutover_analyzer::time::Time>,
        f64,
        GapClass,
    )> = g
        .gaps
        .iter()
        .map(|x| (x.stream.as_str(), x.start.clone(), x.end.clone(), x.seconds, x.class))
        .collect();
    use GapClass::{Expected as X, Unexpected as U};
    let want = vec![
        ("us-east-1/api/logs", at(15), Some(at(40)), 25.0, U),
        ("us-east-1/api/logs", at(40), None, 80.0, U),
        ("us-east-1/api/metrics", at(50), None, 70.0, X),
        ("us-east-1/api/metrics/cpu", at(50), None, 70.0, X),
        ("us-east-1/api/metrics/disk", at(10), Some(at(50)), 40.0, U),
        ("us-east-1/api/metrics/disk", at(50), None, 70.0, X),
        ("us-east-1/api/metrics/mem", at(50), None, 70.0, X),
        ("us-east-1/web/spans", at(59), None, 61.0, X),
        ("us-west-2/api/logs", at(65), Some(at(73)), 8.0, U),
        ("us-west-2/fw/siem", at(93), None, 27.0, U),
        ("us-west-2/web/spans", at(78), Some(at(90)), 12.0, U),
    ];
    assert_eq!(got, want);
    assert_eq!(g.unexpected_gaps, 6);
    assert!(g.gaps.iter().all(|x| x.open == x.end.is_none()));
    assert_eq!(g.data_end, Some(at(120)));
    // Without a fault no gap is the drill's intent.
    let no_fault = Timeline {
        fault_at: None,
        ..timeline()
    };
    let g = gaps::measure(&analyzer, &spec, &no_fault).await.unwrap();
    assert_eq!(g.unexpected_gaps, 11);
    assert!(g.followed_reason.as_deref().unwrap().contains("fault_injected"));
}

#[tokio::test]
async fn a_threshold_floor_drops_short_silences() {
    // min_gap_seconds 10: us-west-2/api/logs (threshold 3 → 10) loses its 8 s gap; every
    // other gap is longer than 10 s and stays.
    let (_dir, mut spec, analyzer) = open().await;
    spec.gaps.min_gap_seconds = 10.0;
    let g = gaps::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(g.gaps.len(), 10);
    assert!(g.gaps.iter().all(|x| x.stream != "us-west-2/api/logs"));
    assert_eq!(g.streams[10].threshold_seconds, Some(10.0));
    assert_eq!(g.streams[0].threshold_seconds, Some(15.0));
}

#[tokio::test]
async fn every_primary_stream_is_followed_late_or_never() {
    let (_dir, spec, analyzer) = open().await;
    let g = gaps::measure(&analyzer, &spec, &timeline()).await.unwrap();
    use FollowStatus::{Followed as F, Late as L, Never as N};
    let got: Vec<(&str, cutover_analyzer::time::Time, Option<f64>, FollowStatus)> = g
        .followed
        .iter()
        .map(|f| (f.key.as_str(), f.primary_last_at.clone(), f.delay_seconds, f.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("api/logs", at(40), Some(3.0), F),
            ("api/metrics", at(50), Some(2.0), F),
            ("api/metrics/cpu", at(50), Some(2.0), F),
            ("api/metrics/disk", at(50), None, N),
            ("api/metrics/mem", at(50), Some(10.0), L),
            ("batch/spans", at(5), None, N),
            ("db/metrics", at(35), None, N),
            ("db/metrics/boot_time", at(35), None, N),
            ("fw/siem", at(30), Some(1.0), F),
            ("web/spans", at(59), Some(5.0), F),
        ]
    );
    assert_eq!(g.followed[0].secondary_first_at, Some(at(73)));
    assert_eq!((g.late_followed, g.never_followed), (1, 4));
    let no_cutover = Timeline {
        cutover_at: None,
        ..timeline()
    };
    let g = gaps::measure(&analyzer, &spec, &no_cutover).await.unwrap();
    assert!(g.followed.is_empty());
    assert_eq!(
        g.followed_reason.as_deref(),
        Some("no dns_cutover or traffic_shifted marker after the fault")
    );
    assert!(g.markdown().contains("Not measurable: no dns_cutover"));
}

#[tokio::test]
async fn the_report_wires_the_section_to_the_drill_timeline() {
    // The full measure finds the same fault, cutover and data end as the hand-made timeline.
    let (_dir, spec, analyzer) = open().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let by_hand = gaps::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(report.gaps, by_hand);
    assert!(report.gaps.markdown().contains("| us-west-2/fw/siem | "));
}

#[tokio::test]
async fn an_empty_log_is_not_measurable() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &[marker("fault_injected", E, T0, vec![])]).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let t = Timeline {
        data_end: Some(T0),
        fault_at: Some(T0),
        ..Default::default()
    };
    let g = gaps::measure(&analyzer, &spec, &t).await.unwrap();
    assert!(g.reason.as_deref().unwrap().starts_with("no spans"));
    assert!(g.streams.is_empty() && g.gaps.is_empty());
}

#[tokio::test]
async fn a_stream_with_many_gaps_lists_them_by_start() {
    // One stream, 400 bursts of three logs one second apart every 10 s (steps 1, 1, 8):
    // inferred cadence 1 s → threshold 3 s, so each 8 s pause is a gap: 399 of them, plus the
    // open one after the last burst. The rows must come out by start time. (DataFusion 55
    // drops start_at from the ORDER BY of gaps_silences.sql when the gap lists come straight
    // from a GROUP BY through UNNEST, taking the group key for unique; the plan check below
    // guards against that.)
    let dir = tempfile::tempdir().unwrap();
    let mut ev: Vec<Event> = (0..400)
        .flat_map(|k| (0..3).map(move |i| log(E, "api", 10 * k + i)))
        .collect();
    ev.reverse();
    ev.push(marker("drill_ended", E, T0 + 4_010 * S, vec![]));
    write_log(dir.path(), &ev).await;
    let (_dir, spec, analyzer) = opened(dir, DrillSpec::parse(SPEC).unwrap()).await;
    let sql = cutover_analyzer::queries::fill(
        gaps::SILENCES,
        &[
            ("min_events", Param::Int(3)),
            ("gap_factor", Param::Number(3.0)),
            ("min_gap_ns", Param::Int(0)),
            ("data_end", Param::Time(T0 + 4_010 * S)),
            ("spans_cadence_ns", Param::Int(0)),
            ("metrics_cadence_ns", Param::Int(0)),
            ("logs_cadence_ns", Param::Int(0)),
            ("siem_cadence_ns", Param::Int(0)),
        ],
    )
    .unwrap();
    assert!(sql.params.is_empty(), "no string parameters to carry into EXPLAIN");
    let plan = analyzer.sql(&format!("EXPLAIN {}", sql.text)).await.unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    let sort = plan.lines().find(|l| l.contains("logical_plan")).unwrap();
    assert!(sort.contains("Sort:") && sort.contains("start_at"), "{sort}");

    let g = gaps::measure(
        &analyzer,
        &spec,
        &Timeline {
            data_end: Some(T0 + 4_010 * S),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(g.gaps.len(), 400);
    for (k, gap) in g.gaps.iter().enumerate() {
        assert_eq!(gap.start, at(10 * k as i64 + 2), "gap {k}");
        assert_eq!(gap.seconds, if k < 399 { 8.0 } else { 4_010.0 - 3_992.0 });
    }
    assert!(g.gaps[399].open);
}
