//! Reading the log, also while the writer appends to it: only durable records, every segment
//! checked against its neighbours (see the crate docs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::LogError;
use crate::format::{self, Digest, HWM_FILE, Hwm, ScanEnd, ScanOptions, Seal, SegmentScan};
use crate::fs::{OsStorage, Storage};
use crate::writer::read_tail_seal;

/// One record as read back.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Lists the segment files of `dir` as (base_seq, path), in log order.
pub(crate) fn list_segments(storage: &dyn Storage, dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out: Vec<(u64, PathBuf)> = storage
        .list(dir)
        .map_err(|e| LogError::io(dir, e))?
        .into_iter()
        .filter_map(|name| format::parse_segment_name(&name).map(|base| (base, dir.join(name))))
        .collect();
    out.sort();
    Ok(out)
}

/// The durable mark of the log in `dir`; `None` when there is none or it does not read back
/// whole (the writer may be rewriting it: a few tries).
pub(crate) fn read_hwm(storage: &dyn Storage, dir: &Path) -> Option<Hwm> {
    read_hwm_tries(storage, dir, 5)
}

/// [`read_hwm`] with a number of tries (1 for the writer's recovery: nobody else writes it).
pub(crate) fn read_hwm_tries(storage: &dyn Storage, dir: &Path, tries: u32) -> Option<Hwm> {
    let path = dir.join(HWM_FILE);
    for attempt in 0..tries {
        match storage.read(&path) {
            Ok(b) => {
                if let Some(h) = Hwm::decode(&b) {
                    return Some(h);
                }
                if b.is_empty() {
                    return None;
                }
            }
            Err(_) => return None,
        }
        if attempt + 1 < tries {
            std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
        }
    }
    tracing::warn!(path = %path.display(), "the durable mark does not read back whole; ignoring it");
    None
}

/// A segment of a [`LogPlan`].
#[derive(Debug, Clone)]
pub struct PlannedSegment {
    /// Base sequence number from the file name.
    pub base: u64,
    /// The file.
    pub path: PathBuf,
    /// The newest segment file of the log.
    pub is_last: bool,
    /// Bytes of it the durable mark proves durable (`u64::MAX`: all).
    pub durable_len: u64,
}

/// What a read of the log will cover: the segments up to the durable mark, read at one
/// instant. Segments can be scanned in any order and on any thread with [`LogPlan::scan`];
/// a [`ChainCheck`] then takes the scans in log order.
#[derive(Debug, Clone)]
pub struct LogPlan {
    /// The log directory.
    pub dir: PathBuf,
    /// The segments to read, in log order.
    pub segments: Vec<PlannedSegment>,
    /// The durable mark, when the log has one.
    pub hwm: Option<Hwm>,
}

impl LogPlan {
    /// The bound of the read: records from this sequence number on are not read.
    pub fn bound(&self) -> Option<u64> {
        self.hwm.map(|h| h.next_seq)
    }

    /// Scans segment `i` held in `buf` with the rules of the crate docs, calling `visit` for
    /// every durable event record. `Ok(None)` for a newest segment still being created.
    /// `hash` computes the content hash (checked against a seal, and needed for the head).
    pub fn scan(
        &self,
        i: usize,
        buf: &[u8],
        hash: bool,
        visit: impl FnMut(u64, &[u8]),
    ) -> Result<Option<SegmentScan>, LogError> {
        let seg = &self.segments[i];
        if seg.is_last && buf.len() < format::SEGMENT_HEADER_BYTES && self.bound().is_none_or(|b| b <= seg.base) {
            return Ok(None);
        }
        let opts = ScanOptions {
            is_last: seg.is_last,
            stop_at_seq: self.bound(),
            hash,
            durable_len: seg.durable_len,
        };
        let scan = format::scan_segment(&seg.path, buf, opts, visit)?;
        if let ScanEnd::Corrupt { offset, reason } = &scan.end {
            return Err(LogError::Corrupt {
                path: seg.path.clone(),
                offset: *offset,
                reason: reason.clone(),
            });
        }
        Ok(Some(scan))
    }

    /// A checker for the scans of this plan, taken in log order.
    pub fn chain(&self) -> ChainCheck {
        ChainCheck {
            dir: self.dir.clone(),
            bound: self.bound(),
            expected_base: 0,
            prev: [0; 32],
            head: None,
            v1: false,
            segments: 0,
            sealed: 0,
        }
    }

    /// Bytes of the planned segment files, for progress reporting.
    pub fn size_bytes(&self, storage: &dyn Storage) -> Result<u64, LogError> {
        let mut total = 0;
        for s in &self.segments {
            total += storage.len(&s.path).map_err(|e| LogError::io(&s.path, e))?;
        }
        Ok(total)
    }
}

/// Checks, in log order, that the segments of a read join up: each starts where the previous
/// one ended, each seal names its predecessor's chain hash, and the read reaches the durable
/// mark. Yields the read's [`Digest`].
#[derive(Debug, Clone)]
pub struct ChainCheck {
    dir: PathBuf,
    bound: Option<u64>,
    expected_base: u64,
    prev: [u8; 32],
    head: Option<[u8; 32]>,
    v1: bool,
    segments: usize,
    sealed: usize,
}

impl ChainCheck {
    fn check_base(&self, seg: &PlannedSegment, header_base: u64) -> Result<(), LogError> {
        let corrupt = |reason: String| LogError::Corrupt {
            path: seg.path.clone(),
            offset: 0,
            reason,
        };
        if header_base != seg.base {
            return Err(corrupt(format!(
                "header says base {header_base}, file name says {}",
                seg.base
            )));
        }
        if seg.base != self.expected_base {
            return Err(corrupt(if self.segments == 0 {
                format!(
                    "the log starts at sequence {}: the segments before it are missing",
                    seg.base
                )
            } else if seg.base > self.expected_base {
                format!(
                    "segment starts at sequence {}, but the previous one ends at {}: records {}..{} are missing",
                    seg.base, self.expected_base, self.expected_base, seg.base
                )
            } else {
                format!(
                    "segment starts at sequence {}, but the previous one ends at {}: overlapping segments",
                    seg.base, self.expected_base
                )
            }));
        }
        Ok(())
    }

    fn check_seal(&mut self, seg: &PlannedSegment, seal: &Seal) -> Result<(), LogError> {
        if seal.prev != self.prev {
            return Err(LogError::Corrupt {
                path: seg.path.clone(),
                offset: 0,
                reason: "seal does not name the previous segment's chain hash (segment replaced or reordered)".into(),
            });
        }
        self.prev = seal.chain;
        self.head = Some(seal.chain);
        self.sealed += 1;
        Ok(())
    }

    /// Takes the scan of the next segment.
    pub fn link(&mut self, seg: &PlannedSegment, scan: &SegmentScan) -> Result<(), LogError> {
        self.check_base(seg, scan.base_seq)?;
        self.segments += 1;
        self.v1 |= scan.version == format::VERSION_1;
        if let Some(seal) = &scan.seal {
            self.check_seal(seg, seal)?;
        } else if scan.version == format::VERSION {
            self.head = scan
                .content
                .map(|c| format::chain_hash(&self.prev, &c, scan.base_seq, scan.records, scan.valid_len));
        }
        self.expected_base = scan.base_seq + scan.records;
        Ok(())
    }

    /// Takes the seal of the next segment, read without its records.
    pub fn link_seal(&mut self, seg: &PlannedSegment, seal: &Seal) -> Result<(), LogError> {
        self.check_base(seg, seal.base_seq)?;
        self.segments += 1;
        self.check_seal(seg, seal)?;
        self.expected_base = seal.base_seq + seal.records;
        Ok(())
    }

    /// After a damaged segment: carry on from what its scan read, so that later segments are
    /// still checked (and a gap after the damage is named).
    pub fn resume(&mut self, scan: &SegmentScan) {
        self.expected_base = scan.base_seq + scan.records;
        if let Some(seal) = &scan.seal {
            self.prev = seal.chain;
        }
    }

    /// Sequence number after the last record linked so far.
    pub fn next_seq(&self) -> u64 {
        self.expected_base
    }

    /// Ends the check: the read must reach the durable mark.
    pub fn finish(self) -> Result<Digest, LogError> {
        if let Some(b) = self.bound.filter(|b| *b > self.expected_base) {
            return Err(LogError::Corrupt {
                path: self.dir.clone(),
                offset: 0,
                reason: format!(
                    "the log ends at sequence {}, but the writer made {b} records durable: records {}..{b} are missing",
                    self.expected_base, self.expected_base
                ),
            });
        }
        Ok(Digest {
            first_seq: 0,
            next_seq: self.expected_base,
            segments: self.segments,
            sealed: self.sealed,
            head: if self.v1 { None } else { self.head },
        })
    }
}

/// Reads a log directory. Never modifies it.
#[derive(Clone)]
pub struct LogReader {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").field("dir", &self.dir).finish()
    }
}

impl LogReader {
    /// A reader of the log in `dir`; fails when `dir` holds no segment.
    pub fn open(dir: &Path) -> Result<LogReader, LogError> {
        Self::open_with_storage(dir, Arc::new(OsStorage))
    }

    /// A reader through `storage`.
    pub fn open_with_storage(dir: &Path, storage: Arc<dyn Storage>) -> Result<LogReader, LogError> {
        if list_segments(storage.as_ref(), dir)?.is_empty() {
            return Err(LogError::NotALog {
                path: dir.to_path_buf(),
                reason: "no segment files (*.seg) in this directory".into(),
            });
        }
        Ok(LogReader {
            dir: dir.to_path_buf(),
            storage,
        })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What a read started now covers: the durable mark, then the segments up to it.
    pub fn plan(&self) -> Result<LogPlan, LogError> {
        let hwm = read_hwm(self.storage.as_ref(), &self.dir);
        let all = list_segments(self.storage.as_ref(), &self.dir)?;
        let bound = hwm.map(|h| h.next_seq);
        let newest = all.last().map(|s| s.0);
        let mut segments: Vec<PlannedSegment> = all
            .iter()
            .enumerate()
            .filter(|(i, (base, _))| *i == 0 || bound.is_none_or(|b| *base < b))
            .map(|(_, (base, path))| PlannedSegment {
                base: *base,
                path: path.clone(),
                is_last: Some(*base) == newest,
                durable_len: hwm.map_or(0, |h| h.evidence_for(*base)),
            })
            .collect();
        if let Some(h) = hwm
            && newest.is_some_and(|n| n < h.segment_base)
            && let Some(last) = segments.last_mut()
        {
            // The mark names a segment that is not there: the read must fail, not end early.
            last.is_last = false;
        }
        Ok(LogPlan {
            dir: self.dir.clone(),
            segments,
            hwm,
        })
    }

    /// Calls `visit` for every durable record with `seq >= from_seq`, in order. Returns the
    /// sequence number after the last record read. Damage anywhere (including a missing or
    /// short segment, or records ending before the durable mark) is an error after the
    /// records before it were visited.
    pub fn for_each(&self, from_seq: u64, visit: impl FnMut(Record<'_>)) -> Result<u64, LogError> {
        Ok(self.read(from_seq, visit)?.next_seq)
    }

    /// [`LogReader::for_each`], returning the read's range and head hash. Segments wholly
    /// before `from_seq` are checked by their seal only.
    pub fn read(&self, from_seq: u64, mut visit: impl FnMut(Record<'_>)) -> Result<Digest, LogError> {
        let plan = self.plan()?;
        let mut chain = plan.chain();
        for (i, seg) in plan.segments.iter().enumerate() {
            let skip = plan.segments.get(i + 1).is_some_and(|n| n.base <= from_seq);
            if skip && let Ok(seal) = read_tail_seal(self.storage.as_ref(), &seg.path, seg.base) {
                chain.link_seal(seg, &seal)?;
                continue;
            }
            let buf = self.storage.read(&seg.path).map_err(|e| LogError::io(&seg.path, e))?;
            let scan = plan.scan(i, &buf, true, |seq, payload| {
                if seq >= from_seq {
                    visit(Record { seq, payload });
                }
            })?;
            let Some(scan) = scan else { break };
            chain.link(seg, &scan)?;
        }
        let mut digest = chain.finish()?;
        digest.first_seq = from_seq.min(digest.next_seq);
        Ok(digest)
    }

    /// The range and head of the whole durable log, checked cheaply: the sealed segments by
    /// their seals (linkage and chain, one small read each), the newest one record by record
    /// with its content hash. Used to key caches of the log.
    pub fn quick_digest(&self) -> Result<Digest, LogError> {
        let plan = self.plan()?;
        let last = plan.segments.last().map_or(0, |s| s.base);
        let mut d = self.read(last, |_| {})?;
        d.first_seq = 0;
        Ok(d)
    }

    /// Total size in bytes of the segment files, for progress reporting.
    pub fn size_bytes(&self) -> Result<u64, LogError> {
        let mut total = 0;
        for (_, path) in list_segments(self.storage.as_ref(), &self.dir)? {
            total += self.storage.len(&path).map_err(|e| LogError::io(&path, e))?;
        }
        Ok(total)
    }
}
