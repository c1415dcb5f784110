//! Residual traffic and session drops: golden rows of `queries/traffic_*.sql` and the
//! section's numbers on a fixture counted by hand (see `fixture`).

use std::path::Path;

use crate::common::*;
use cutover_analyzer::measures::traffic;
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};

const E: &str = "us-east-1";
const W: &str = "us-west-2";

/// Fault at 10 s, cutover at 20 s, 10 s windows from the cutover.
/// Baseline: 10 requests in us-east-1 (0 s … 9 s), one 401: rate 0.1; none in us-west-2.
/// Outage (12 s, 15 s: 503s in us-east-1) is in neither period.
/// Window 20 s: east 20.5 s (200), 21 s (503), 22 s (403); west 23, 24 (401), 25 → share 3/6.
/// Window 30 s: east 31 s; west 32, 33 (401), 34, 35 → share 1/5 = 0.2 (the threshold: still
/// residual). Window 40 s: no SLI request (a client span in east does not count).
/// Window 50 s: west 51, 52 (403), 53, 54, 55. Window 60 s: west 61, 62.
/// Settled at 40 s = 20 s after the cutover. Residual: 4 requests, 1 failed, last at 31 s.
/// Sessions after: east 1/4 = 0.25 > 2 × 0.1 → flagged; west 3/14 > 2 × 0.1 (all-region
/// baseline, west has none) → flagged.
async fn fixture(dir: &Path) {
    let mut requests: Vec<(&str, i64, i64)> = (0..10).map(|i| (E, i * 1000, if i == 3 { 401 } else { 200 })).collect();
    requests.extend([(E, 12_000, 503), (E, 15_000, 503)]);
    requests.extend([(E, 20_500, 200), (E, 21_000, 503), (E, 22_000, 403), (E, 31_000, 200)]);
    requests.extend([(W, 23_000, 200), (W, 24_000, 401), (W, 25_000, 200)]);
    requests.extend([(W, 32_000, 200), (W, 33_000, 401), (W, 34_000, 200), (W, 35_000, 200)]);
    requests.extend([
        (W, 51_000, 200),
        (W, 52_000, 403),
        (W, 53_000, 200),
        (W, 54_000, 200),
        (W, 55_000, 200),
    ]);
    requests.extend([(W, 61_000, 200), (W, 62_000, 200)]);
    let mut events: Vec<_> = requests
        .iter()
        .enumerate()
        .map(|(i, (region, ms, status))| span(i as u8 + 1, region, "frontend", 2, T0 + ms * MS, *status, vec![]))
        .collect();
    events.push(span(100, E, "frontend", 3, T0 + 45 * S, 200, vec![]));
    write_log(dir, &events).await;
}

const SPEC: &str = "name: traffic\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 5, rpo_seconds: 1 }\nsli: { services: [frontend] }\ntraffic: { window_seconds: 10, residual_threshold: 0.2 }\n";

fn timeline() -> Timeline {
    Timeline {
        data_start: Some(T0),
        data_end: Some(T0 + 62 * S),
        fault_at: Some(T0 + 10 * S),
        cutover_at: Some(T0 + 20 * S),
        ..Default::default()
    }
}

async fn open() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn traffic_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    let params = [
        ("cutover_at", Param::Time(T0 + 20 * S)),
        ("fault_at", Param::Time(T0 + 10 * S)),
        ("window_ms", Param::Int(10_000)),
        ("primary", Param::Literal(E.into())),
    ];
    let failures = check_all(&analyzer, "traffic", &params).await;
    assert_eq!(cutover_analyzer::queries::of("traffic").len(), 2);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn residual_traffic_by_hand() {
    let (_dir, spec, analyzer) = open().await;
    let t = traffic::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(t.reason, None);
    assert_eq!((t.residual_requests, t.residual_failed), (4, 1));
    assert_eq!(t.last_residual_at.as_deref(), Some("2026-11-26T12:00:31Z"));
    let windows: Vec<(&str, u64, u64, u64, f64)> = t
        .windows
        .iter()
        .map(|w| {
            (
                w.start.as_str(),
                w.requests,
                w.primary_requests,
                w.primary_failed,
                w.primary_share,
            )
        })
        .collect();
    assert_eq!(
        windows,
        vec![
            ("2026-11-26T12:00:20Z", 6, 3, 1, 0.5),
            ("2026-11-26T12:00:30Z", 5, 1, 0, 0.2),
            ("2026-11-26T12:00:50Z", 5, 0, 0, 0.0),
            ("2026-11-26T12:01:00Z", 2, 0, 0, 0.0),
        ]
    );
    assert_eq!(t.settled_at.as_deref(), Some("2026-11-26T12:00:40Z"));
    assert_eq!(t.settle_seconds, Some(20.0));
    assert_eq!(t.settle_reason, None);
}

#[tokio::test]
async fn session_drops_by_hand() {
    let (_dir, spec, analyzer) = open().await;
    let s = traffic::measure(&analyzer, &spec, &timeline()).await.unwrap().sessions;
    assert_eq!(s.reason, None);
    assert_eq!((s.baseline_requests, s.baseline_auth_failures), (10, 1));
    let rows: Vec<_> = s
        .regions
        .iter()
        .map(|r| {
            (
                r.region.as_str(),
                r.baseline_scope.as_str(),
                r.baseline_requests,
                r.baseline_auth_failures,
                r.baseline_rate,
                r.after_requests,
                r.after_auth_failures,
                r.after_rate,
                r.flagged,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (E, "region", 10, 1, Some(0.1), 4, 1, Some(0.25), Some(true)),
            (W, "all_regions", 10, 1, Some(0.1), 14, 3, Some(3.0 / 14.0), Some(true)),
        ]
    );
    // With a floor of 0.22 only the east (0.25) is still flagged; west is 0.214….
    let mut spec = spec;
    spec.traffic.session_drop_floor = 0.22;
    let s = traffic::measure(&analyzer, &spec, &timeline()).await.unwrap().sessions;
    let flags: Vec<Option<bool>> = s.regions.iter().map(|r| r.flagged).collect();
    assert_eq!(flags, vec![Some(true), Some(false)]);
}

#[tokio::test]
async fn unsettled_traffic_and_missing_markers_say_why() {
    let (_dir, mut spec, analyzer) = open().await;
    // One 45 s window [20 s, 65 s) holds every request after the cutover: the primary served
    // 4 of 18 (0.2222 ≥ 0.2) in the last window, so the traffic never settled.
    spec.traffic.window_seconds = 45.0;
    let t = traffic::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(t.windows.len(), 1);
    assert_eq!(t.settle_seconds, None);
    assert!(
        t.settle_reason.as_deref().unwrap().contains("0.2222"),
        "{:?}",
        t.settle_reason
    );
    let no_cutover = Timeline {
        cutover_at: None,
        ..timeline()
    };
    let t = traffic::measure(&analyzer, &spec, &no_cutover).await.unwrap();
    assert!(t.reason.as_deref().unwrap().contains("dns_cutover"));
    assert!(t.sessions.reason.is_some());
    let no_fault = Timeline {
        fault_at: None,
        ..timeline()
    };
    let t = traffic::measure(&analyzer, &spec, &no_fault).await.unwrap();
    assert_eq!(t.residual_requests, 4);
    assert!(t.sessions.reason.as_deref().unwrap().contains("no fault"));
    assert!(t.sessions.regions.is_empty());
}

/// The whole report, with the timeline taken from markers: fault_injected at 10 s and
/// dns_cutover at 20 s give the same figures as the hand-made timeline.
#[tokio::test]
async fn the_report_carries_the_section_with_the_markers_timeline() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    write_log(
        dir.path(),
        &[
            marker("fault_injected", E, T0 + 10 * S, vec![]),
            marker("dns_cutover", W, T0 + 20 * S, vec![]),
        ],
    )
    .await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let t = &report.traffic;
    assert_eq!(t.cutover_at.as_deref(), Some("2026-11-26T12:00:20Z"));
    assert_eq!(
        (t.residual_requests, t.residual_failed, t.settle_seconds),
        (4, 1, Some(20.0))
    );
    let flags: Vec<Option<bool>> = t.sessions.regions.iter().map(|r| r.flagged).collect();
    assert_eq!(flags, vec![Some(true), Some(true)]);
    let md = report.to_markdown(None);
    assert!(md.contains("served 4 SLI request(s), 1 of them failed"), "{md}");
}

#[tokio::test]
async fn the_traffic_spec_is_validated() {
    for (from, to, key) in [
        ("window_seconds: 10", "window_seconds: 0", "window_seconds"),
        ("residual_threshold: 0.2", "residual_threshold: 0", "residual_threshold"),
        (
            "residual_threshold: 0.2",
            "session_drop_factor: 0.5",
            "session_drop_factor",
        ),
        ("residual_threshold: 0.2", "session_drop_floor: 2", "session_drop_floor"),
    ] {
        let err = DrillSpec::parse(&SPEC.replace(from, to)).unwrap_err().to_string();
        assert!(err.contains(&format!("traffic: {key}")), "{err}");
    }
    let d = DrillSpec::parse(&SPEC.replace("traffic: { window_seconds: 10, residual_threshold: 0.2 }\n", ""))
        .unwrap()
        .traffic;
    assert_eq!(
        (
            d.window_seconds,
            d.residual_threshold,
            d.session_drop_factor,
            d.session_drop_floor
        ),
        (10.0, 0.01, 2.0, 0.01)
    );
}
