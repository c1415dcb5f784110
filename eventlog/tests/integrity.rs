//! Named tests of the log's integrity rules (crate docs): one writer, torn tail vs corruption,
//! segments that join up, seals and the hash chain, verify, salvage, the durable mark, disk
//! full and health. Each uses the fault a machine produces: a second process, a flipped bit,
//! a removed or cut file, a full disk.

mod common;

use common::segments;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cutover_eventlog::testing::{SimStorage, v1_segment};
use cutover_eventlog::{
    FsyncPolicy, Health, LogConfig, LogError, LogReader, LogWriter, RECORD_HEADER_BYTES, RecoveryScan,
    SEGMENT_HEADER_BYTES, Storage, read_salvage_report, salvage, segment_file_name, verify,
};

fn tiny() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        fsync: FsyncPolicy::Always,
        queue_capacity: 64,
        recovery_scan: RecoveryScan::LastSegment,
        min_free_bytes: 0,
        queue_bytes: 1 << 30,
    }
}

fn big() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        ..tiny()
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("event-{i}-{}", "y".repeat((i % 17) as usize)).into_bytes()
}

/// A log of `n` records, one append (one batch, one fsync) each.
fn log_of(n: u64, config: LogConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), config).unwrap();
    for i in 0..n {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    w.close();
    dir
}

fn read_all(dir: &Path) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
    let mut out = Vec::new();
    LogReader::open(dir)?.for_each(0, |r| out.push((r.seq, r.payload.to_vec())))?;
    Ok(out)
}

fn corrupt_at(r: Result<(LogWriter, cutover_eventlog::Recovery), LogError>) -> (PathBuf, u64, String) {
    match r {
        Err(LogError::Corrupt { path, offset, reason }) => (path, offset, reason),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a damaged log opened for writing"),
    }
}

/// Offset of record `k` in a segment holding records 0.. written one per batch.
fn offset_of(k: u64) -> usize {
    SEGMENT_HEADER_BYTES + (0..k).map(|i| RECORD_HEADER_BYTES + payload(i).len()).sum::<usize>()
}

#[test]
fn one_writer_a_second_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    w.append_blocking(vec![payload(0)]).unwrap();
    match LogWriter::open(dir.path(), tiny()) {
        Err(LogError::Locked { holder, .. }) => {
            assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
        }
        Err(other) => panic!("expected the lock error, got {other}"),
        Ok(_) => panic!("a second writer opened the log"),
    }
    // Readers are never locked out, and the first writer is unharmed.
    assert_eq!(read_all(dir.path()).unwrap().len(), 1);
    w.append_blocking(vec![payload(1)]).unwrap();
    w.close();
    // Once the holder is gone the lock is free.
    let (w, r) = LogWriter::open(dir.path(), tiny()).unwrap();
    assert_eq!(r.records, 2);
    w.close();
}

#[test]
fn flipped_len_bit_mid_active_segment_is_corruption_not_truncation() {
    let dir = log_of(200, big());
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = offset_of(100);
    bytes[at + 2] ^= 0x01; // the len field: announces 64 KiB more than the record holds
    std::fs::write(&seg, &bytes).unwrap();
    let (path, offset, _) = corrupt_at(LogWriter::open(dir.path(), big()));
    assert_eq!((path, offset), (seg.clone(), at as u64));
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was truncated");
    let mut seen = 0;
    let err = LogReader::open(dir.path())
        .unwrap()
        .for_each(0, |_| seen += 1)
        .unwrap_err();
    assert!(
        matches!(err, LogError::Corrupt { offset, .. } if offset == at as u64),
        "{err}"
    );
    assert_eq!(
        seen, 100,
        "the reader hands out the records before the damage, then fails"
    );
}

#[test]
fn flipped_bit_in_the_last_acknowledged_record_is_corruption() {
    // No later record proves the last batch was synced: the durable mark does.
    let dir = log_of(20, big());
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let (_, offset, reason) = corrupt_at(LogWriter::open(dir.path(), big()));
    assert_eq!(offset, offset_of(19) as u64);
    assert!(reason.contains("acknowledged"), "{reason}");
}

#[test]
fn flipped_bit_in_a_sealed_segment_is_corruption_everywhere() {
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let mut bytes = std::fs::read(&segs[1]).unwrap();
    bytes[SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 1] ^= 0x04;
    std::fs::write(&segs[1], &bytes).unwrap();
    let full = LogConfig {
        recovery_scan: RecoveryScan::Full,
        ..tiny()
    };
    let (path, offset, _) = corrupt_at(LogWriter::open(dir.path(), full));
    assert_eq!((path, offset), (segs[1].clone(), SEGMENT_HEADER_BYTES as u64));
    assert!(matches!(read_all(dir.path()), Err(LogError::Corrupt { .. })));
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems); // the record, then the gap after it
    assert_eq!(report.problems[0].path, segs[1]);
    assert_eq!(report.problems[0].offset, SEGMENT_HEADER_BYTES as u64);
    assert!(report.digest.is_none());
}

#[test]
fn segment_removed_from_the_middle_is_an_error_naming_it() {
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[2]).unwrap();
    for scan in [RecoveryScan::LastSegment, RecoveryScan::Full] {
        let config = LogConfig {
            recovery_scan: scan,
            ..tiny()
        };
        let (path, _, reason) = corrupt_at(LogWriter::open(dir.path(), config));
        assert_eq!(path, segs[3]);
        assert!(reason.contains("missing"), "{reason}");
    }
    match read_all(dir.path()) {
        Err(LogError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, segs[3]);
            assert!(reason.contains("are missing"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].path, segs[3]);
}

#[test]
fn first_or_newest_segment_removed_is_an_error() {
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    let first = std::fs::read(&segs[0]).unwrap();
    std::fs::remove_file(&segs[0]).unwrap();
    assert!(
        matches!(read_all(dir.path()), Err(LogError::Corrupt { reason, .. }) if reason.contains("before it are missing"))
    );
    corrupt_at(LogWriter::open(dir.path(), tiny()));
    std::fs::write(&segs[0], first).unwrap();
    let newest = segs.last().unwrap();
    std::fs::remove_file(newest).unwrap();
    // The durable mark names the removed segment's records.
    assert!(matches!(read_all(dir.path()), Err(LogError::Corrupt { reason, .. }) if reason.contains("missing")));
    corrupt_at(LogWriter::open(dir.path(), tiny()));
}

#[test]
fn sealed_segment_cut_at_a_record_boundary_is_an_error() {
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    let len = std::fs::metadata(&segs[1]).unwrap().len();
    // Drop the seal (and so the segment's end): a copy cut short at a record boundary.
    let cut = len - (RECORD_HEADER_BYTES + cutover_eventlog::SEAL_PAYLOAD_BYTES) as u64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[1])
        .unwrap()
        .set_len(cut)
        .unwrap();
    let (path, _, reason) = corrupt_at(LogWriter::open(dir.path(), tiny()));
    assert_eq!(path, segs[1]);
    assert!(reason.contains("seal"), "{reason}");
    match read_all(dir.path()) {
        Err(LogError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, segs[1]);
            assert!(reason.contains("without its seal"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn active_segment_cut_at_a_record_boundary_is_an_error() {
    let dir = log_of(30, big());
    let seg = segments(dir.path()).pop().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(offset_of(25) as u64)
        .unwrap();
    let (_, _, reason) = corrupt_at(LogWriter::open(dir.path(), big()));
    assert!(reason.contains("durable"), "{reason}");
    assert!(matches!(read_all(dir.path()), Err(LogError::Corrupt { .. })));
}

#[test]
fn an_edited_sealed_segment_breaks_its_content_hash() {
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    // Change one payload byte and fix the record's CRC32C, as a forger would.
    let at = SEGMENT_HEADER_BYTES;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    bytes[at + RECORD_HEADER_BYTES] ^= 0x20;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c_append(
            crc32c::crc32c(&bytes[at..at + 4]),
            &bytes[at + 8..at + RECORD_HEADER_BYTES],
        ),
        &bytes[at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + len],
    );
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segs[0], &bytes).unwrap();
    match read_all(dir.path()) {
        Err(LogError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, segs[0]);
            assert!(reason.contains("edited after sealing"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.what.contains("edited")),
        "{:?}",
        report.problems
    );
}

#[test]
fn segments_are_sealed_and_chained_and_the_head_is_reproducible() {
    let dir = log_of(60, tiny());
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let n = report.segments.len();
    assert!(n >= 4);
    assert!(report.segments[..n - 1].iter().all(|s| s.sealed));
    assert!(!report.segments[n - 1].sealed);
    let digest = report.digest.unwrap();
    assert_eq!((digest.first_seq, digest.next_seq), (0, 60));
    let read = LogReader::open(dir.path()).unwrap().read(0, |_| {}).unwrap();
    assert_eq!(read.head, digest.head);
    assert!(read.head.is_some());
    // One more record moves the head.
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    w.append_blocking(vec![payload(60)]).unwrap();
    w.close();
    let after = LogReader::open(dir.path()).unwrap().read(0, |_| {}).unwrap();
    assert_eq!(after.next_seq, 61);
    assert_ne!(after.head, read.head);
    // Swapping two sealed segments' names is caught by the chain even though each is whole.
    let segs = segments(dir.path());
    let a = std::fs::read(&segs[0]).unwrap();
    let b = std::fs::read(&segs[1]).unwrap();
    std::fs::write(&segs[0], &b).unwrap();
    std::fs::write(&segs[1], &a).unwrap();
    assert!(matches!(read_all(dir.path()), Err(LogError::Corrupt { .. })));
}

#[test]
fn salvage_copies_every_valid_record_and_lists_each_lost_range() {
    let dir = log_of(200, big());
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = offset_of(100);
    bytes[at + 2] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("log");
    let report = salvage(dir.path(), &dst, |_, _| {}).unwrap();
    assert_eq!(report.copied, 199);
    assert_eq!(report.lost.len(), 1, "{:?}", report.lost);
    let lost = &report.lost[0];
    assert_eq!((lost.from_seq, lost.to_seq), (100, Some(101)));
    assert_eq!(lost.from_offset, at as u64);
    assert_eq!(lost.to_offset, offset_of(101) as u64);
    assert!(lost.acknowledged);
    let got = read_all(&dst).unwrap();
    assert_eq!(got.len(), 199);
    assert_eq!(got[99].1, payload(99));
    assert_eq!(got[100].1, payload(101));
    assert_eq!(read_salvage_report(&dst).unwrap(), Some(report));
    assert!(verify(&dst, |_, _| {}).unwrap().problems.is_empty());
    // A missing middle segment is a lost range of sequence numbers.
    let dir = log_of(60, tiny());
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[1]).unwrap();
    let dst = out.path().join("log2");
    let report = salvage(dir.path(), &dst, |_, _| {}).unwrap();
    let base1: u64 = segs[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let base2: u64 = segs[2].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(report.lost.len(), 1);
    assert_eq!((report.lost[0].from_seq, report.lost[0].to_seq), (base1, Some(base2)));
    assert_eq!(report.copied, 60 - (base2 - base1));
    // Salvage never writes into an existing log.
    assert!(salvage(dir.path(), &dst, |_, _| {}).is_err());
}

#[test]
fn version_1_log_is_read_refused_for_append_and_upgraded_by_salvage() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(segment_file_name(0)), v1_segment(0, &[b"a", b"bb"])).unwrap();
    std::fs::write(dir.path().join(segment_file_name(2)), v1_segment(2, &[b"ccc"])).unwrap();
    let got = read_all(dir.path()).unwrap();
    assert_eq!(
        got.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]
    );
    assert!(matches!(
        LogWriter::open(dir.path(), tiny()),
        Err(LogError::OldFormat { .. })
    ));
    let out = tempfile::tempdir().unwrap();
    let report = salvage(dir.path(), out.path(), |_, _| {}).unwrap();
    assert_eq!((report.copied, report.lost.len()), (3, 0));
    assert_eq!(read_all(out.path()).unwrap(), got);
    let (w, r) = LogWriter::open(out.path(), tiny()).unwrap();
    assert_eq!(r.records, 3);
    w.close();
}

#[test]
fn readers_see_only_durable_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        fsync: FsyncPolicy::Interval {
            interval: std::time::Duration::from_secs(3600),
        },
        ..big()
    };
    let (w, _) = LogWriter::open(dir.path(), config).unwrap();
    w.append_blocking(vec![payload(0), payload(1)]).unwrap(); // acknowledged, not yet synced
    assert_eq!(w.stats().durable_seq, 0);
    assert_eq!(
        read_all(dir.path()).unwrap().len(),
        0,
        "a reader saw records a power loss can take"
    );
    w.close(); // syncs
    assert_eq!(read_all(dir.path()).unwrap().len(), 2);
}

#[test]
fn disk_full_refuses_without_losing_acknowledged_data_and_resumes() {
    let sim = SimStorage::new(7);
    let dir = Path::new("/sim/log");
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let (w, _) = LogWriter::open_with_storage(dir, tiny(), storage.clone()).unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        w.append_blocking(vec![payload(i)]).unwrap();
        acked.push(payload(i));
    }
    // The disk fills up: ENOSPC in the middle of a write.
    let used: u64 = sim_used(&sim, dir);
    sim.set_capacity(Some(used + 30));
    let err = w.append_blocking(vec![payload(100), payload(101)]).unwrap_err();
    assert!(matches!(err, LogError::NoSpace { .. }), "{err}");
    assert!(err.is_transient());
    assert!(matches!(w.health(), Health::OutOfSpace { .. }), "{:?}", w.health());
    // Nothing half written stays behind, and every acknowledged record is readable.
    let reader = LogReader::open_with_storage(dir, storage.clone()).unwrap();
    let mut got = Vec::new();
    reader.for_each(0, |r| got.push(r.payload.to_vec())).unwrap();
    assert_eq!(got, acked);
    // Space returns: the writer notices by itself, and appends continue where they stopped.
    sim.set_capacity(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while w.health() != Health::Ok && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(w.health(), Health::Ok);
    let r = w.append_blocking(vec![payload(20)]).unwrap();
    assert_eq!(r.first_seq, 20);
    w.close();
    let (w, rec) = LogWriter::open_with_storage(dir, tiny(), storage.clone()).unwrap();
    assert_eq!(rec.records, 21);
    assert_eq!(rec.truncated_bytes, 0);
    w.close();
}

#[test]
fn disk_full_during_a_roll_loses_nothing() {
    // Fill the disk at every possible point of a workload that rolls often.
    for slack in (0..600).step_by(7) {
        let sim = SimStorage::new(slack);
        let dir = Path::new("/sim/log");
        let storage: Arc<dyn Storage> = Arc::new(sim.clone());
        let (w, _) = LogWriter::open_with_storage(dir, tiny(), storage.clone()).unwrap();
        sim.set_capacity(Some(sim_used(&sim, dir) + slack));
        let mut acked = Vec::new();
        for i in 0..40 {
            match w.append_blocking(vec![payload(i)]) {
                Ok(r) => {
                    assert_eq!(r.first_seq, acked.len() as u64);
                    acked.push(payload(i));
                }
                Err(LogError::NoSpace { .. }) => {}
                Err(e) => panic!("slack {slack}: {e}"),
            }
        }
        assert_ne!(w.health(), Health::Stopped);
        assert!(
            !matches!(w.health(), Health::Poisoned { .. }),
            "slack {slack}: {:?}",
            w.health()
        );
        w.close();
        sim.set_capacity(None);
        let (w, _) = LogWriter::open_with_storage(dir, tiny(), storage.clone()).unwrap();
        w.close();
        let mut got = Vec::new();
        LogReader::open_with_storage(dir, storage)
            .unwrap()
            .for_each(0, |r| got.push(r.payload.to_vec()))
            .unwrap();
        assert_eq!(got, acked, "slack {slack}");
    }
}

fn sim_used(sim: &SimStorage, dir: &Path) -> u64 {
    sim.list(dir)
        .unwrap()
        .iter()
        .map(|n| sim.len(&dir.join(n)).unwrap())
        .sum()
}

#[test]
fn restart_after_a_failed_fsync_does_not_build_on_unwritten_pages() {
    let sim = SimStorage::new(3);
    let dir = Path::new("/sim/log");
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let (w, _) = LogWriter::open_with_storage(dir, big(), storage.clone()).unwrap();
    for i in 0..5 {
        w.append_blocking(vec![payload(i)]).unwrap();
    }
    sim.fail_syncs_after(0);
    assert!(matches!(
        w.append_blocking(vec![payload(5)]),
        Err(LogError::Poisoned { operation: "fsync" })
    ));
    assert!(matches!(w.health(), Health::Poisoned { .. }));
    w.close();
    sim.heal();
    // The failed record's pages are still in the (simulated) page cache but not on disk. A
    // restart must read the disk: the record is gone, and the next append takes its number.
    let (w, rec) = LogWriter::open_with_storage(dir, big(), storage.clone()).unwrap();
    assert_eq!(rec.records, 5);
    assert_eq!(w.append_blocking(vec![b"next".to_vec()]).unwrap().first_seq, 5);
    w.close();
    // And after a power loss the log still holds exactly that.
    sim.power_loss();
    let mut got = Vec::new();
    let (w, _) = LogWriter::open_with_storage(dir, big(), storage.clone()).unwrap();
    w.close();
    LogReader::open_with_storage(dir, storage)
        .unwrap()
        .for_each(0, |r| got.push(r.payload.to_vec()))
        .unwrap();
    assert_eq!(got.len(), 6);
    assert_eq!(got[5], b"next".to_vec());
}

#[test]
fn health_reports_a_writer_thread_that_died() {
    let sim = SimStorage::new(11);
    let dir = Path::new("/sim/log");
    let (w, _) = LogWriter::open_with_storage(dir, tiny(), Arc::new(sim.clone())).unwrap();
    w.append_blocking(vec![payload(0)]).unwrap();
    assert_eq!(w.health(), Health::Ok);
    sim.panic_on_next_write();
    assert!(matches!(w.append_blocking(vec![payload(1)]), Err(LogError::Closed)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w.health() != Health::Stopped && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(w.health(), Health::Stopped);
}

#[test]
fn health_reports_a_writer_stalled_behind_its_queue() {
    let sim = SimStorage::new(12);
    let dir = Path::new("/sim/log");
    let (w, _) = LogWriter::open_with_storage(dir, tiny(), Arc::new(sim.clone())).unwrap();
    let w = Arc::new(w);
    sim.delay_writes(Some(std::time::Duration::from_secs(7)));
    let writer = w.clone();
    let t = std::thread::spawn(move || writer.append_blocking(vec![payload(0)]));
    std::thread::sleep(std::time::Duration::from_millis(5500));
    match w.health() {
        Health::Stalled { queued, since } => {
            assert_eq!(queued, 1);
            assert!(since >= std::time::Duration::from_secs(5), "{since:?}");
        }
        other => panic!("expected a stalled writer, got {other:?}"),
    }
    sim.delay_writes(None);
    assert_eq!(t.join().unwrap().unwrap().first_seq, 0);
    assert_eq!(w.health(), Health::Ok);
}

#[test]
fn health_is_ok_while_the_writer_keeps_up() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = LogWriter::open(dir.path(), tiny()).unwrap();
    assert_eq!(w.health(), Health::Ok);
    w.append_blocking(vec![payload(0)]).unwrap();
    assert_eq!(w.health(), Health::Ok);
    // The writer answers a request, then counts it out of the queue: right after the answer
    // the count may still say 1 for a moment (this assertion raced on a loaded machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w.stats().queued != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(w.stats().queued, 0);
    assert_eq!(w.stats().durable_seq, 1);
}
