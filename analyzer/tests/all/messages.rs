//! Message reconciliation: golden rows of `queries/messages_*.sql` and the section's counts on
//! a fixture counted by hand (see `fixture`).

use std::path::Path;

use crate::common::*;
use cutover_analyzer::measures::messages::{self, MessageCounts};
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Attribute, Body, Event, EventKind, SpanBody};

/// A messaging span number `n` at `ms` after T0.
fn msg(n: u8, destination: &str, id: &str, op: &str, ms: i64) -> Event {
    let attrs = vec![
        Attribute::str("messaging.destination.name", destination),
        Attribute::str("messaging.message.id", id),
        Attribute::str("messaging.operation.type", op),
    ];
    let kind = if op == "publish" || op == "send" { 4 } else { 5 };
    let body = SpanBody {
        name: format!("{op} {destination}"),
        kind,
        end_time_unix_nano: T0 + (ms + 5) * MS,
        ..Default::default()
    };
    let mut e = event(
        EventKind::Span,
        "us-east-1",
        "shop",
        T0 + ms * MS,
        attrs,
        Body::Span(body),
    );
    e.trace_id = vec![n; 16];
    e.span_id = vec![n; 8];
    e
}

/// Cutover at 20 s. `orders`: m1 delivered once (receive + process = one delivery), m2 lost,
/// m3 delivered twice (redelivered after the cutover, still counted before: published at 7 s),
/// m4 sent and processed, m5 lost, m6 received three times, u1 received but never published.
/// `payments`: p1 published twice by a retrying producer and received once, p2 lost.
/// Plus a `create` span and a span without a message id, both ignored.
async fn fixture(dir: &Path) {
    let spans = [
        ("orders", "m1", "publish", 5000),
        ("orders", "m1", "receive", 5100),
        ("orders", "m1", "process", 5200),
        ("orders", "m2", "publish", 6000),
        ("orders", "m3", "publish", 7000),
        ("orders", "m3", "receive", 7100),
        ("orders", "m3", "process", 7200),
        ("orders", "m3", "receive", 21_000),
        ("orders", "m3", "process", 21_100),
        ("orders", "m4", "send", 22_000),
        ("orders", "m4", "process", 22_500),
        ("orders", "m5", "publish", 23_000),
        ("orders", "m6", "publish", 24_000),
        ("orders", "m6", "receive", 24_100),
        ("orders", "m6", "receive", 24_200),
        ("orders", "m6", "receive", 24_300),
        ("orders", "u1", "receive", 25_000),
        ("payments", "p1", "publish", 8000),
        ("payments", "p1", "publish", 8100),
        ("payments", "p1", "receive", 8500),
        ("payments", "p2", "publish", 30_000),
        ("payments", "p3", "create", 31_000),
    ];
    let mut events: Vec<Event> = spans
        .iter()
        .enumerate()
        .map(|(i, (d, id, op, ms))| msg(i as u8 + 1, d, id, op, *ms))
        .collect();
    events.push(span(200, "us-east-1", "shop", 4, T0 + 9 * S, 200, vec![]));
    write_log(dir, &events).await;
}

const SPEC: &str = "name: messages\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 5, rpo_seconds: 1 }\nsli: { services: [frontend] }\nmessages: { list_limit: 2 }\n";

fn timeline(cutover_at: Option<i64>) -> Timeline {
    Timeline {
        data_start: Some(T0 + 5 * S),
        data_end: Some(T0 + 31 * S),
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

fn c(
    published: u64,
    received: u64,
    lost: u64,
    duplicated: u64,
    dup_msgs: u64,
    unpublished: u64,
    deliveries: u64,
) -> MessageCounts {
    MessageCounts {
        published,
        received,
        lost,
        duplicated,
        duplicated_messages: dup_msgs,
        unpublished,
        deliveries,
    }
}

#[tokio::test]
async fn message_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open().await;
    let params = [("cutover_at", Param::Time(T0 + 20 * S)), ("limit", Param::Int(2))];
    let failures = check_all(&analyzer, "messages", &params).await;
    assert_eq!(cutover_analyzer::queries::of("messages").len(), 2);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn lost_and_duplicated_messages_by_hand() {
    let (_dir, spec, analyzer) = open().await;
    let m = messages::measure(&analyzer, &spec, &timeline(Some(T0 + 20 * S)))
        .await
        .unwrap();
    assert_eq!(m.reason, None);
    assert_eq!(m.cutover_at.as_deref(), Some("2026-11-26T12:00:20Z"));
    let names: Vec<&str> = m.destinations.iter().map(|d| d.destination.as_str()).collect();
    assert_eq!(names, vec!["orders", "payments"]);
    let (orders, payments) = (&m.destinations[0], &m.destinations[1]);
    // orders before: m1, m2, m3 published; m1, m3 received; m2 lost; m3 once extra; 1+0+2 deliveries.
    assert_eq!(orders.before, c(3, 2, 1, 1, 1, 0, 3));
    // orders after: m4, m5, m6 published; m4, m6, u1 received; m5 lost; m6 twice extra; u1 unpublished.
    assert_eq!(orders.after, c(3, 3, 1, 2, 1, 1, 5));
    assert_eq!(orders.total, c(6, 5, 2, 3, 2, 1, 8));
    assert_eq!(payments.before, c(1, 1, 0, 0, 0, 0, 1));
    assert_eq!(payments.after, c(1, 0, 1, 0, 0, 0, 0));
    assert_eq!(m.totals, c(8, 6, 3, 3, 2, 1, 9));
    // Lost by publish time, capped at 2 of 3: m2 (6 s), m5 (23 s); p2 (30 s) left off.
    let lost: Vec<(&str, &str, &str)> = m
        .lost
        .iter()
        .map(|e| (e.destination.as_str(), e.message_id.as_str(), e.side.as_str()))
        .collect();
    assert_eq!(lost, vec![("orders", "m2", "before"), ("orders", "m5", "after")]);
    assert_eq!(m.lost[0].published_at.as_deref(), Some("2026-11-26T12:00:06Z"));
    assert_eq!(m.lost[0].first_delivery_at, None);
    let dup: Vec<(&str, u64, Option<&str>)> = m
        .duplicated
        .iter()
        .map(|e| (e.message_id.as_str(), e.deliveries, e.first_delivery_at.as_deref()))
        .collect();
    assert_eq!(
        dup,
        vec![
            ("m3", 2, Some("2026-11-26T12:00:07.100Z")),
            ("m6", 3, Some("2026-11-26T12:00:24.100Z"))
        ]
    );
    let md = m.markdown();
    assert!(md.contains("| orders after | 3 | 3 | 1 | 2 | 1 |"), "{md}");
    assert!(md.contains("Lost (2 of 3 listed)"), "{md}");
}

#[tokio::test]
async fn without_a_cutover_everything_is_before() {
    let (_dir, spec, analyzer) = open().await;
    let m = messages::measure(&analyzer, &spec, &timeline(None)).await.unwrap();
    assert!(
        m.split_reason
            .as_deref()
            .unwrap()
            .contains("every message counts as before")
    );
    assert_eq!(m.destinations[0].before, c(6, 5, 2, 3, 2, 1, 8));
    assert_eq!(m.destinations[0].after, MessageCounts::default());
    assert_eq!(m.lost[1].side, "before");
}

#[tokio::test]
async fn no_messaging_spans_is_not_measurable_and_the_spec_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &[span(1, "us-east-1", "frontend", 2, T0, 200, vec![])]).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let m = messages::measure(&analyzer, &spec, &timeline(Some(T0))).await.unwrap();
    assert!(m.reason.as_deref().unwrap().contains("messaging.message.id"));
    assert!(m.destinations.is_empty());
    let bad = SPEC.replace("list_limit: 2", "list_limit: 0");
    assert!(
        DrillSpec::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("messages: list_limit")
    );
    let defaults = DrillSpec::parse(&SPEC.replace("messages: { list_limit: 2 }\n", "")).unwrap();
    assert_eq!(defaults.messages.list_limit, 20);
}

#[tokio::test]
async fn messages_delivered_once_leave_no_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let events = [
        msg(1, "orders", "a", "send", 1000),
        msg(2, "orders", "a", "process", 1100),
        msg(3, "orders", "b", "publish", 25_000),
        msg(4, "orders", "b", "receive", 25_100),
    ];
    write_log(dir.path(), &events).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let m = messages::measure(&analyzer, &spec, &timeline(Some(T0 + 20 * S)))
        .await
        .unwrap();
    assert_eq!(m.destinations[0].before, c(1, 1, 0, 0, 0, 0, 1));
    assert_eq!(m.destinations[0].after, c(1, 1, 0, 0, 0, 0, 1));
    assert!(m.lost.is_empty() && m.duplicated.is_empty());
}
