//! `cutover verify`: every record, every seal and the chain, reporting every damage found
//! rather than stopping at the first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::LogError;
use crate::format::{self, Digest, Hwm, ScanEnd, ScanOptions, SegmentScan};
use crate::fs::{OsStorage, Storage};
use crate::reader::{LogReader, PlannedSegment};

/// One damage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or the log directory, for a damage between files).
    pub path: PathBuf,
    /// Byte offset in it.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}: {}", self.path.display(), self.offset, self.what)
    }
}

/// What was checked in one segment.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// Base sequence number.
    pub base: u64,
    /// Valid event records read.
    pub records: u64,
    /// Bytes checked.
    pub bytes: u64,
    /// Format version.
    pub version: u32,
    /// Whether it ends in a valid seal.
    pub sealed: bool,
    /// Bytes after the durable end that are a torn, never acknowledged append.
    pub torn_bytes: u64,
}

/// The result of [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Every segment checked, in log order.
    pub segments: Vec<SegmentReport>,
    /// Every damage found; empty when the log is whole.
    pub problems: Vec<Problem>,
    /// The durable mark.
    pub hwm: Option<Hwm>,
    /// Range and head of the log, when it is whole.
    pub digest: Option<Digest>,
    /// Bytes read.
    pub bytes: u64,
}

/// Checks the log in `dir`: every record's checksum and sequence, every seal (count, content
/// hash, chain), that segments join up, and that the log reaches its durable mark. Reads the
/// segments on every core; `progress(bytes_done, bytes_total)` after each.
pub fn verify(dir: &Path, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport, LogError> {
    let storage: Arc<dyn Storage> = Arc::new(OsStorage);
    let reader = LogReader::open_with_storage(dir, storage.clone())?;
    let plan = reader.plan()?;
    let total = plan.size_bytes(storage.as_ref())?;
    let n = plan.segments.len();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(n)
        .max(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut results: Vec<Option<Result<(SegmentScan, u64), LogError>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, next, plan, storage) = (tx.clone(), &next, &plan, &storage);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seg) = plan.segments.get(i) else { break };
                    let r = storage
                        .read(&seg.path)
                        .map_err(|e| LogError::io(&seg.path, e))
                        .and_then(|buf| {
                            let opts = ScanOptions {
                                is_last: seg.is_last,
                                stop_at_seq: plan.bound(),
                                hash: true,
                                durable_len: seg.durable_len,
                            };
                            let len = buf.len() as u64;
                            format::scan_segment(&seg.path, &buf, opts, |_, _| {}).map(|s| (s, len))
                        });
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, r) in rx {
            if let Ok((_, len)) = &r {
                done += len;
            }
            progress(done, total);
            results[i] = Some(r);
        }
    });
    let mut report = VerifyReport {
        segments: Vec::new(),
        problems: Vec::new(),
        hwm: plan.hwm,
        digest: None,
        bytes: 0,
    };
    let mut chain = plan.chain();
    for (seg, r) in plan.segments.iter().zip(results) {
        match r.expect("every segment scanned") {
            Err(e) => report.problems.push(problem_of(seg, e)),
            Ok((scan, len)) => {
                report.bytes += len;
                let mut torn_bytes = 0;
                match &scan.end {
                    ScanEnd::Corrupt { offset, reason } => report.problems.push(Problem {
                        path: seg.path.clone(),
                        offset: *offset,
                        what: reason.clone(),
                    }),
                    ScanEnd::TornTail { offset, .. } => torn_bytes = len - offset,
                    ScanEnd::Clean => {}
                }
                let damaged = matches!(scan.end, ScanEnd::Corrupt { .. });
                if let Err(e) = chain.link(seg, &scan) {
                    report.problems.push(problem_of(seg, e));
                    chain.resume(&scan);
                } else if damaged {
                    chain.resume(&scan);
                }
                report.segments.push(SegmentReport {
                    path: seg.path.clone(),
                    base: seg.base,
                    records: scan.records,
                    bytes: len,
                    version: scan.version,
                    sealed: scan.seal.is_some(),
                    torn_bytes,
                });
            }
        }
    }
    match chain.finish() {
        Ok(d) if report.problems.is_empty() => report.digest = Some(d),
        Ok(_) => {}
        Err(e) => report.problems.push(Problem {
            path: dir.to_path_buf(),
            offset: 0,
            what: e.to_string(),
        }),
    }
    Ok(report)
}

fn problem_of(seg: &PlannedSegment, e: LogError) -> Problem {
    match e {
        LogError::Corrupt { path, offset, reason } => Problem {
            path,
            offset,
            what: reason,
        },
        other => Problem {
            path: seg.path.clone(),
            offset: 0,
            what: other.to_string(),
        },
    }
}
