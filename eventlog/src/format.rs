//! Encoding and validation of segment headers, records, seals and the durable mark (see the
//! crate docs for the layout and the rules).

use std::path::Path;

use crate::LogError;

/// Segment magic.
pub const MAGIC: &[u8; 8] = b"CUTOVLOG";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// The older version this build still reads.
pub const VERSION_1: u32 = 1;
/// Size of a segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Size of a record's framing before its payload (version 2).
pub const RECORD_HEADER_BYTES: usize = 24;
/// Size of a record's framing in version 1.
const RECORD_HEADER_BYTES_V1: usize = 16;
/// Largest payload of one record (one event); larger ones are refused at append.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Largest segment: the `synced` field is 32 bits.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 31;
/// Payload of a seal record.
pub const SEAL_PAYLOAD_BYTES: usize = 112;
/// A whole seal record.
pub const SEAL_RECORD_BYTES: usize = RECORD_HEADER_BYTES + SEAL_PAYLOAD_BYTES;
/// Record kinds.
pub(crate) const KIND_EVENT: u8 = 1;
pub(crate) const KIND_SEAL: u8 = 2;
/// Name of the durable-mark file.
pub const HWM_FILE: &str = "durable.hwm";
const HWM_MAGIC: &[u8; 8] = b"CUTOVHWM";
/// Size of the durable-mark file.
pub const HWM_BYTES: usize = 48;
const CHAIN_CONTEXT: &str = "cutover event log 2026-12 segment seal v2";

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

/// Lowercase hex of a hash.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

fn record_crc(frame_head: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&frame_head[0..4]), &frame_head[8..RECORD_HEADER_BYTES]),
        payload,
    )
}

/// Appends one framed version-2 record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, kind: u8, seq: u64, synced: u64, payload: &[u8]) {
    debug_assert!(!payload.is_empty() && payload.len() <= MAX_RECORD_BYTES);
    debug_assert!(synced <= MAX_SEGMENT_BYTES);
    let mut head = [0u8; RECORD_HEADER_BYTES];
    head[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    head[8..16].copy_from_slice(&seq.to_le_bytes());
    head[16] = kind;
    head[20..24].copy_from_slice(&(synced as u32).to_le_bytes());
    let crc = record_crc(&head, payload);
    head[4..8].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
}

/// The hash that links a seal to its predecessor (see the crate docs).
pub(crate) fn chain_hash(prev: &[u8; 32], content: &[u8; 32], base_seq: u64, records: u64, end: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(CHAIN_CONTEXT);
    h.update(prev);
    h.update(content);
    h.update(&base_seq.to_le_bytes());
    h.update(&records.to_le_bytes());
    h.update(&end.to_le_bytes());
    *h.finalize().as_bytes()
}

/// What a sealed segment records about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// First sequence number.
    pub base_seq: u64,
    /// Event records in the segment.
    pub records: u64,
    /// BLAKE3 of the segment's bytes before the seal record.
    pub content: [u8; 32],
    /// The previous segment's chain hash.
    pub prev: [u8; 32],
    /// This segment's chain hash.
    pub chain: [u8; 32],
}

impl Seal {
    pub(crate) fn new(prev: [u8; 32], content: [u8; 32], base_seq: u64, records: u64, end: u64) -> Seal {
        Seal {
            base_seq,
            records,
            content,
            prev,
            chain: chain_hash(&prev, &content, base_seq, records, end),
        }
    }

    pub(crate) fn encode(&self) -> [u8; SEAL_PAYLOAD_BYTES] {
        let mut p = [0u8; SEAL_PAYLOAD_BYTES];
        p[0..8].copy_from_slice(&self.base_seq.to_le_bytes());
        p[8..16].copy_from_slice(&self.records.to_le_bytes());
        p[16..48].copy_from_slice(&self.content);
        p[48..80].copy_from_slice(&self.prev);
        p[80..112].copy_from_slice(&self.chain);
        p
    }

    pub(crate) fn decode(p: &[u8]) -> Seal {
        let h = |r: std::ops::Range<usize>| -> [u8; 32] { p[r].try_into().expect("32 bytes") };
        Seal {
            base_seq: u64::from_le_bytes(p[0..8].try_into().expect("8 bytes")),
            records: u64::from_le_bytes(p[8..16].try_into().expect("8 bytes")),
            content: h(16..48),
            prev: h(48..80),
            chain: h(80..112),
        }
    }

    /// Whether `chain` is the chain function of the other fields for a seal at offset `end`.
    pub(crate) fn chain_ok(&self, end: u64) -> bool {
        self.chain == chain_hash(&self.prev, &self.content, self.base_seq, self.records, end)
    }
}

/// The durable high-water mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hwm {
    /// Base sequence number of the segment the writer was appending to.
    pub segment_base: u64,
    /// Bytes of that segment known durable.
    pub durable_len: u64,
    /// Sequence number after the last durable record.
    pub next_seq: u64,
}

impl Hwm {
    pub(crate) fn encode(&self) -> [u8; HWM_BYTES] {
        let mut b = [0u8; HWM_BYTES];
        b[0..8].copy_from_slice(HWM_MAGIC);
        b[8..16].copy_from_slice(&self.segment_base.to_le_bytes());
        b[16..24].copy_from_slice(&self.durable_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.next_seq.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// `None` when the bytes are not a whole, valid mark.
    pub(crate) fn decode(b: &[u8]) -> Option<Hwm> {
        if b.len() < HWM_BYTES || &b[0..8] != HWM_MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(b[32..36].try_into().expect("4 bytes"));
        if crc != crc32c::crc32c(&b[0..32]) {
            return None;
        }
        let u = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8 bytes"));
        Some(Hwm {
            segment_base: u(8..16),
            durable_len: u(16..24),
            next_seq: u(24..32),
        })
    }

    /// How much of the segment at `base` the mark proves durable.
    pub(crate) fn evidence_for(&self, base: u64) -> u64 {
        use std::cmp::Ordering::*;
        match self.segment_base.cmp(&base) {
            Equal => self.durable_len,
            Greater => u64::MAX,
            Less => 0,
        }
    }
}

/// The record range and head hash of a read of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// First sequence number read.
    pub first_seq: u64,
    /// Sequence number after the last record read.
    pub next_seq: u64,
    /// Segment files read.
    pub segments: usize,
    /// Sealed segments among them.
    pub sealed: usize,
    /// The head hash (see the crate docs); `None` for a version-1 log.
    pub head: Option<[u8; 32]>,
}

/// How a scan of one segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte up to the end (or up to the sequence bound) belongs to a valid record.
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
#[derive(Debug, Clone)]
pub struct SegmentScan {
    /// The format version from the header.
    pub version: u32,
    /// The base sequence number from the header.
    pub base_seq: u64,
    /// Number of valid event records read.
    pub records: u64,
    /// Length of the valid prefix read (header, records and the seal when there is one).
    pub valid_len: u64,
    /// How the scan ended.
    pub end: ScanEnd,
    /// The seal, when the segment ends in a valid one.
    pub seal: Option<Seal>,
    /// BLAKE3 of the bytes before the seal (or of the valid prefix when unsealed); version 2
    /// only and only when asked for.
    pub content: Option<[u8; 32]>,
}

/// What to scan and how to judge the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanOptions {
    /// The log's newest segment: the only one that may end in a torn tail or without a seal.
    pub is_last: bool,
    /// Records from this sequence number on are not read (the durable mark).
    pub stop_at_seq: Option<u64>,
    /// Compute the content hash.
    pub hash: bool,
    /// Bytes of this segment the durable mark proves durable.
    pub durable_len: u64,
}

/// Reads the header: (version, base_seq).
pub(crate) fn check_header(path: &Path, buf: &[u8]) -> Result<(u32, u64), LogError> {
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
    if version != VERSION && version != VERSION_1 {
        return Err(not_a_log(&format!(
            "format version {version}, this build reads {VERSION_1} and {VERSION}"
        )));
    }
    Ok((version, u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes"))))
}

/// A valid version-2 record frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub kind: u8,
    pub seq: u64,
    pub len: usize,
    pub synced: u64,
}

impl Frame {
    pub fn total(&self) -> usize {
        RECORD_HEADER_BYTES + self.len
    }
}

/// Parses and checks the version-2 record at the start of `rest`, whatever its sequence.
pub(crate) fn parse_frame(rest: &[u8]) -> Result<Frame, String> {
    if rest.len() < RECORD_HEADER_BYTES {
        return Err(if rest.iter().all(|&b| b == 0) {
            format!("{} zero bytes at the end", rest.len())
        } else {
            format!("{} bytes, less than a record header", rest.len())
        });
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    let kind = rest[16];
    let synced = u64::from(u32::from_le_bytes(rest[20..24].try_into().expect("4 bytes")));
    if rest[..RECORD_HEADER_BYTES].iter().all(|&b| b == 0) {
        return Err("zero bytes where a record should start".into());
    }
    if (kind != KIND_EVENT && kind != KIND_SEAL) || rest[17..20] != [0, 0, 0] {
        return Err(format!("record kind {kind} is not an event (1) or a seal (2)"));
    }
    let len_ok = match kind {
        KIND_SEAL => len == SEAL_PAYLOAD_BYTES,
        _ => (1..=MAX_RECORD_BYTES).contains(&len),
    };
    if !len_ok {
        return Err(format!("record length {len} is not valid for kind {kind}"));
    }
    let total = RECORD_HEADER_BYTES + len;
    if rest.len() < total {
        return Err(format!(
            "record announces {len} payload bytes, only {} present",
            rest.len() - RECORD_HEADER_BYTES
        ));
    }
    let actual = record_crc(&rest[..RECORD_HEADER_BYTES], &rest[RECORD_HEADER_BYTES..total]);
    if actual != crc {
        return Err(format!(
            "record checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        ));
    }
    Ok(Frame { kind, seq, len, synced })
}

/// The next offset at or after `from` where a valid version-2 record frame with a sequence
/// number of at least `min_seq` starts (the cheap byte tests run before the checksum).
pub(crate) fn resync(buf: &[u8], from: usize, min_seq: u64) -> Option<(usize, Frame)> {
    let mut p = from;
    while p + RECORD_HEADER_BYTES <= buf.len() {
        let k = buf[p + 16];
        if (k == KIND_EVENT || k == KIND_SEAL) && buf[p + 17..p + 20] == [0, 0, 0] {
            let seq = u64::from_le_bytes(buf[p + 8..p + 16].try_into().expect("8 bytes"));
            if seq >= min_seq
                && seq - min_seq <= (buf.len() / RECORD_HEADER_BYTES) as u64
                && let Ok(f) = parse_frame(&buf[p..])
            {
                return Some((p, f));
            }
        }
        p += 1;
    }
    None
}

/// The largest `synced` of the valid records after `from`: evidence of how much of the
/// segment was durable when they were written.
fn synced_after(buf: &[u8], from: usize, min_seq: u64) -> u64 {
    let mut best = 0;
    let mut p = from;
    while let Some((at, f)) = resync(buf, p, min_seq) {
        best = best.max(f.synced);
        p = at + f.total();
    }
    best
}

/// Scans a whole segment held in `buf`, calling `visit(seq, payload)` for each valid event
/// record in order, and judges its end by the rules in the crate docs.
pub(crate) fn scan_segment(
    path: &Path,
    buf: &[u8],
    opts: ScanOptions,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<SegmentScan, LogError> {
    let (version, base_seq) = check_header(path, buf)?;
    if version == VERSION_1 {
        return scan_v1(path, buf, base_seq, opts, visit);
    }
    // The content hash is taken over the whole valid prefix in one call, not record by
    // record: BLAKE3 only uses its SIMD lanes on long inputs (about 4x faster here).
    let hash_of = |end: usize| *blake3::hash(&buf[..end]).as_bytes();
    let mut pos = SEGMENT_HEADER_BYTES;
    let mut seq = base_seq;
    let mut seal = None;
    let mut content = None;
    let corrupt = |offset: usize, reason: String| ScanEnd::Corrupt {
        offset: offset as u64,
        reason,
    };
    let end = loop {
        if pos == buf.len() || opts.stop_at_seq.is_some_and(|s| seq >= s) {
            break ScanEnd::Clean;
        }
        if seal.is_some() {
            break corrupt(pos, "bytes after the segment's seal".into());
        }
        match parse_frame(&buf[pos..]) {
            Ok(f) if f.seq != seq => {
                break corrupt(pos, format!("record sequence {}, expected {seq}", f.seq));
            }
            Ok(f) if f.kind == KIND_SEAL => {
                let s = Seal::decode(&buf[pos + RECORD_HEADER_BYTES..pos + f.total()]);
                if s.base_seq != base_seq || s.records != seq - base_seq {
                    break corrupt(
                        pos,
                        format!(
                            "seal says {} records from {}, the segment holds {} from {base_seq}",
                            s.records,
                            s.base_seq,
                            seq - base_seq
                        ),
                    );
                }
                if !s.chain_ok(pos as u64) {
                    break corrupt(pos, "seal's chain hash does not match its fields".into());
                }
                if opts.hash {
                    let c = hash_of(pos);
                    if c != s.content {
                        break corrupt(
                            pos,
                            "segment content does not match its seal's hash (edited after sealing)".into(),
                        );
                    }
                    content = Some(c);
                }
                seal = Some(s);
                pos += f.total();
            }
            Ok(f) => {
                let rec = &buf[pos..pos + f.total()];
                visit(seq, &rec[RECORD_HEADER_BYTES..]);
                pos += f.total();
                seq += 1;
            }
            Err(reason) => {
                if !opts.is_last {
                    break corrupt(pos, format!("{reason} in a sealed segment"));
                }
                let evidence = opts.durable_len.max(synced_after(buf, pos + 1, seq));
                break if (pos as u64) < evidence {
                    corrupt(
                        pos,
                        format!(
                            "{reason}; acknowledged data: {} bytes of this segment were durable",
                            evidence.min(buf.len() as u64)
                        ),
                    )
                } else {
                    ScanEnd::TornTail {
                        offset: pos as u64,
                        reason,
                    }
                };
            }
        }
    };
    let end = match end {
        ScanEnd::Clean if seal.is_none() && !opts.is_last && opts.stop_at_seq.is_none_or(|s| seq < s) => {
            corrupt(pos, "sealed segment ends without its seal (cut short?)".into())
        }
        ScanEnd::Clean if (pos as u64) < opts.durable_len && opts.durable_len != u64::MAX && seal.is_none() => {
            let stopped = opts.stop_at_seq.is_some_and(|s| seq >= s);
            if stopped {
                ScanEnd::Clean
            } else {
                corrupt(
                    pos,
                    format!(
                        "segment ends at byte {pos} but {} bytes of it were made durable (cut short?)",
                        opts.durable_len
                    ),
                )
            }
        }
        other => other,
    };
    if content.is_none() {
        content = opts.hash.then(|| hash_of(pos));
    }
    Ok(SegmentScan {
        version,
        base_seq,
        records: seq - base_seq,
        valid_len: pos as u64,
        end,
        seal,
        content,
    })
}

/// Version-1 scan: the rules of that version (no seals, no durable evidence).
fn scan_v1(
    path: &Path,
    buf: &[u8],
    base_seq: u64,
    opts: ScanOptions,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<SegmentScan, LogError> {
    let _ = path;
    let mut pos = SEGMENT_HEADER_BYTES;
    let mut seq = base_seq;
    let end = loop {
        let rest = &buf[pos..];
        if rest.is_empty() || opts.stop_at_seq.is_some_and(|s| seq >= s) {
            break ScanEnd::Clean;
        }
        match check_record_v1(rest, seq) {
            Ok(len) => {
                visit(seq, &rest[RECORD_HEADER_BYTES_V1..RECORD_HEADER_BYTES_V1 + len]);
                pos += RECORD_HEADER_BYTES_V1 + len;
                seq += 1;
            }
            Err((torn, reason)) => {
                let offset = pos as u64;
                break if torn && opts.is_last {
                    ScanEnd::TornTail { offset, reason }
                } else {
                    ScanEnd::Corrupt { offset, reason }
                };
            }
        }
    };
    Ok(SegmentScan {
        version: VERSION_1,
        base_seq,
        records: seq - base_seq,
        valid_len: pos as u64,
        end,
        seal: None,
        content: None,
    })
}

/// Version-1 record check; the error says whether the bad bytes may be a torn append.
fn check_record_v1(rest: &[u8], expected_seq: u64) -> Result<usize, (bool, String)> {
    if rest.iter().all(|&b| b == 0) {
        return Err((true, format!("{} zero bytes at the end", rest.len())));
    }
    if rest.len() < RECORD_HEADER_BYTES_V1 {
        return Err((true, format!("{} bytes, less than a record header", rest.len())));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    if len == 0 || len > MAX_RECORD_BYTES {
        return Err((false, format!("record length {len} is outside 1..={MAX_RECORD_BYTES}")));
    }
    let total = RECORD_HEADER_BYTES_V1 + len;
    if rest.len() < total {
        return Err((
            true,
            format!("record announces {len} payload bytes, only {} present", rest.len() - 16),
        ));
    }
    let payload = &rest[RECORD_HEADER_BYTES_V1..total];
    let actual = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&rest[0..4]), &rest[8..16]),
        payload,
    );
    if actual != crc {
        let reason = format!("record checksum mismatch (stored {crc:08x}, computed {actual:08x})");
        return Err((rest.len() == total, reason));
    }
    if seq != expected_seq {
        return Err((false, format!("record sequence {seq}, expected {expected_seq}")));
    }
    Ok(len)
}

/// Version-1 framing, for tests of the upgrade path.
pub(crate) fn encode_v1(base_seq: u64, payloads: &[&[u8]]) -> Vec<u8> {
    let mut h = encode_header(base_seq).to_vec();
    h[8..12].copy_from_slice(&VERSION_1.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    for (i, p) in payloads.iter().enumerate() {
        let len = (p.len() as u32).to_le_bytes();
        let seq = (base_seq + i as u64).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &seq), p);
        h.extend_from_slice(&len);
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&seq);
        h.extend_from_slice(p);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(base: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = encode_header(base).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            let synced = buf.len() as u64;
            encode_record(&mut buf, KIND_EVENT, base + i as u64, synced, p);
        }
        buf
    }

    fn opts(is_last: bool, durable_len: u64) -> ScanOptions {
        ScanOptions {
            is_last,
            stop_at_seq: None,
            hash: true,
            durable_len,
        }
    }

    fn scan(buf: &[u8], o: ScanOptions) -> (Vec<(u64, Vec<u8>)>, SegmentScan) {
        let mut seen = Vec::new();
        let s = scan_segment(Path::new("t.seg"), buf, o, |seq, p| seen.push((seq, p.to_vec()))).unwrap();
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
        let (seen, s) = scan(&buf, opts(true, 0));
        assert_eq!(
            seen,
            vec![(7, b"a".to_vec()), (8, b"bb".to_vec()), (9, b"ccc".to_vec())]
        );
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.valid_len, buf.len() as u64);
        assert_eq!(s.content, Some(*blake3::hash(&buf).as_bytes()));
    }

    #[test]
    fn short_tail_is_torn_in_last_segment_beyond_the_durable_mark_only() {
        let mut buf = segment(0, &[b"one", b"two"]);
        let good = buf.len();
        encode_record(&mut buf, KIND_EVENT, 2, good as u64, b"three");
        buf.truncate(buf.len() - 2);
        let (seen, s) = scan(&buf, opts(true, good as u64));
        assert_eq!(seen.len(), 2);
        assert_eq!(s.valid_len, good as u64);
        assert!(matches!(s.end, ScanEnd::TornTail { offset, .. } if offset == good as u64));
        // The same bytes, when the mark says the third record was durable: corruption.
        let (_, s) = scan(&buf, opts(true, good as u64 + 5));
        assert!(
            matches!(s.end, ScanEnd::Corrupt { offset, .. } if offset == good as u64),
            "{:?}",
            s.end
        );
        let (_, s) = scan(&buf, opts(false, 0));
        assert!(matches!(s.end, ScanEnd::Corrupt { .. }));
    }

    #[test]
    fn flipped_len_before_a_later_batch_is_corruption() {
        // Records 0 and 1 in one batch (synced 32), record 2 in a later batch (synced after 1).
        let mut buf = encode_header(0).to_vec();
        encode_record(&mut buf, KIND_EVENT, 0, 32, b"one");
        let second = buf.len();
        encode_record(&mut buf, KIND_EVENT, 1, 32, b"two");
        let synced = buf.len() as u64;
        encode_record(&mut buf, KIND_EVENT, 2, synced, b"three");
        buf[second] ^= 0x40; // the len field of record 1
        let (seen, s) = scan(&buf, opts(true, 0));
        assert_eq!(seen.len(), 1);
        assert!(
            matches!(s.end, ScanEnd::Corrupt { offset, .. } if offset == second as u64),
            "{:?}",
            s.end
        );
    }

    #[test]
    fn damage_inside_the_last_unsynced_batch_is_torn() {
        // A power loss dropped a page in the middle of the last batch, which was never synced.
        let mut buf = encode_header(0).to_vec();
        encode_record(&mut buf, KIND_EVENT, 0, 32, b"one");
        let durable = buf.len() as u64;
        let start = buf.len();
        encode_record(&mut buf, KIND_EVENT, 1, durable, b"two");
        encode_record(&mut buf, KIND_EVENT, 2, durable, b"three");
        for b in &mut buf[start..start + 10] {
            *b = 0;
        }
        let (seen, s) = scan(&buf, opts(true, durable));
        assert_eq!(seen.len(), 1);
        assert!(
            matches!(s.end, ScanEnd::TornTail { offset, .. } if offset == durable),
            "{:?}",
            s.end
        );
    }

    #[test]
    fn seals_are_checked() {
        let mut buf = segment(5, &[b"a", b"bb"]);
        let content = *blake3::hash(&buf).as_bytes();
        let end = buf.len() as u64;
        let seal = Seal::new([7; 32], content, 5, 2, end);
        encode_record(&mut buf, KIND_SEAL, 7, end, &seal.encode());
        let (_, s) = scan(&buf, opts(false, 0));
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.seal, Some(seal));
        // A payload byte changed and its record checksum fixed up: only the hash sees it.
        let mut edited = buf.clone();
        let at = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES;
        edited[at] = b'z';
        let crc = record_crc(&edited[32..56], &edited[56..57]);
        edited[36..40].copy_from_slice(&crc.to_le_bytes());
        let (_, s) = scan(&edited, opts(false, 0));
        assert!(
            matches!(&s.end, ScanEnd::Corrupt { reason, .. } if reason.contains("edited")),
            "{:?}",
            s.end
        );
        // Cut at a record boundary (no seal): corruption in a sealed segment.
        let (_, s) = scan(&buf[..end as usize], opts(false, 0));
        assert!(matches!(&s.end, ScanEnd::Corrupt { reason, .. } if reason.contains("without its seal")));
    }

    #[test]
    fn cut_short_below_the_mark_is_corruption() {
        let buf = segment(0, &[b"one", b"two"]);
        let (_, s) = scan(&buf, opts(true, buf.len() as u64 + 40));
        assert!(matches!(&s.end, ScanEnd::Corrupt { reason, .. } if reason.contains("cut short")));
    }

    #[test]
    fn version_1_segments_are_read() {
        let buf = encode_v1(3, &[b"x", b"yy"]);
        let (seen, s) = scan(&buf, opts(true, 0));
        assert_eq!(s.version, 1);
        assert_eq!(seen, vec![(3, b"x".to_vec()), (4, b"yy".to_vec())]);
    }

    #[test]
    fn bad_header_is_refused() {
        let mut buf = segment(0, &[b"one"]);
        buf[0] = b'X';
        assert!(matches!(
            scan_segment(Path::new("t"), &buf, opts(true, 0), |_, _| {}),
            Err(LogError::NotALog { .. })
        ));
        let mut buf = segment(0, &[b"one"]);
        buf[17] ^= 1;
        assert!(matches!(
            scan_segment(Path::new("t"), &buf, opts(true, 0), |_, _| {}),
            Err(LogError::Corrupt { offset: 0, .. })
        ));
    }

    #[test]
    fn hwm_round_trips_and_rejects_damage() {
        let h = Hwm {
            segment_base: 9,
            durable_len: 1234,
            next_seq: 77,
        };
        let mut b = h.encode();
        assert_eq!(Hwm::decode(&b), Some(h));
        b[20] ^= 1;
        assert_eq!(Hwm::decode(&b), None);
        assert_eq!(h.evidence_for(9), 1234);
        assert_eq!(h.evidence_for(8), u64::MAX);
        assert_eq!(h.evidence_for(10), 0);
    }
}
