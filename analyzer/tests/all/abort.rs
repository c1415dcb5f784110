//! The abort section on a fixture whose every figure is computed by hand below.
//!
//! Fixture: one SLI request per second from T0 to T0+119 s; us-east-1 serves until T0+49 s,
//! us-west-2 from T0+50 s. Requests T0+20..=49 s fail (30 bad in us-east-1) and so does the one
//! at T0+80 s (us-west-2). Requests T0+90..=99 s take 900 ms, the others 20 ms.
//! `drill_started` at T0, the fault at T0+20 s, `drill_ended` at T0+70 s.

use crate::common::*;
use cutover_analyzer::measures::abort::{self, CriterionResult};
use cutover_analyzer::queries::{self, Param};
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Body, Event};

const SPEC: &str = "name: abort
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 60, rpo_seconds: 1 }
sli: { services: [frontend] }
abort:
  criteria:
    - { name: down, error_ratio_above: 0.5, for_seconds: 20 }
    - { name: west, error_ratio_above: 0.0, for_seconds: 10, region: us-west-2 }
    - { name: never, error_ratio_above: 0.9, for_seconds: 60 }
    - { name: nowhere, error_ratio_above: 0.1, for_seconds: 10, region: eu-central-1 }
    - { name: slow, latency_p99_above_ms: 500, for_seconds: 10 }
    - { name: both, error_ratio_above: 0.04, latency_p99_above_ms: 500, for_seconds: 20 }
";

fn request(i: i64) -> Event {
    let region = if i < 50 { "us-east-1" } else { "us-west-2" };
    let status = if (20..50).contains(&i) || i == 80 { 503 } else { 200 };
    let start = T0 + i * S;
    let mut e = span(0, region, "frontend", 2, start, status, vec![]);
    e.trace_id = (i as u128 + 1).to_be_bytes().to_vec();
    e.span_id = (i as u64 + 1).to_be_bytes().to_vec();
    if (90..100).contains(&i)
        && let Some(Body::Span(b)) = &mut e.body
    {
        b.end_time_unix_nano = start + 900 * MS;
    }
    e
}

async fn open_fixture() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    let mut events = vec![
        marker("drill_started", "us-east-1", T0, vec![]),
        marker("fault_injected", "us-east-1", T0 + 20 * S, vec![]),
        marker("drill_ended", "us-west-2", T0 + 70 * S, vec![]),
    ];
    events.extend((0..120).map(request));
    write_log(dir.path(), &events).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn abort_buckets_match_their_golden_rows() {
    let (_dir, _, analyzer) = open_fixture().await;
    // us-west-2 in 10 s buckets from T0: buckets 5..=11 hold 10 requests each; bucket 8
    // (80..=89 s) the one failure.
    let sql = queries::fill(
        abort::BUCKETS,
        &[
            ("origin_ns", Param::Int(T0)),
            ("step_ns", Param::Int(10 * S)),
            ("any_region", Param::Int(0)),
            ("region", Param::Literal("us-west-2".into())),
        ],
    )
    .unwrap();
    let mut failures: Vec<String> = check(&analyzer, "abort_buckets", &sql).await.into_iter().collect();
    // The same buckets with their durations: 20 ms each, 900 ms in bucket 9 (90..=99 s).
    let sql = sql_latency();
    failures.extend(check(&analyzer, "abort_latency", &sql).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sql_latency() -> queries::Sql {
    queries::fill(
        abort::LATENCY,
        &[
            ("origin_ns", Param::Int(T0)),
            ("step_ns", Param::Int(10 * S)),
            ("any_region", Param::Int(0)),
            ("region", Param::Literal("us-west-2".into())),
        ],
    )
    .unwrap()
}

fn criterion<'a>(c: &'a [CriterionResult], name: &str) -> &'a CriterionResult {
    c.iter().find(|c| c.name == name).unwrap()
}

#[tokio::test]
async fn the_drill_should_have_been_aborted() {
    let (_dir, spec, analyzer) = open_fixture().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let a = &report.abort;
    assert_eq!(a.reason, None);
    assert_eq!(a.step_seconds, 1);
    assert_eq!(a.drill_ended_at.as_deref(), Some("2026-11-26T12:01:10Z"));
    assert_eq!(a.first_abort_at.as_deref(), Some("2026-11-26T12:00:31Z"));

    // down: at T0+30 s the window [10, 30) holds 10 failures of 20 (0.5, not above); at
    // T0+31 s [11, 31) holds 11 of 20. The drill ended 39 s later.
    let d = criterion(&a.criteria, "down");
    assert!(d.should_have_aborted);
    assert_eq!(d.abort_at.as_deref(), Some("2026-11-26T12:00:31Z"));
    assert_eq!(d.window_start.as_deref(), Some("2026-11-26T12:00:11Z"));
    assert_eq!((d.bad_requests, d.requests, d.error_ratio), (11, 20, Some(0.55)));
    assert_eq!(d.drill_ended_after_seconds, Some(39.0));
    // All 20 fail first in [20, 40).
    assert_eq!(d.peak_error_ratio, Some(1.0));
    assert_eq!(d.peak_at.as_deref(), Some("2026-11-26T12:00:40Z"));

    // west: only us-west-2; the first 10 s window with its failure is [71, 81), after the
    // drill had already ended (11 s before).
    let w = criterion(&a.criteria, "west");
    assert_eq!(w.abort_at.as_deref(), Some("2026-11-26T12:01:21Z"));
    assert_eq!((w.bad_requests, w.requests, w.error_ratio), (1, 10, Some(0.1)));
    assert_eq!(w.drill_ended_after_seconds, Some(-11.0));

    // never: a 60 s window holds at most the 30 failures (0.5), first in [0, 60).
    let n = criterion(&a.criteria, "never");
    assert!(!n.should_have_aborted);
    assert_eq!((n.abort_at.clone(), n.drill_ended_after_seconds), (None, None));
    assert_eq!(n.peak_error_ratio, Some(0.5));
    assert_eq!(n.peak_at.as_deref(), Some("2026-11-26T12:01:00Z"));

    // slow: p99 of a 10 s window (⌈9.9⌉ = the 10th of 10, the largest) is 900 ms first in
    // [81, 91); no failure in it. The drill had ended 21 s before.
    let s = criterion(&a.criteria, "slow");
    assert_eq!(s.abort_at.as_deref(), Some("2026-11-26T12:01:31Z"));
    assert_eq!((s.bad_requests, s.requests, s.p99_ms), (0, 10, Some(900.0)));
    assert_eq!(s.drill_ended_after_seconds, Some(-21.0));
    assert_eq!(
        (s.peak_p99_ms, s.peak_p99_at.as_deref()),
        (Some(900.0), Some("2026-11-26T12:01:31Z"))
    );
    // both: errors above 0.04 alone would hold at T0+21 s ([1, 21) has 1 failure of 20), but
    // the p99 stays at 20 ms until [71, 91), which also holds the failure at 80 s (1 of 20).
    let b = criterion(&a.criteria, "both");
    assert_eq!(b.abort_at.as_deref(), Some("2026-11-26T12:01:31Z"));
    assert_eq!(
        (b.bad_requests, b.requests, b.error_ratio, b.p99_ms),
        (1, 20, Some(0.05), Some(900.0))
    );
    assert_eq!(d.p99_ms, None);

    let e = criterion(&a.criteria, "nowhere");
    assert_eq!(e.reason.as_deref(), Some("no SLI requests in region eu-central-1"));

    let md = a.markdown();
    assert!(
        md.contains("**The drill should have been aborted at 2026-11-26T12:00:31Z.**"),
        "{md}"
    );
    assert!(
        md.contains("| down (errors > 0.5 for 20 s) | 2026-11-26T12:00:31Z | 11 / 20 | — | 39.000 s after |"),
        "{md}"
    );
    assert!(md.contains("| 1 / 10 | — | 11.000 s before |"), "{md}");
    assert!(
        md.contains("| both (errors > 0.04 and p99 > 500 ms for 20 s) |"),
        "{md}"
    );
    assert!(
        md.contains("| never (errors > 0.9 for 60 s) | did not hold | — | — | — | 0.500 | — |"),
        "{md}"
    );
}

#[tokio::test]
async fn a_window_reaching_before_the_log_does_not_count() {
    // Failures from the very first request: a 20 s window needs 20 s of log behind it, so
    // the criterion holds first at T0+20 s (window [0, 20), all bad), not earlier.
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..30)
        .map(|i| {
            let mut e = request(i + 20);
            e.event_time_unix_nano = T0 + i * S;
            e
        })
        .collect();
    write_log(dir.path(), &events).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let d = criterion(&report.abort.criteria, "down");
    assert_eq!(d.abort_at.as_deref(), Some("2026-11-26T12:00:20Z"));
    assert_eq!((d.bad_requests, d.requests), (20, 20));
    assert_eq!(report.abort.drill_ended_at, None);
    assert_eq!(d.drill_ended_after_seconds, None);
    assert!(report.abort.markdown().contains("no drill_ended marker"));
}

#[test]
fn the_spec_refuses_meaningless_criteria() {
    let err = DrillSpec::parse(&SPEC.replace("for_seconds: 20", "for_seconds: 0"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("abort: criteria[0].for_seconds must be a positive multiple"),
        "{err}"
    );
    let err = DrillSpec::parse(&SPEC.replace("region: us-west-2", "regions: us-west-2"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `regions`"), "{err}");
    let err = DrillSpec::parse(&SPEC.replace("name: never", "name: down"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("appears twice"), "{err}");
    let err = DrillSpec::parse(&SPEC.replace("latency_p99_above_ms: 500, for_seconds: 10", "for_seconds: 10"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("criteria[4] needs error_ratio_above or latency_p99_above_ms"),
        "{err}"
    );
    let none = DrillSpec::parse(SPEC.split("abort:").next().unwrap()).unwrap();
    assert!(none.abort.criteria.is_empty());
}
