//! The ingest daemon's records of datagrams it lost (service `cutover-ingest`) reach the
//! report's validity section per listener, and are not mistaken for a telemetry stream of the
//! drill (no gap, no "never followed the cutover").

use crate::common::*;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Attribute, Body, EventKind, LogBody, Value};

const SPEC: &str = "name: losses\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 60, rpo_seconds: 1 }\nsli: { services: [web] }\n";

fn drop_record(t: i64, listener: &str, dropped: i64) -> cutover_schemas::Event {
    event(
        EventKind::Log,
        "us-east-1",
        "cutover-ingest",
        T0 + t * S,
        vec![
            Attribute::str("cutover.ingest.receiver", "syslog_udp"),
            Attribute::str("cutover.ingest.listener", listener),
            Attribute {
                key: "cutover.ingest.dropped_datagrams".into(),
                value: Some(Value::Int(dropped)),
            },
        ],
        Body::Log(LogBody {
            severity_number: 13,
            severity_text: "WARN".into(),
            body: "dropped".into(),
        }),
    )
}

#[tokio::test]
async fn lost_datagrams_are_in_the_validity_section_and_not_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = vec![
        marker("fault_injected", "us-east-1", T0 + 60 * S, vec![]),
        marker("dns_cutover", "us-west-2", T0 + 70 * S, vec![]),
    ];
    for t in 0..120 {
        let region = if t < 60 { "us-east-1" } else { "us-west-2" };
        events.push(span((t % 200) as u8 + 1, region, "web", 2, T0 + t * S, 0, vec![]));
    }
    events.push(drop_record(10, "0.0.0.0:514", 5));
    events.push(drop_record(11, "0.0.0.0:514", 2));
    events.push(drop_record(30, "[::]:514", 1));
    write_log(dir.path(), &events).await;
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();

    let losses: Vec<(&str, &str, u64)> = report
        .validity
        .ingest_losses
        .iter()
        .map(|l| (l.receiver.as_str(), l.listener.as_str(), l.dropped_datagrams))
        .collect();
    assert_eq!(
        losses,
        vec![("syslog_udp", "0.0.0.0:514", 7), ("syslog_udp", "[::]:514", 1)]
    );
    assert_eq!(report.validity.ingest_losses[0].first_at, "2026-11-26T12:00:10Z");
    let md = report.to_markdown(None);
    assert!(
        md.contains("**Lost before storing:** 7 datagrams on 0.0.0.0:514 (syslog_udp)"),
        "{md}"
    );
    assert!(
        report.gaps.streams.iter().all(|s| s.service != "cutover-ingest"),
        "{:?}",
        report.gaps.streams.iter().map(|s| &s.key).collect::<Vec<_>>()
    );
    assert!(report.gaps.followed.iter().all(|f| f.service != "cutover-ingest"));
}
