//! Alert audit: golden rows of `queries/alerts_*.sql` and the section's numbers on a fixture
//! where every row can be checked by hand.
//!
//! Fixture (seconds after T0; E = us-east-1, W = us-west-2): markers fault_injected 60,
//! failover_declared 62, dns_cutover 70, failover_completed 90, drill_ended 120 (data end).
//!
//! | alert (service, region, fingerprint) | status | startsAt | endsAt | received |
//! |---|---|---|---|---|
//! | HighErrorRate (frontend, E, a1) | firing | 50 | | 51 |
//! | HighErrorRate (frontend, E, a1) | resolved | 50 | 55 | 56 |
//! | HighErrorRate (frontend, E, a2) | firing | 75 | | 76 |
//! | HighErrorRate (frontend, E, a2) | firing (repeat) | 75 | | 96 |
//! | HighErrorRate (frontend, E, a2) | resolved | 75 | 100 | 101 |
//! | HighErrorRate (frontend, W, a3) | firing | 80 | | 82 |
//! | HighErrorRate (batch, E, b1) | firing | 65 | | 66 |
//! | ReplicationLag (orders-db, E, r1) | firing | 73 | | 79 |
//! | InstanceDown (api, E, i1) | firing | 63 | | 64 |
//! | DiskFull (api, W, d1) | firing | 95 | | 97 |
//! | Heartbeat (infra, W, h1) | firing | (none) | | 110 |
//!
//! Expected: HighErrorRate of frontend within 30 s → a2 (a1 started before the fault):
//! delay 15, delivered after 1 s, resolved at 100, on time. ReplicationLag (any service)
//! within 10 s → r1: delay 13, late, delivered after 6 s (5 allowed: delivered late),
//! unresolved. RegionDown: never.
//! Unexpected (after the fault, matching no expected entry): i1, b1, d1, h1 (startsAt = its
//! receipt, 110).
//! Suppression windows: [62, 90] InstanceDown → i1; [90, 120] every alert → a2 (its repeat
//! at 96), d1, h1; failback_started → not in the log; [70, 120] (no failback_completed in the
//! log) ReplicationLag → r1.

use crate::common::*;
use cutover_analyzer::measures::alerts::{self, SILENCES_REASON};
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{AlertBody, Body, Event, EventKind};

const E: &str = "us-east-1";
const W: &str = "us-west-2";

struct A {
    name: &'static str,
    service: &'static str,
    region: &'static str,
    fp: &'static str,
    status: &'static str,
    starts: Option<i64>,
    ends: Option<i64>,
    received: i64,
}

fn alert(a: A) -> Event {
    let body = AlertBody {
        status: a.status.into(),
        alertname: a.name.into(),
        starts_at_unix_nano: a.starts.map(|s| T0 + s * S).unwrap_or(0),
        ends_at_unix_nano: a.ends.map(|s| T0 + s * S).unwrap_or(0),
        fingerprint: a.fp.into(),
        ..Default::default()
    };
    event(
        EventKind::Alert,
        a.region,
        a.service,
        T0 + a.received * S,
        vec![],
        Body::Alert(body),
    )
}

fn fixture() -> Vec<Event> {
    let mut ev = vec![
        marker("fault_injected", E, T0 + 60 * S, vec![]),
        marker("failover_declared", W, T0 + 62 * S, vec![]),
        marker("dns_cutover", W, T0 + 70 * S, vec![]),
        marker("failover_completed", W, T0 + 90 * S, vec![]),
        marker("drill_ended", W, T0 + 120 * S, vec![]),
    ];
    #[rustfmt::skip]
    let rows = [
        ("HighErrorRate", "frontend", E, "a1", "firing", Some(50), None, 51),
        ("HighErrorRate", "frontend", E, "a1", "resolved", Some(50), Some(55), 56),
        ("HighErrorRate", "frontend", E, "a2", "firing", Some(75), None, 76),
        ("HighErrorRate", "frontend", E, "a2", "firing", Some(75), None, 96),
        ("HighErrorRate", "frontend", E, "a2", "resolved", Some(75), Some(100), 101),
        ("HighErrorRate", "frontend", W, "a3", "firing", Some(80), None, 82),
        ("HighErrorRate", "batch", E, "b1", "firing", Some(65), None, 66),
        ("ReplicationLag", "orders-db", E, "r1", "firing", Some(73), None, 79),
        ("InstanceDown", "api", E, "i1", "firing", Some(63), None, 64),
        ("DiskFull", "api", W, "d1", "firing", Some(95), None, 97),
        ("Heartbeat", "infra", W, "h1", "firing", None, None, 110),
    ];
    for (name, service, region, fp, status, starts, ends, received) in rows {
        ev.push(alert(A {
            name,
            service,
            region,
            fp,
            status,
            starts,
            ends,
            received,
        }));
    }
    // Alertmanager left alerts out of three notifications (max_alerts): a1's before the fault
    // (not counted), a2's first (2 left out) and d1's (1).
    for e in &mut ev {
        let at = (e.event_time_unix_nano - T0) / S;
        if let Some(Body::Alert(b)) = &mut e.body {
            let (n, key) = match (b.fingerprint.as_str(), at) {
                ("a1", 51) => (5, "g-frontend"),
                ("a2", 76) => (2, "g-frontend"),
                ("d1", 97) => (1, "g-api"),
                _ => continue,
            };
            b.truncated_alerts = n;
            b.group_key = key.into();
        }
    }
    ev
}

const SPEC: &str = "name: alerts
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 60, rpo_seconds: 1 }
sli: { services: [frontend] }
alerts:
  expected:
    - { alertname: HighErrorRate, service: frontend, max_delay_seconds: 30 }
    - { alertname: ReplicationLag, max_delay_seconds: 10, max_delivery_seconds: 5 }
    - { alertname: RegionDown }
  suppression_windows:
    - { from_marker: failover_declared, to_marker: failover_completed, alertname: InstanceDown }
    - { from_marker: failover_completed }
    - { from_marker: failback_started }
    - { from_marker: dns_cutover, to_marker: failback_completed, alertname: ReplicationLag }
";

async fn open() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &fixture()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

fn timeline() -> Timeline {
    Timeline {
        data_start: Some(T0 + 51 * S),
        data_end: Some(T0 + 120 * S),
        fault_at: Some(T0 + 60 * S),
        ..Default::default()
    }
}

fn at(s: i64) -> cutover_analyzer::time::Time {
    cutover_analyzer::time::Time::new(T0 + s * S)
}

#[tokio::test]
async fn alert_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    // alerts_window: the first window of the spec; alerts_suppressed: the second.
    let params = [
        ("fault_at", Param::Time(T0 + 60 * S)),
        ("from_marker", Param::Literal("failover_declared".into())),
        ("to_marker", Param::Literal("failover_completed".into())),
        ("from_at", Param::Time(T0 + 90 * S)),
        ("to_at", Param::Time(T0 + 120 * S)),
        ("alertname", Param::Literal(String::new())),
    ];
    let failures = check_all(&analyzer, "alerts", &params).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn expected_alerts_have_delay_delivery_and_resolution() {
    let (_dir, spec, analyzer) = open().await;
    let a = alerts::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!((a.reason.clone(), a.expected_reason.clone()), (None, None));
    assert_eq!((a.truncated_notifications, a.truncated_alerts), (2, 3));
    assert!(
        a.truncated_reason.as_deref().is_some_and(
            |r| r.starts_with("Alertmanager left up to 3 alert(s) out of 2 notification(s) after the fault")
        ),
        "{:?}",
        a.truncated_reason
    );
    assert!(
        a.markdown()
            .contains("**Truncated notifications:** Alertmanager left up to 3")
    );
    let got: Vec<_> = a
        .expected
        .iter()
        .map(|e| {
            let f = e.firing.as_ref();
            (
                e.alertname.as_str(),
                e.fired,
                f.map(|f| (f.fingerprint.clone(), f.region.clone(), f.starts_at.clone())),
                e.delay_seconds,
                e.delivery_seconds,
                e.resolved,
                f.and_then(|f| f.resolved_at.clone()),
                e.late,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "HighErrorRate",
                true,
                Some(("a2".to_string(), E.to_string(), at(75))),
                Some(15.0),
                Some(1.0),
                true,
                Some(at(100)),
                Some(false)
            ),
            (
                "ReplicationLag",
                true,
                Some(("r1".to_string(), E.to_string(), at(73))),
                Some(13.0),
                Some(6.0),
                false,
                None,
                Some(true)
            ),
            ("RegionDown", false, None, None, None, false, None, None),
        ]
    );
    assert_eq!((a.not_fired, a.late), (1, 1));
    // ReplicationLag took 6 s to arrive, 5 s are allowed; HighErrorRate sets no limit.
    let delivery: Vec<_> = a.expected.iter().map(|e| e.delivery_late).collect();
    assert_eq!(delivery, vec![None, Some(true), None]);
    assert_eq!(a.delivered_late, 1);
    // The first receipt counts for delivery; both notifications of a2 are counted.
    let a2 = a.expected[0].firing.as_ref().unwrap();
    assert_eq!((a2.received_at.clone(), a2.notifications), (at(76), 2));
    let unexpected: Vec<(&str, &str, cutover_analyzer::time::Time)> = a
        .unexpected
        .iter()
        .map(|f| (f.alertname.as_str(), f.fingerprint.as_str(), f.starts_at.clone()))
        .collect();
    assert_eq!(
        unexpected,
        vec![
            ("InstanceDown", "i1", at(63)),
            ("HighErrorRate", "b1", at(65)),
            ("DiskFull", "d1", at(95)),
            ("Heartbeat", "h1", at(110)),
        ]
    );
    assert_eq!(a.silences_after_drill_end, None);
    assert_eq!(a.silences_reason.as_deref(), Some(SILENCES_REASON));
}

#[tokio::test]
async fn suppression_windows_list_what_fired_inside() {
    let (_dir, spec, analyzer) = open().await;
    let a = alerts::measure(&analyzer, &spec, &timeline()).await.unwrap();
    let got: Vec<_> = a
        .suppression_windows
        .iter()
        .map(|w| {
            let firing: Vec<(String, cutover_analyzer::time::Time, u64)> = w
                .firing
                .iter()
                .map(|s| (s.fingerprint.clone(), s.first_received_at.clone(), s.notifications))
                .collect();
            (w.from_at.clone(), w.to_at.clone(), w.to_data_end, firing)
        })
        .collect();
    let one = |fp: &str, s: i64| (fp.to_string(), at(s), 1u64);
    assert_eq!(
        got,
        vec![
            (Some(at(62)), Some(at(90)), false, vec![one("i1", 64)]),
            (
                Some(at(90)),
                Some(at(120)),
                true,
                vec![one("a2", 96), one("d1", 97), one("h1", 110)]
            ),
            (None, None, false, vec![]),
            (Some(at(70)), Some(at(120)), true, vec![one("r1", 79)]),
        ]
    );
    assert_eq!(a.suppressed_firing, 5);
    assert_eq!(a.suppression_windows[1].reason, None);
    assert_eq!(
        a.suppression_windows[2].reason.as_deref(),
        Some("no failback_started marker in the log")
    );
    assert!(
        a.suppression_windows[3]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("no failback_completed marker at or after dns_cutover")
    );
    // a2's suppressed row keeps its real startsAt, not the repeat's receipt.
    assert_eq!(a.suppression_windows[1].firing[0].starts_at, at(75));
}

#[tokio::test]
async fn without_a_fault_only_the_windows_are_measured() {
    let (_dir, spec, analyzer) = open().await;
    let t = Timeline {
        fault_at: None,
        ..timeline()
    };
    let a = alerts::measure(&analyzer, &spec, &t).await.unwrap();
    assert!(a.expected.is_empty() && a.unexpected.is_empty());
    assert!(
        a.expected_reason
            .as_deref()
            .unwrap()
            .starts_with("no fault_injected marker")
    );
    assert_eq!(a.reason, None);
    assert_eq!(a.suppressed_firing, 5);
    assert!(a.markdown().contains("Expected alerts not measurable"));
}

#[tokio::test]
async fn the_report_wires_the_section_to_the_drill_timeline() {
    let (_dir, spec, analyzer) = open().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let by_hand = alerts::measure(&analyzer, &spec, &timeline()).await.unwrap();
    assert_eq!(report.alerts, by_hand);
    let md = report.alerts.markdown();
    assert!(
        md.contains("| ReplicationLag | yes | 2026-11-26T12:01:13Z | **13** (late) | 10 | us-east-1 | **6** (late) |"),
        "{md}"
    );
}
