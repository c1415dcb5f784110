//! The parallel replay against a plain sequential one: a log of many small segments, with
//! duplicate spans inside and across segments, an undecodable record and an unknown kind.

use std::collections::HashSet;

use crate::common::*;
use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use cutover_analyzer::Analyzer;
use cutover_eventlog::{LogConfig, LogReader, LogWriter};
use cutover_schemas::{Attribute, Body, Event, EventKind, LogBody, MetricBody, Value};

fn events() -> Vec<Event> {
    let mut out = vec![];
    for i in 0..600i64 {
        let t = 1_000_000_000_000 + i * 1_000_000_000;
        let n = (i % 200) as u8; // span ids repeat every 200 events: copies across segments
        let mut s = span(n, "r1", "frontend", 2, t, 200, vec![Attribute::int("i", i)]);
        s.attributes.push(Attribute {
            key: "d".into(),
            value: Some(Value::Double(i as f64 / 4.0)),
        });
        out.push(s);
        let metric = Body::Metric(MetricBody {
            name: "cpu".into(),
            value: i as f64,
            ..Default::default()
        });
        out.push(event(EventKind::MetricPoint, "r2", "api", t, vec![], metric));
        if i % 50 == 0 {
            let log = Body::Log(LogBody {
                severity_number: 9,
                severity_text: "INFO".into(),
                body: format!("line {i}"),
            });
            out.push(event(EventKind::Log, "r1", "api", t, vec![], log));
        }
    }
    let mut unknown = out[1].clone();
    unknown.kind = 99;
    out.push(unknown);
    out
}

/// Spans the replay must keep: the seq of the first copy of each (trace_id, span_id).
fn first_copies(log: &std::path::Path) -> (Vec<u64>, u64) {
    let mut seen = HashSet::new();
    let (mut kept, mut undecodable) = (vec![], 0);
    LogReader::open(log)
        .unwrap()
        .for_each(0, |rec| match Event::from_bytes(rec.payload) {
            Ok(e) if e.event_kind() == EventKind::Span => {
                if seen.insert((e.trace_id.clone(), e.span_id.clone())) {
                    kept.push(rec.seq);
                }
            }
            Ok(_) => {}
            Err(_) => undecodable += 1,
        })
        .unwrap();
    (kept, undecodable)
}

#[tokio::test]
async fn parallel_replay_matches_a_sequential_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let config = LogConfig {
        segment_bytes: 8 * 1024,
        ..Default::default()
    };
    let (w, _) = LogWriter::open(&log, config).unwrap();
    let mut records: Vec<Vec<u8>> = events().iter().map(|e| e.to_bytes()).collect();
    records.insert(5, vec![0xff, 0xff, 0xff]); // not an event
    let written = records.len() as u64;
    for chunk in records.chunks(40) {
        w.append(chunk.to_vec()).await.unwrap();
    }
    w.close();
    let segments = std::fs::read_dir(&log).unwrap().count();
    assert!(segments > 10, "only {segments} segments");

    let (kept, undecodable) = first_copies(&log);
    assert_eq!((kept.len(), undecodable), (200, 1));
    let tables = cutover_analyzer::tables::replay(&log, None).unwrap();
    assert!(tables.spans.batches.len() > 5, "one batch per segment");
    assert_eq!(tables.stats.records, written);
    assert_eq!(tables.stats.undecodable, 1);
    assert_eq!(tables.stats.other_kinds, 1);
    assert_eq!(tables.stats.duplicate_spans, 400);
    assert_eq!(tables.metric_points.num_rows(), 600);
    assert_eq!(tables.logs.num_rows(), 12);

    let analyzer = Analyzer::open(dir.path(), None).await.unwrap();
    let rows = analyzer
        .sql("SELECT seq, attributes['i'] AS i, attributes['d'] AS d FROM spans ORDER BY seq")
        .await
        .unwrap();
    let b = arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap();
    let seqs: Vec<u64> = b.column(0).as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(seqs, kept);
    // Attribute values render as the sequential replay rendered them.
    let (i, d) = (b.column(1).as_string::<i32>(), b.column(2).as_string::<i32>());
    assert_eq!((i.value(3), d.value(3)), ("3", "0.75"));
    assert_eq!((i.value(199), d.value(199)), ("199", "49.75"));
    assert!(!i.is_null(0));
}

/// `Tail` (the SQL endpoint's live reader) against full replays: after each append, what it
/// read equals a replay of the log at that point (rows, seqs, duplicate spans dropped across
/// reads, head hash), and it reads only the new records.
#[tokio::test]
async fn a_tail_equals_a_full_replay_after_every_append() {
    use cutover_analyzer::tables::{Tables, Tail, replay};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Nothing there yet: empty tables, nothing to read.
    let mut tail = Tail::start(&log, None).unwrap();
    assert_eq!((tail.next_seq(), tail.tables().spans.num_rows()), (0, 0));
    assert!(!tail.has_more().unwrap());
    let config = LogConfig {
        segment_bytes: 8 * 1024,
        ..Default::default()
    };
    let (w, _) = LogWriter::open(&log, config).unwrap();
    let records: Vec<Vec<u8>> = events().iter().map(|e| e.to_bytes()).collect();
    let seqs = |t: &Tables| -> Vec<u64> {
        t.spans
            .batches
            .iter()
            .flat_map(|b| {
                let i = b.schema().index_of("seq").unwrap();
                b.column(i).as_primitive::<UInt64Type>().values().to_vec()
            })
            .collect()
    };
    let mut total = 0u64;
    // Uneven chunks: a chunk ends inside a segment and spans copies cross chunks.
    for chunk in [&records[..37], &records[37..400], &records[400..401], &records[401..]] {
        w.append(chunk.to_vec()).await.unwrap();
        total += chunk.len() as u64;
        assert!(tail.has_more().unwrap());
        assert_eq!(tail.advance().unwrap(), chunk.len() as u64);
        assert!(!tail.has_more().unwrap());
        assert_eq!(tail.advance().unwrap(), 0);
        let full = replay(&log, None).unwrap();
        let t = tail.tables();
        assert_eq!(t.stats.records, total);
        assert_eq!(t.stats, full.stats, "stats after {total} records");
        assert_eq!(seqs(t), seqs(&full));
        for (a, b) in t.all().iter().zip(full.all()) {
            assert_eq!(a.num_rows(), b.num_rows());
        }
    }
    w.close();
    assert_eq!(tail.tables().stats.duplicate_spans, 400);
    assert_eq!(tail.tables().metric_points.num_rows(), 600);
}

/// Every field the receivers keep reaches its table column (issue: telemetry dropped without
/// a word): span `trace_state`; metric start time, temporality, histogram buckets, min/max,
/// exponential buckets, exemplars, instance and resource attributes; alert group fields and
/// truncated alerts; remote_write metadata.
#[tokio::test]
async fn kept_telemetry_fields_reach_the_tables() {
    use cutover_schemas::{AlertBody, Exemplar, ExponentialBuckets, MetricMetadataBody};
    let dir = tempfile::tempdir().unwrap();
    let mut sp = span(1, "r1", "frontend", 2, T0, 200, vec![]);
    if let Some(Body::Span(b)) = &mut sp.body {
        b.trace_state = "ot=th:e;rv:0123456789abcd".into();
    }
    let mut hist = event(
        EventKind::MetricPoint,
        "r1",
        "frontend",
        T0 + S,
        vec![Attribute::str("route", "/")],
        Body::Metric(MetricBody {
            name: "http.server.request.duration".into(),
            metric_type: "histogram".into(),
            value: 1.75,
            count: 4,
            start_time_unix_nano: T0 - 60 * S,
            temporality: 2,
            bucket_bounds: vec![0.1, 0.5],
            bucket_counts: vec![1, 2, 1],
            min: Some(0.05),
            max: Some(0.9),
            exemplars: vec![Exemplar {
                time_unix_nano: T0 + 500 * MS,
                value: 0.9,
                trace_id: vec![1; 16],
                span_id: vec![1; 8],
                attributes: vec![Attribute::str("user", "u1")],
            }],
            ..Default::default()
        }),
    );
    hist.resource_attributes = vec![
        Attribute::str("service.instance.id", "pod-a"),
        Attribute::str("host.name", "node-1"),
    ];
    let exp = event(
        EventKind::MetricPoint,
        "r1",
        "frontend",
        T0 + 2 * S,
        vec![],
        Body::Metric(MetricBody {
            name: "latency.exp".into(),
            metric_type: "exponential_histogram".into(),
            temporality: 1,
            exponential: Some(ExponentialBuckets {
                scale: -1,
                zero_count: 2,
                zero_threshold: 0.0,
                positive_offset: -3,
                positive_counts: vec![4, 5],
                negative_offset: 0,
                negative_counts: vec![],
            }),
            ..Default::default()
        }),
    );
    let alert = event(
        EventKind::Alert,
        "r1",
        "frontend",
        T0 + 3 * S,
        vec![Attribute::str("alertname", "HighErrorRate")],
        Body::Alert(AlertBody {
            status: "firing".into(),
            alertname: "HighErrorRate".into(),
            group_key: "{}:{alertname=\"HighErrorRate\"}".into(),
            group_labels_json: r#"{"alertname":"HighErrorRate"}"#.into(),
            truncated_alerts: 3,
            ..Default::default()
        }),
    );
    let metadata = event(
        EventKind::MetricMetadata,
        "r1",
        "",
        T0 + 4 * S,
        vec![],
        Body::MetricMetadata(MetricMetadataBody {
            name: "http_requests_total".into(),
            metric_type: "counter".into(),
            unit: String::new(),
            help: "Requests served.".into(),
        }),
    );
    write_log(dir.path(), &[sp, hist, exp, alert, metadata]).await;
    let analyzer = Analyzer::open(dir.path(), None).await.unwrap();
    let mut got = Vec::new();
    for sql in [
        "SELECT trace_state FROM spans",
        "SELECT name, start_time, temporality, bucket_bounds, bucket_counts, min, max, instance, \
         resource_attributes['host.name'] AS host FROM metric_points ORDER BY time",
        "SELECT exponential FROM metric_points WHERE exponential IS NOT NULL",
        "SELECT unnest(exemplars) AS x FROM metric_points WHERE exemplars IS NOT NULL",
        "SELECT group_key, group_labels, truncated_alerts FROM alerts",
        "SELECT time, name, metric_type, unit, help FROM metric_metadata",
    ] {
        let b = analyzer.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        got.push(arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string());
    }
    let got = got.join("\n");
    let want = r#"+---------------------------+
| trace_state               |
+---------------------------+
| ot=th:e;rv:0123456789abcd |
+---------------------------+
+------------------------------+----------------------+-------------+---------------+---------------+------+-----+----------+--------+
| name                         | start_time           | temporality | bucket_bounds | bucket_counts | min  | max | instance | host   |
+------------------------------+----------------------+-------------+---------------+---------------+------+-----+----------+--------+
| http.server.request.duration | 2026-11-26T11:59:00Z | cumulative  | [0.1, 0.5]    | [1, 2, 1]     | 0.05 | 0.9 | pod-a    | node-1 |
| latency.exp                  |                      | delta       |               |               |      |     |          |        |
+------------------------------+----------------------+-------------+---------------+---------------+------+-----+----------+--------+
+------------------------------------------------------------------------------------------------------------------------------+
| exponential                                                                                                                  |
+------------------------------------------------------------------------------------------------------------------------------+
| {"negative":{"counts":[],"offset":0},"positive":{"counts":[4,5],"offset":-3},"scale":-1,"zero_count":2,"zero_threshold":0.0} |
+------------------------------------------------------------------------------------------------------------------------------+
+---------------------------------------------------------------------------------------------------------------------+
| x                                                                                                                   |
+---------------------------------------------------------------------------------------------------------------------+
| {time: 2026-11-26T12:00:00.500Z, value: 0.9, trace_id: 01010101010101010101010101010101, span_id: 0101010101010101} |
+---------------------------------------------------------------------------------------------------------------------+
+--------------------------------+-------------------------------+------------------+
| group_key                      | group_labels                  | truncated_alerts |
+--------------------------------+-------------------------------+------------------+
| {}:{alertname="HighErrorRate"} | {"alertname":"HighErrorRate"} | 3                |
+--------------------------------+-------------------------------+------------------+
+----------------------+---------------------+-------------+------+------------------+
| time                 | name                | metric_type | unit | help             |
+----------------------+---------------------+-------------+------+------------------+
| 2026-11-26T12:00:04Z | http_requests_total | counter     |      | Requests served. |
+----------------------+---------------------+-------------+------+------------------+"#;
    assert_eq!(got, want, "\n{got}");
}
