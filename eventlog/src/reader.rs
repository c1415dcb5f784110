//! Reading the log, also while the writer appends to it.

use std::path::{Path, PathBuf};

use crate::LogError;
use crate::format::{self, ScanEnd};
use crate::writer::list_segments;

/// One record as read back.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Reads a log directory. Never modifies it.
#[derive(Debug, Clone)]
pub struct LogReader {
    dir: PathBuf,
}

impl LogReader {
    /// A reader of the log in `dir`; fails when `dir` holds no segment.
    pub fn open(dir: &Path) -> Result<LogReader, LogError> {
        if list_segments(dir)?.is_empty() {
            return Err(LogError::NotALog {
                path: dir.to_path_buf(),
                reason: "no segment files (*.seg) in this directory".into(),
            });
        }
        Ok(LogReader { dir: dir.to_path_buf() })
    }

    /// Calls `visit` for every record with `seq >= from_seq`, in order, up to the current end
    /// of the log. Returns the sequence number after the last record read. An incomplete tail
    /// of the newest segment ends the read (it may be an append in progress); corruption
    /// anywhere else is an error.
    pub fn for_each(&self, from_seq: u64, mut visit: impl FnMut(Record<'_>)) -> Result<u64, LogError> {
        let segments = list_segments(&self.dir)?;
        let mut next = from_seq;
        for (i, (base, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            if let Some((next_base, _)) = segments.get(i + 1)
                && *next_base <= from_seq
            {
                continue;
            }
            let buf = std::fs::read(path).map_err(|e| LogError::io(path, e))?;
            if is_last && buf.len() < format::SEGMENT_HEADER_BYTES {
                break; // being created by a roll right now
            }
            let scan = format::scan_segment(path, &buf, is_last, |seq, payload| {
                if seq >= from_seq {
                    visit(Record { seq, payload });
                }
            })?;
            if scan.base_seq != *base {
                return Err(LogError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: "header base does not match file name".into(),
                });
            }
            next = next.max(scan.base_seq + scan.records);
            if let ScanEnd::Corrupt { offset, reason } = scan.end {
                return Err(LogError::Corrupt {
                    path: path.clone(),
                    offset,
                    reason,
                });
            }
        }
        Ok(next)
    }

    /// Total size in bytes of the segment files, for progress reporting.
    pub fn size_bytes(&self) -> Result<u64, LogError> {
        let mut total = 0;
        for (_, path) in list_segments(&self.dir)? {
            total += std::fs::metadata(&path).map_err(|e| LogError::io(&path, e))?.len();
        }
        Ok(total)
    }
}
