//! Encoding and validation of segment headers and records (see the crate docs for the layout).

use std::path::Path;

use crate::LogError;

/// Segment magic.
pub const MAGIC: &[u8; 8] = b"CUTOVLOG";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Size of a segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Size of a record's framing before its payload.
pub const RECORD_HEADER_BYTES: usize = 16;
/// Largest payload of one record (one event); larger ones are refused at append.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// File name of the segment whose first record is `base_seq`.
pub fn segment_file_name(base_seq: u64) -> String {
    format!("{base_seq:020}.seg")
}

/// Parses a segment file name back into its base sequence number.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".seg")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

pub(crate) fn encode_header(base_seq: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Appends one framed record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(!payload.is_empty() && payload.len() <= MAX_RECORD_BYTES);
    let len = (payload.len() as u32).to_le_bytes();
    let seq_bytes = seq.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &seq_bytes), payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq_bytes);
    out.extend_from_slice(payload);
}

/// How a scan of one segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are an append that never completed.
    TornTail {
        /// Where the valid part ends.
        offset: u64,
        /// Why the rest is not a record.
        reason: String,
    },
    /// An invalid record that cannot be a torn tail.
    Corrupt {
        /// Where the invalid record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result of scanning a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The base sequence number from the header.
    pub base_seq: u64,
    /// Number of valid records.
    pub records: u64,
    /// Length of the valid prefix (header plus valid records).
    pub valid_len: u64,
    /// How the scan ended.
    pub end: ScanEnd,
}

/// Validates a segment header, returning its base sequence number.
pub(crate) fn check_header(path: &Path, buf: &[u8]) -> Result<u64, LogError> {
    let not_a_log = |reason: &str| LogError::NotALog {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if buf.len() < SEGMENT_HEADER_BYTES {
        return Err(not_a_log("shorter than a segment header"));
    }
    if &buf[0..8] != MAGIC {
        return Err(not_a_log("bad magic"));
    }
    let crc = u32::from_le_bytes(buf[24..28].try_into().expect("4 bytes"));
    if crc != crc32c::crc32c(&buf[0..24]) {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "segment header checksum mismatch".into(),
        });
    }
    let version = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(not_a_log(&format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    Ok(u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes")))
}

/// Scans a whole segment held in `buf`, calling `visit(seq, payload)` for each valid record in
/// order. `is_last` says whether this is the log's newest segment, the only one that may end in
/// a torn tail; in a sealed segment every invalid byte is corruption.
pub fn scan_segment(
    path: &Path,
    buf: &[u8],
    is_last: bool,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<SegmentScan, LogError> {
    let base_seq = check_header(path, buf)?;
    let mut pos = SEGMENT_HEADER_BYTES;
    let mut seq = base_seq;
    let end = loop {
        let rest = &buf[pos..];
        if rest.is_empty() {
            break ScanEnd::Clean;
        }
        match check_record(rest, seq) {
            Ok(len) => {
                visit(seq, &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len]);
                pos += RECORD_HEADER_BYTES + len;
                seq += 1;
            }
            Err(bad) => {
                let offset = pos as u64;
                break if bad.torn {
                    ScanEnd::TornTail {
                        offset,
                        reason: bad.reason,
                    }
                } else {
                    ScanEnd::Corrupt {
                        offset,
                        reason: bad.reason,
                    }
                };
            }
        }
    };
    let end = match end {
        ScanEnd::TornTail { offset, reason } if !is_last => ScanEnd::Corrupt {
            offset,
            reason: format!("{reason} in a sealed segment"),
        },
        other => other,
    };
    Ok(SegmentScan {
        base_seq,
        records: seq - base_seq,
        valid_len: pos as u64,
        end,
    })
}

struct BadRecord {
    torn: bool,
    reason: String,
}

/// Checks the record at the start of `rest`; returns its payload length.
fn check_record(rest: &[u8], expected_seq: u64) -> Result<usize, BadRecord> {
    let torn = |reason: String| BadRecord { torn: true, reason };
    let corrupt = |reason: String| BadRecord { torn: false, reason };
    if rest.iter().all(|&b| b == 0) {
        return Err(torn(format!("{} zero bytes at the end", rest.len())));
    }
    if rest.len() < RECORD_HEADER_BYTES {
        return Err(torn(format!("{} bytes, less than a record header", rest.len())));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    if len == 0 || len > MAX_RECORD_BYTES {
        return Err(corrupt(format!(
            "record length {len} is outside 1..={MAX_RECORD_BYTES}"
        )));
    }
    let total = RECORD_HEADER_BYTES + len;
    if rest.len() < total {
        return Err(torn(format!(
            "record announces {len} payload bytes, only {} present",
            rest.len() - RECORD_HEADER_BYTES
        )));
    }
    let payload = &rest[RECORD_HEADER_BYTES..total];
    let actual = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&rest[0..4]), &rest[8..16]),
        payload,
    );
    if actual != crc {
        let reason = format!("record checksum mismatch (stored {crc:08x}, computed {actual:08x})");
        // A final record whose bytes only partly reached the disk is a torn append; a bad
        // record with more data after it is damage to acknowledged data.
        return Err(if rest.len() == total {
            torn(reason)
        } else {
            corrupt(reason)
        });
    }
    if seq != expected_seq {
        return Err(corrupt(format!("record sequence {seq}, expected {expected_seq}")));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(base: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = encode_header(base).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(&mut buf, base + i as u64, p);
        }
        buf
    }

    fn scan(buf: &[u8], is_last: bool) -> (Vec<(u64, Vec<u8>)>, SegmentScan) {
        let mut seen = Vec::new();
        let s = scan_segment(Path::new("t.seg"), buf, is_last, |seq, p| seen.push((seq, p.to_vec()))).unwrap();
        (seen, s)
    }

    #[test]
    fn segment_names_round_trip_and_sort() {
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn clean_segment_yields_every_record() {
        let buf = segment(7, &[b"a", b"bb", b"ccc"]);
        let (seen, s) = scan(&buf, true);
        assert_eq!(
            seen,
            vec![(7, b"a".to_vec()), (8, b"bb".to_vec()), (9, b"ccc".to_vec())]
        );
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.valid_len, buf.len() as u64);
    }

    #[test]
    fn short_tail_is_torn_in_last_segment_and_corrupt_in_sealed() {
        let mut buf = segment(0, &[b"one", b"two"]);
        let good = buf.len();
        encode_record(&mut buf, 2, b"three");
        buf.truncate(buf.len() - 2);
        let (seen, s) = scan(&buf, true);
        assert_eq!(seen.len(), 2);
        assert_eq!(s.valid_len, good as u64);
        assert!(matches!(s.end, ScanEnd::TornTail { offset, .. } if offset == good as u64));
        let (_, s) = scan(&buf, false);
        assert!(matches!(s.end, ScanEnd::Corrupt { .. }));
    }

    #[test]
    fn flipped_byte_before_the_last_record_is_corruption() {
        let mut buf = segment(0, &[b"one", b"two", b"three"]);
        buf[SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES] ^= 0x40;
        let (seen, s) = scan(&buf, true);
        assert!(seen.is_empty());
        assert!(matches!(s.end, ScanEnd::Corrupt { offset, .. } if offset == SEGMENT_HEADER_BYTES as u64));
    }

    #[test]
    fn flipped_byte_in_the_last_record_is_a_torn_tail() {
        let mut buf = segment(0, &[b"one", b"two"]);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let (seen, s) = scan(&buf, true);
        assert_eq!(seen.len(), 1);
        assert!(matches!(s.end, ScanEnd::TornTail { .. }));
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut buf = segment(0, &[b"one"]);
        buf.extend_from_slice(&[0u8; 100]);
        let (seen, s) = scan(&buf, true);
        assert_eq!(seen.len(), 1);
        assert!(matches!(s.end, ScanEnd::TornTail { .. }));
    }

    #[test]
    fn bad_header_is_refused() {
        let mut buf = segment(0, &[b"one"]);
        buf[0] = b'X';
        assert!(matches!(
            scan_segment(Path::new("t"), &buf, true, |_, _| {}),
            Err(LogError::NotALog { .. })
        ));
        let mut buf = segment(0, &[b"one"]);
        buf[17] ^= 1;
        assert!(matches!(
            scan_segment(Path::new("t"), &buf, true, |_, _| {}),
            Err(LogError::Corrupt { offset: 0, .. })
        ));
    }
}
