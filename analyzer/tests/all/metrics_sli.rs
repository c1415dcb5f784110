//! An SLI from counters (`sli.metrics`) on a fixture worked out by hand.
//!
//! Counters scraped every 5 s, as remote_write samples (labels as attributes, `job` =
//! service): `http_requests_total{code}` of `frontend`.
//! - us-east-1 (primary) from 0 s to 60 s: 10 requests/s, code 200 until the fault at 30 s,
//!   code 500 after it.
//! - us-west-2 from 60 s to 150 s: 10 requests/s, code 200 (first point at 60 s, value 0).
//!
//! Requests: each 5 s interval's 50 increments spread evenly over it. The first good request
//! after the fault is the first of (60, 65] at 60.1 s, and every window from there is good:
//! recovered at 60.1 s, RTO 30.1 s, resolution 5 s.

use cutover_analyzer::{Analyzer, DrillSpec, measures};
use cutover_schemas::{Attribute, Body, EventKind, MetricBody};

use crate::common::*;

fn counter(region: &str, code: &str, t: i64, value: f64) -> cutover_schemas::Event {
    event(
        EventKind::MetricPoint,
        region,
        "frontend",
        T0 + t * S,
        vec![Attribute::str("code", code), Attribute::str("instance", "web:80")],
        Body::Metric(MetricBody {
            name: "http_requests_total".into(),
            metric_type: "sample".into(),
            value,
            ..Default::default()
        }),
    )
}

fn fixture() -> Vec<cutover_schemas::Event> {
    let mut ev = vec![marker("fault_injected", "us-east-1", T0 + 30 * S, vec![])];
    for t in (0..=60).step_by(5) {
        ev.push(counter("us-east-1", "200", t, 10.0 * t.min(30) as f64));
        ev.push(counter("us-east-1", "500", t, 10.0 * (t - 30).max(0) as f64));
    }
    for t in (60..=150).step_by(5) {
        ev.push(counter("us-west-2", "200", t, 10.0 * (t - 60) as f64));
    }
    ev
}

const SPEC: &str = r#"name: metrics sli
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 60, rpo_seconds: 1 }
sli:
  metrics:
    total: 'http_requests_total{job="frontend"}'
    bad: 'http_requests_total{job="frontend",code=~"5.."}'
recovery: { success_ratio: 0.9, stable_seconds: 20 }
"#;

#[tokio::test]
async fn rto_from_counters_with_its_resolution() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &fixture()).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let r = measures::measure(&analyzer, &spec).await.unwrap();
    assert_eq!(r.rto.sli, "metrics");
    assert_eq!(r.rto.resolution_seconds, Some(5.0));
    // 12 intervals of 50 in the east, 18 in the west.
    assert_eq!(r.rto.requests, 30 * 50);
    assert_eq!(r.rto.recovered_at.as_deref(), Some("2026-11-26T12:01:00.100Z"));
    assert_eq!(r.rto.actual_seconds, Some(30.1));
    assert_eq!(r.rto.met, Some(true));
    assert!(
        r.rto
            .sli_note
            .as_deref()
            .is_some_and(|n| n.starts_with("1500 requests from http_requests_total")),
        "{:?}",
        r.rto.sli_note
    );
    // The first bad request after the fault detects it (no alert in the log).
    assert_eq!(r.rto.detected_by.as_deref(), Some("sli_breach"));
    assert!(r.latency.reason.as_deref().is_some_and(|x| x.contains("no durations")));
    assert!(r.to_markdown(None).contains("- SLI from metrics: 1500 requests"));
}

#[tokio::test]
async fn a_metrics_sli_that_selects_nothing_names_the_metrics_there_are() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &fixture()).await;
    let spec =
        DrillSpec::parse(&SPEC.replace("'http_requests_total{job=\"frontend\"}'", "'http_request_total'")).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let err = measures::measure(&analyzer, &spec).await.unwrap_err().to_string();
    assert!(
        err.contains("sli.metrics gives no request") && err.contains("the log has metrics http_requests_total"),
        "{err}"
    );
    // A selector that does not parse is a spec error.
    let bad = SPEC.replace("code=~\"5..\"", "code=~5..");
    assert!(
        DrillSpec::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("sli.metrics.bad")
    );
}
