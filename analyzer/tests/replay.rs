//! The parallel replay against a plain sequential one: a log of many small segments, with
//! duplicate spans inside and across segments, an undecodable record and an unknown kind.

mod common;

use std::collections::HashSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use common::*;
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
