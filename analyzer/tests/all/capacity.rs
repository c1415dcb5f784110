//! Capacity: golden rows of `queries/capacity_gauge.sql` and the section's numbers on a
//! fixture computed by hand (see `fixture`).

use std::path::Path;

use crate::common::*;
use cutover_analyzer::measures::capacity;
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Attribute, Body, Event, EventKind, MetricBody};

const E: &str = "us-east-1";
const W: &str = "us-west-2";

fn point(region: &str, service: &str, host: Option<&str>, ms: i64, value: f64, stale: bool) -> Event {
    let body = MetricBody {
        name: "cpu_utilization".into(),
        metric_type: "gauge".into(),
        value,
        is_stale: stale,
        ..Default::default()
    };
    let attrs = host.map(|h| vec![Attribute::str("host", h)]).unwrap_or_default();
    event(
        EventKind::MetricPoint,
        region,
        service,
        T0 + ms * MS,
        attrs,
        Body::Metric(body),
    )
}

/// Cutover at 20 s; threshold 0.8 for service api.
/// api host=w1: 15 s 0.95 (before the cutover: left out), 20 s 0.5, 25 s 0.9, 30 s 0.85,
///   40 s 0.7, 50 s 0.95 → above 25→30 (5 s) + 30→40 (10 s) = 15 s; 5 points, 3 above,
///   peak 0.95 at 50 s (the last point adds no time).
/// api host=w2: 22 s 0.81, 32 s 0.99, 42 s 0.2, and a stale marker at 45 s (skipped)
///   → 22→32 + 32→42 = 20 s; 3 points, 2 above, peak 0.99 at 32 s.
/// worker (no attributes): 30 s 0.1 (only when no service is named).
/// us-east-1 api: 30 s 1.0 (the old primary: left out).
async fn fixture(dir: &Path) {
    let mut events = Vec::new();
    for (ms, v) in [
        (15_000, 0.95),
        (20_000, 0.5),
        (25_000, 0.9),
        (30_000, 0.85),
        (40_000, 0.7),
        (50_000, 0.95),
    ] {
        events.push(point(W, "api", Some("w1"), ms, v, false));
    }
    for (ms, v) in [(22_000, 0.81), (32_000, 0.99), (42_000, 0.2)] {
        events.push(point(W, "api", Some("w2"), ms, v, false));
    }
    events.push(point(W, "api", Some("w2"), 45_000, 0.0, true));
    events.push(point(W, "worker", None, 30_000, 0.1, false));
    events.push(point(E, "api", Some("e1"), 30_000, 1.0, false));
    write_log(dir, &events).await;
}

const SPEC: &str = "name: capacity\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 5, rpo_seconds: 1 }\nsli: { services: [frontend] }\ncapacity:\n  gauges:\n    - { metric: cpu_utilization, threshold: 0.8, service: api }\n    - { metric: mem_utilization, threshold: 0.9 }\n";

fn timeline(cutover_at: Option<i64>) -> Timeline {
    Timeline {
        data_start: Some(T0 + 15 * S),
        data_end: Some(T0 + 50 * S),
        fault_at: Some(T0 + 10 * S),
        cutover_at,
        ..Default::default()
    }
}

async fn open() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn capacity_query_matches_its_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    // No service filter: the worker series shows too.
    let params = [
        ("metric", Param::Literal("cpu_utilization".into())),
        ("secondary", Param::Literal(W.into())),
        ("cutover_at", Param::Time(T0 + 20 * S)),
        ("threshold", Param::Number(0.8)),
        ("service", Param::Literal(String::new())),
    ];
    let failures = check_all(&analyzer, "capacity", &params).await;
    assert_eq!(cutover_analyzer::queries::of("capacity").len(), 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn peak_and_time_above_by_hand() {
    let (_dir, spec, analyzer) = open().await;
    let c = capacity::measure(&analyzer, &spec, &timeline(Some(T0 + 20 * S)))
        .await
        .unwrap();
    assert_eq!(c.reason, None);
    assert_eq!(
        (c.region.as_str(), c.from.as_deref()),
        (W, Some("2026-11-26T12:00:20Z"))
    );
    assert_eq!(c.gauges.len(), 2);
    let cpu = &c.gauges[0];
    assert_eq!(cpu.reason, None);
    assert_eq!(cpu.points, 8);
    assert_eq!(
        (cpu.peak, cpu.peak_at.as_deref()),
        (Some(0.99), Some("2026-11-26T12:00:32Z"))
    );
    assert_eq!(cpu.seconds_above, Some(20.0));
    let series: Vec<(&str, &str, u64, u64, f64, &str, f64)> = cpu
        .series
        .iter()
        .map(|s| {
            (
                s.service.as_str(),
                s.series.as_str(),
                s.points,
                s.points_above,
                s.peak,
                s.peak_at.as_str(),
                s.seconds_above,
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![
            ("api", "host=w1", 5, 3, 0.95, "2026-11-26T12:00:50Z", 15.0),
            ("api", "host=w2", 3, 2, 0.99, "2026-11-26T12:00:32Z", 20.0),
        ]
    );
    assert_eq!(
        (cpu.series[0].first_at.as_str(), cpu.series[1].last_at.as_str()),
        ("2026-11-26T12:00:20Z", "2026-11-26T12:00:42Z")
    );
    let mem = &c.gauges[1];
    assert_eq!((mem.points, mem.peak, mem.seconds_above), (0, None, None));
    assert_eq!(
        mem.reason.as_deref(),
        Some("no points of mem_utilization in us-west-2 at or after the cutover")
    );
    let md = c.markdown();
    assert!(
        md.contains("| cpu_utilization (api) | 0.8 | 8 | 0.99 | 2026-11-26T12:00:32Z | 20.000 s |"),
        "{md}"
    );
}

#[tokio::test]
async fn a_higher_threshold_and_missing_inputs() {
    let (_dir, mut spec, analyzer) = open().await;
    // At 0.9 only 0.95 (w1, 50 s: last point, no time) and 0.99 (w2, 32→42 s) are above.
    spec.capacity.gauges[0].threshold = 0.9;
    let c = capacity::measure(&analyzer, &spec, &timeline(Some(T0 + 20 * S)))
        .await
        .unwrap();
    let above: Vec<(u64, f64)> = c.gauges[0]
        .series
        .iter()
        .map(|s| (s.points_above, s.seconds_above))
        .collect();
    assert_eq!(above, vec![(1, 0.0), (1, 10.0)]);
    let c = capacity::measure(&analyzer, &spec, &timeline(None)).await.unwrap();
    assert!(c.reason.as_deref().unwrap().contains("dns_cutover"));
    spec.capacity.gauges.clear();
    let c = capacity::measure(&analyzer, &spec, &timeline(Some(T0 + 20 * S)))
        .await
        .unwrap();
    assert_eq!(c.reason.as_deref(), Some("the spec names no capacity.gauges"));
    assert!(c.gauges.is_empty());
}

#[tokio::test]
async fn the_capacity_spec_is_validated() {
    let err = DrillSpec::parse(&SPEC.replace("metric: mem_utilization", "metric: ''"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("capacity: gauges[1].metric"), "{err}");
    let err = DrillSpec::parse(&SPEC.replace("threshold: 0.9", "threshold: .nan"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("gauges[1].threshold"), "{err}");
    let err = DrillSpec::parse(&SPEC.replace("service: api", "service: ''"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("gauges[0].service"), "{err}");
    let err = DrillSpec::parse(&SPEC.replace("threshold: 0.9", "threshold: 0.9, unit: ratio"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unit"), "{err}");
    let spec = DrillSpec::parse(SPEC).unwrap();
    assert_eq!(spec.capacity.gauges[0].service.as_deref(), Some("api"));
    assert_eq!(spec.capacity.gauges[1].service, None);
}
