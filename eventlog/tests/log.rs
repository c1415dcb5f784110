//! Model and crash tests of the event log.

mod common;

use common::segments;
use std::path::Path;
use std::sync::Arc;

use cutover_eventlog::testing::{FailingSyncStorage, event_record};
use cutover_eventlog::{
    FsyncPolicy, Health, LogConfig, LogError, LogReader, LogWriter, RECORD_HEADER_BYTES, RecoveryScan,
    SEGMENT_HEADER_BYTES, segment_file_name,
};
use proptest::prelude::*;

fn tiny() -> LogConfig {
    LogConfig {
        segment_bytes: 256,
        fsync: FsyncPolicy::Always,
        queue_capacity: 64,
        recovery_scan: RecoveryScan::LastSegment,
        min_free_bytes: 0,
        queue_bytes: 1 << 30,
    }
}

fn read_all(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    LogReader::open(dir)
        .unwrap()
        .for_each(0, |r| out.push((r.seq, r.payload.to_vec())))
        .unwrap();
    out
}

fn payload(i: u64) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat((i % 40) as usize)).into_bytes()
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    Reopen,
    /// A crash mid-write: the bytes of a record that was never acknowledged, cut after `cut`
    /// bytes, left at the end of the active segment.
    TornAppend(Vec<u8>, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let rec = proptest::collection::vec(any::<u8>(), 1..60);
    prop_oneof![
        4 => proptest::collection::vec(rec.clone(), 1..6).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => (rec, 1usize..1000).prop_map(|(r, c)| Op::TornAppend(r, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let (mut w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
        for op in ops {
            match op {
                Op::Append(recs) => {
                    let n = recs.len() as u64;
                    let receipt = w.append_blocking(recs.clone()).unwrap();
                    prop_assert_eq!(receipt.first_seq, model.len() as u64);
                    prop_assert_eq!(receipt.count, n);
                    model.extend(recs);
                }
                Op::Reopen => {
                    w.close();
                    let (nw, rec) = LogWriter::open(dir.path(), tiny()).unwrap();
                    prop_assert_eq!(rec.records, model.len() as u64);
                    prop_assert_eq!(rec.truncated_bytes, 0);
                    w = nw;
                }
                Op::TornAppend(rec, cut) => {
                    w.close();
                    let last = segments(dir.path()).pop().unwrap();
                    let len = std::fs::metadata(&last).unwrap().len();
                    let frame = event_record(model.len() as u64, len, &rec);
                    let cut = (cut % frame.len()).max(1);
                    let mut f = std::fs::OpenOptions::new().append(true).open(&last).unwrap();
                    std::io::Write::write_all(&mut f, &frame[..cut]).unwrap();
                    drop(f);
                    let (nw, recovery) = LogWriter::open(dir.path(), tiny()).unwrap();
                    prop_assert_eq!(recovery.truncated_bytes, cut as u64);
                    prop_assert_eq!(recovery.records, model.len() as u64);
                    w = nw;
                }
            }
            let got = read_all(dir.path());
            prop_assert_eq!(got.len(), model.len());
            for (i, (seq, p)) in got.iter().enumerate() {
                prop_assert_eq!(*seq, i as u64);
                prop_assert_eq!(p, &model[i]);
            }
        }
    }
}

#[test]
fn rolling_really_happens_with_tiny_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    for i in 0..50 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    let segs = segments(dir.path());
    assert!(segs.len() >= 5, "only {} segments", segs.len());
    assert_eq!(segs[0].file_name().unwrap(), segment_file_name(0).as_str());
    let got = read_all(dir.path());
    assert_eq!(got.len(), 50);
    assert_eq!(got[49], (49, payload(49)));
}

#[test]
fn crash_torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    };
    let (w, _) = LogWriter::open(dir.path(), config.clone()).unwrap();
    for i in 0..10 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    // A batch the writer was writing when it died: never synced, never acknowledged.
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut torn = event_record(10, len, &payload(10));
    torn.extend(event_record(11, len, &payload(11)));
    torn.truncate(torn.len() - 5);
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &torn).unwrap();
    drop(f);
    // Record 10 reached the file whole: it is kept (and made durable); record 11 is cut.
    let (w, recovery) = LogWriter::open(dir.path(), config).unwrap();
    assert_eq!(recovery.records, 11);
    assert_eq!(
        recovery.truncated_bytes,
        (RECORD_HEADER_BYTES + payload(11).len() - 5) as u64
    );
    let receipt = w.append_blocking(vec![b"after".to_vec()]).unwrap();
    assert_eq!(receipt.first_seq, 11);
    w.close();
    let got = read_all(dir.path());
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
    assert_eq!(got[10].1, payload(10));
    assert_eq!(got[11].1, b"after".to_vec());
}

#[test]
fn crash_acknowledged_record_cut_short_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    };
    let (w, _) = LogWriter::open(dir.path(), config.clone()).unwrap();
    for i in 0..10 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let before = std::fs::read(&seg).unwrap();
    match LogWriter::open(dir.path(), config) {
        Err(LogError::Corrupt { path, offset, reason }) => {
            assert_eq!(path, seg);
            assert_eq!(offset, len - (RECORD_HEADER_BYTES + payload(9).len()) as u64);
            assert!(reason.contains("acknowledged"), "{reason}");
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a log missing an acknowledged record opened"),
    }
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        before,
        "the failed open modified the segment"
    );
    let err = LogReader::open(dir.path()).unwrap().for_each(0, |_| {}).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
}

#[test]
fn crash_mid_log_corruption_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    };
    let (w, _) = LogWriter::open(dir.path(), config.clone()).unwrap();
    let mut offsets = vec![];
    let mut off = SEGMENT_HEADER_BYTES;
    for i in 0..10 {
        offsets.push(off);
        off += RECORD_HEADER_BYTES + payload(i).len();
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[offsets[3] + RECORD_HEADER_BYTES + 2] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    match LogWriter::open(dir.path(), config) {
        Err(LogError::Corrupt { offset, .. }) => assert_eq!(offset, offsets[3] as u64),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("corrupt log opened"),
    }
    // The reader hands out the records before the damage, then fails.
    let mut seen = vec![];
    let err = LogReader::open(dir.path())
        .unwrap()
        .for_each(0, |r| seen.push(r.seq))
        .unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }));
    assert_eq!(seen, vec![0, 1, 2]);
    // The file was not modified by the failed open.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn crash_torn_record_in_sealed_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    for i in 0..40 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    let first = segments(dir.path()).remove(0);
    let len = std::fs::metadata(&first).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    // Both scans refuse to open: the default one reads every sealed segment's seal.
    for scan in [RecoveryScan::Full, RecoveryScan::LastSegment] {
        let config = LogConfig {
            recovery_scan: scan,
            ..tiny()
        };
        match LogWriter::open(dir.path(), config) {
            Err(LogError::Corrupt { path, .. }) => assert_eq!(path, first),
            Err(other) => panic!("{scan:?}: expected corruption, got {other}"),
            Ok(_) => panic!("{scan:?}: a cut sealed segment opened"),
        }
    }
    let mut seen = 0;
    let err = LogReader::open(dir.path())
        .unwrap()
        .for_each(0, |_| seen += 1)
        .unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    assert!(seen < 40);
}

#[test]
fn crash_fsync_failure_poisons_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    };
    // Creating segment 0 takes one sync; then three appends succeed and the fifth sync fails.
    let storage = Arc::new(FailingSyncStorage::new(4));
    let (w, _) = LogWriter::open_with_storage(dir.path(), config.clone(), storage.clone()).unwrap();
    for i in 0..3 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    assert_eq!(w.health(), Health::Ok);
    let err = w.append_blocking(vec![payload(3)]).unwrap_err();
    assert!(matches!(err, LogError::Poisoned { operation: "fsync" }), "{err}");
    assert_eq!(w.health(), Health::Poisoned { operation: "fsync" });
    // No retry: later appends fail without touching the disk.
    let syncs_before = storage.syncs();
    assert!(matches!(
        w.append_blocking(vec![payload(4)]),
        Err(LogError::Poisoned { .. })
    ));
    assert_eq!(storage.syncs(), syncs_before);
    w.close();
    // The acknowledged records survive; the unacknowledged one was written but never
    // confirmed, so a reopen may keep it: the contract is only that acknowledged ones exist.
    let got = read_all(dir.path());
    assert_eq!(&got[..3], &[(0, payload(0)), (1, payload(1)), (2, payload(2))]);
    assert!(got.len() <= 4);
}

#[test]
fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    };
    let (w, _) = LogWriter::open(dir.path(), config).unwrap();
    let w = Arc::new(w);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    loop {
                        match w.append_blocking(vec![payload(t * 1000 + i)]) {
                            Ok(_) => break,
                            Err(LogError::Overloaded) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = w.stats();
    assert_eq!(stats.records, 400);
    assert!(stats.fsyncs < 400, "every append had its own fsync: {stats:?}");
    drop(w);
    let got = read_all(dir.path());
    assert_eq!(got.len(), 400);
    let mut payloads: Vec<_> = got.into_iter().map(|r| r.1).collect();
    payloads.sort();
    let mut expected: Vec<_> = (0..8u64)
        .flat_map(|t| (0..50).map(move |i| payload(t * 1000 + i)))
        .collect();
    expected.sort();
    assert_eq!(payloads, expected);
}

#[test]
fn reader_follows_a_growing_log() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    w.append_blocking((0..5).map(payload).collect()).unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let mut seen = vec![];
    let next = reader.for_each(0, |r| seen.push(r.seq)).unwrap();
    assert_eq!(next, 5);
    w.append_blocking((5..30).map(payload).collect()).unwrap();
    let next = reader.for_each(next, |r| seen.push(r.seq)).unwrap();
    assert_eq!(next, 30);
    assert_eq!(seen, (0..30).collect::<Vec<_>>());
}

#[test]
fn oversized_and_empty_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    assert!(matches!(
        w.append_blocking(vec![vec![]]),
        Err(LogError::RecordSize { len: 0, .. })
    ));
    assert_eq!(w.append_blocking(vec![b"ok".to_vec()]).unwrap().first_seq, 0);
}

#[test]
fn interval_policy_acknowledges_before_fsync_and_syncs_later() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        fsync: FsyncPolicy::Interval {
            interval: std::time::Duration::from_millis(20),
        },
        queue_capacity: 64,
        recovery_scan: RecoveryScan::Full,
        min_free_bytes: 0,
        queue_bytes: 1 << 30,
    };
    let (w, _) = LogWriter::open(dir.path(), config).unwrap();
    for i in 0..20 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    let after_appends = w.stats().fsyncs;
    assert!(after_appends < 20, "interval policy synced every append");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w.stats().fsyncs == after_appends && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(w.stats().fsyncs > after_appends, "pending data was never synced");
    w.close();
    assert_eq!(read_all(dir.path()).len(), 20);
}
