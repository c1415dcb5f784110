//! `cutover salvage`: copies every valid record of a damaged (or version-1) log into a new
//! log and lists each range that was lost.
//!
//! The new log numbers its records from 0 without gaps, in the source's order; the list of lost
//! ranges (in the source's segments, offsets and sequence numbers) is written beside it as
//! `salvage.json` ([`SALVAGE_FILE`]), which the analyzer carries into every report's validity
//! section. Within a damaged segment, copying resumes at the next valid version-2 record frame
//! (checksum, kind and a plausible sequence number); a version-1 segment is copied up to its
//! first damage.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LogError;
use crate::format::{self, KIND_SEAL, SEGMENT_HEADER_BYTES};
use crate::fs::{OsStorage, Storage};
use crate::reader::{list_segments, read_hwm};
use crate::writer::{FsyncPolicy, LogConfig, LogWriter};

/// Name of the salvage report in a salvaged log's directory.
pub const SALVAGE_FILE: &str = "salvage.json";

/// Records of the source that are not in the salvaged log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRange {
    /// The source segment file (its name), or `(missing)` for records of no file.
    pub segment: String,
    /// First lost byte in that file.
    pub from_offset: u64,
    /// Byte where valid records resume (the file's length when they do not).
    pub to_offset: u64,
    /// First lost sequence number.
    pub from_seq: u64,
    /// Sequence number where records resume; `None` when unknown (the end of the log).
    pub to_seq: Option<u64>,
    /// Whether the lost bytes were below the source's durable mark (acknowledged data), as
    /// opposed to a torn append that was never acknowledged.
    pub acknowledged: bool,
    /// What was wrong.
    pub reason: String,
}

/// What [`salvage`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvageReport {
    /// The damaged log.
    pub source: PathBuf,
    /// Segment files of the source.
    pub source_segments: usize,
    /// Records copied.
    pub copied: u64,
    /// Ranges lost, in source order.
    pub lost: Vec<LostRange>,
}

/// Reads the salvage report of a salvaged log, if it is one.
pub fn read_salvage_report(dir: &Path) -> Result<Option<SalvageReport>, LogError> {
    let path = dir.join(SALVAGE_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| LogError::NotALog {
            path,
            reason: format!("unreadable salvage report: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// Copies the valid records of the log in `src` into a new log in `dst` (which must hold no
/// log), and writes the report there. `progress(bytes_done, bytes_total)` after each segment.
pub fn salvage(src: &Path, dst: &Path, mut progress: impl FnMut(u64, u64)) -> Result<SalvageReport, LogError> {
    let storage = OsStorage;
    let segments = list_segments(&storage, src)?;
    if segments.is_empty() {
        return Err(LogError::NotALog {
            path: src.to_path_buf(),
            reason: "no segment files (*.seg) in this directory".into(),
        });
    }
    if dst.exists() && !list_segments(&storage, dst)?.is_empty() {
        return Err(LogError::Config(format!(
            "{} already holds a log; salvage writes into a new directory",
            dst.display()
        )));
    }
    let hwm = read_hwm(&storage, src);
    let total: u64 = segments.iter().filter_map(|(_, p)| storage.len(p).ok()).sum();
    let config = LogConfig {
        fsync: FsyncPolicy::Interval {
            interval: std::time::Duration::from_millis(200),
        },
        min_free_bytes: 0,
        ..LogConfig::default()
    };
    let (writer, _) = LogWriter::open(dst, config)?;
    let mut report = SalvageReport {
        source: src.to_path_buf(),
        source_segments: segments.len(),
        copied: 0,
        lost: Vec::new(),
    };
    let mut expected = 0u64;
    let mut done = 0u64;
    let mut batch: Vec<Vec<u8>> = Vec::new();
    for (i, (base, path)) in segments.iter().enumerate() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let next_base = segments.get(i + 1).map(|s| s.0);
        let buf = storage.read(path).map_err(|e| LogError::io(path, e))?;
        done += buf.len() as u64;
        let acknowledged_below = hwm.map_or(0, |h| h.evidence_for(*base));
        if *base > expected {
            report.lost.push(LostRange {
                segment: "(missing)".into(),
                from_offset: 0,
                to_offset: 0,
                from_seq: expected,
                to_seq: Some(*base),
                acknowledged: true,
                reason: format!("no segment holds records {expected}..{base}"),
            });
            expected = *base;
        }
        let mut lose = |from_offset: u64, to_offset: u64, from_seq: u64, to_seq: Option<u64>, reason: String| {
            report.lost.push(LostRange {
                segment: name.clone(),
                from_offset,
                to_offset,
                from_seq,
                to_seq,
                acknowledged: from_offset < acknowledged_below,
                reason,
            });
        };
        let version = match format::check_header(path, &buf) {
            Ok((v, _)) => v,
            Err(e) => {
                lose(0, buf.len() as u64, expected, next_base, e.to_string());
                if let Some(n) = next_base {
                    expected = expected.max(n);
                }
                continue;
            }
        };
        let mut keep = |seq: u64, payload: &[u8], expected: &mut u64| {
            if seq >= *expected {
                batch.push(payload.to_vec());
                *expected = seq + 1;
            }
        };
        if version == format::VERSION_1 {
            let opts = format::ScanOptions {
                is_last: i + 1 == segments.len(),
                stop_at_seq: None,
                hash: false,
                durable_len: 0,
            };
            let scan = format::scan_segment(path, &buf, opts, |seq, p| keep(seq, p, &mut expected))?;
            if let format::ScanEnd::Corrupt { offset, reason } | format::ScanEnd::TornTail { offset, reason } = scan.end
            {
                lose(offset, buf.len() as u64, expected, next_base, reason);
            }
        } else {
            let mut pos = SEGMENT_HEADER_BYTES;
            while pos < buf.len() {
                match format::parse_frame(&buf[pos..]) {
                    Ok(f) if f.kind == KIND_SEAL => {
                        pos += f.total();
                        if pos < buf.len() {
                            lose(
                                pos as u64,
                                buf.len() as u64,
                                expected,
                                next_base,
                                "bytes after the seal".into(),
                            );
                        }
                        break;
                    }
                    Ok(f) if f.seq == expected || (f.seq > expected && pos == SEGMENT_HEADER_BYTES) => {
                        if f.seq > expected {
                            lose(
                                pos as u64,
                                pos as u64,
                                expected,
                                Some(f.seq),
                                "sequence numbers skipped".into(),
                            );
                        }
                        let payload = &buf[pos + format::RECORD_HEADER_BYTES..pos + f.total()];
                        keep(f.seq, payload, &mut expected);
                        pos += f.total();
                    }
                    Ok(f) if f.seq < expected => pos += f.total(), // overlap: copied already
                    bad => {
                        let reason = match bad {
                            Err(r) => r,
                            Ok(f) => format!("record sequence {}, expected {expected}", f.seq),
                        };
                        match format::resync(&buf, pos + 1, expected) {
                            Some((at, f)) => {
                                lose(pos as u64, at as u64, expected, Some(f.seq), reason);
                                expected = f.seq;
                                pos = at;
                            }
                            None => {
                                lose(pos as u64, buf.len() as u64, expected, next_base, reason);
                                break;
                            }
                        }
                    }
                }
            }
        }
        if !batch.is_empty() {
            report.copied += batch.len() as u64;
            writer.append_blocking(std::mem::take(&mut batch))?;
        }
        progress(done, total);
    }
    writer.close();
    let json = serde_json::to_vec_pretty(&report).expect("serializable");
    let path = dst.join(SALVAGE_FILE);
    std::fs::write(&path, json)
        .and_then(|()| std::fs::File::open(&path)?.sync_all())
        .and_then(|()| std::fs::File::open(dst)?.sync_all())
        .map_err(|e| LogError::io(&path, e))?;
    Ok(report)
}
