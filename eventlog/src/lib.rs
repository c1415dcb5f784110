//! The embedded event log: an append-only sequence of records in segment files.
//!
//! One writer (the ingest daemon) appends; any number of readers (the analyzer, `cutover
//! query`, `cutover verify`, later Kafka bridges and the SQL endpoint) replay it, also while it
//! grows. The log knows nothing about events: a record is an opaque, non-empty byte string
//! (cutover stores one encoded `cutover_schemas::Event` per record).
//!
//! The promise the rest of cutover builds on: **a record whose append was acknowledged is in
//! the log, and a read of the log either returns every durable record or fails naming the
//! damage.** Nothing below ever turns damage into a shorter read.
//!
//! # Files of a log directory
//!
//! | file | what |
//! |---|---|
//! | `{base_seq:020}.seg` | segment files; `base_seq` is the sequence number of the segment's first record |
//! | `LOCK` | held with an exclusive `flock` by the one writer for its whole life; holds the holder's pid and start time, for the error a second writer prints |
//! | `durable.hwm` | the durable high-water mark (below), rewritten in place after every fsync |
//!
//! Sequence numbers start at 0 and increase by one per record across segments, without gaps.
//! Segments sort by name in log order. The first segment of a log has `base_seq` 0.
//!
//! # On-disk format (version 2)
//!
//! Every segment starts with a 32-byte header (all integers little-endian):
//!
//! | offset | size | field                                         |
//! |-------:|-----:|-----------------------------------------------|
//! | 0      | 8    | magic `b"CUTOVLOG"`                           |
//! | 8      | 4    | format version, `2`                           |
//! | 12     | 4    | reserved, `0`                                 |
//! | 16     | 8    | `base_seq`                                    |
//! | 24     | 4    | CRC32C of bytes 0..24                         |
//! | 28     | 4    | reserved, `0`                                 |
//!
//! Records follow back to back, each framed with a 24-byte header:
//!
//! | offset | size | field                                                                 |
//! |-------:|-----:|-----------------------------------------------------------------------|
//! | 0      | 4    | `len`: payload length                                                 |
//! | 4      | 4    | CRC32C over bytes 0..4, bytes 8..24 and the payload                    |
//! | 8      | 8    | `seq`: the record's sequence number (a seal: the segment's next one)  |
//! | 16     | 1    | `kind`: 1 event, 2 seal (0 is never valid, so zeroed bytes are no record) |
//! | 17     | 3    | reserved, `0`                                                         |
//! | 20     | 4    | `synced`: bytes of this segment known durable (fsynced) when this record was written |
//! | 24     | len  | payload                                                               |
//!
//! An event's payload is `1..=MAX_RECORD_BYTES` bytes. A segment is at most
//! [`MAX_SEGMENT_BYTES`] long, so `synced` fits 32 bits.
//!
//! # Seals and the hash chain
//!
//! When the active segment reaches `segment_bytes` the writer **seals** it: it appends a seal
//! record (kind 2, [`SEAL_PAYLOAD_BYTES`] of payload) and fsyncs, then creates the next
//! segment (header written and synced, directory synced). The seal is always the last record
//! of a sealed segment, and a sealed segment is never written again. Its payload:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0   | 8  | `base_seq` |
//! | 8   | 8  | `records`: event records in the segment |
//! | 16  | 32 | `content`: BLAKE3 of the segment's bytes before the seal record (header and every record frame) |
//! | 48  | 32 | `prev`: the previous segment's `chain` (32 zero bytes for the segment at sequence 0) |
//! | 80  | 32 | `chain`: BLAKE3 in derive-key mode (context `"cutover event log 2026-12 segment seal v2"`) of `prev`, `content`, `base_seq`, `records` and the seal record's offset (u64 LE each) |
//!
//! So segment `k + 1` must start at sequence `base_seq + records` of segment `k`, every sealed
//! segment must end in its seal, and every seal must name its predecessor: a segment that is
//! missing, cut short, overlapping, reordered or edited breaks a rule every reader checks.
//!
//! The **head** of a log read up to record `n` is the `chain` a seal would have at that point:
//! the newest seal's `chain` when the read ends at one, otherwise the chain function over the
//! newest segment's bytes up to the end of record `n - 1`. Reports name the head and the record
//! range they were computed from; `cutover verify` prints the head of the log it checked.
//!
//! # Durability ([`FsyncPolicy`])
//!
//! The writer is one thread. It takes every append request that is waiting, writes them in one
//! batch and then, under [`FsyncPolicy::Always`] (the default), calls `fdatasync` once for the
//! whole batch before answering any of them (group commit). An append returns `Ok` only after
//! its records are on stable storage; its latency is the batch's write plus one fsync.
//! Under [`FsyncPolicy::Interval`] an append returns once its batch has been written to the
//! operating system (it survives a crash of the daemon), and the writer syncs at most every
//! `interval`; an operating-system crash or power loss can lose up to that interval of
//! acknowledged records.
//!
//! A failed fsync **poisons** the writer: the pending appends fail, every later append fails
//! with [`LogError::Poisoned`], and [`LogWriter::health`] reports it. There is no retry: after
//! a failed fsync the kernel may have dropped the dirty pages, so a second fsync that succeeds
//! proves nothing. A write that fails for lack of space is not a poison: see *Disk full*.
//!
//! # The durable high-water mark
//!
//! After every successful fsync the writer rewrites `durable.hwm` in place (48 bytes: magic
//! `b"CUTOVHWM"`, the active segment's `base_seq`, its durable length, the next sequence
//! number after the last durable record, CRC32C of bytes 0..32, 12 reserved bytes). It is not
//! fsynced itself: written only after the data it names is durable, its content on disk is
//! always a lower bound of what is durable, whatever a crash keeps of it.
//!
//! Readers read the mark first and stop at its sequence number, so nothing they report can
//! vanish in a crash and no sequence number they saw is ever handed out again. A log whose
//! records end before the mark is missing durable data: an error, not a shorter read. A log
//! without a mark (version 1, or a writer that never synced) is read to its valid end.
//!
//! # Recovery: torn tail or corruption
//!
//! Only an append that was never acknowledged may be truncated. A crash can leave any subset of
//! the pages written since the last fsync (dropped, zeroed or kept, in any order); everything
//! before the last fsync is intact. [`LogWriter::open`] therefore decides with proof:
//!
//! 1. It scans the newest segment (after dropping its cached pages, so that pages a failed
//!    fsync left in the page cache but never wrote are read from the disk) up to the first
//!    byte `X` that is not a valid record.
//! 2. The durable evidence `E` is the largest of: the durable length in `durable.hwm` when it
//!    names this segment (the whole segment when it names a later one), and the `synced`
//!    field of every valid record found by scanning forward from `X` for record frames.
//! 3. `X >= E`: the bytes from `X` on were never known durable, so no append in them was
//!    acknowledged (under `Always`): a **torn tail**, truncated (and the truncation synced)
//!    and reported in [`Recovery`]. `X < E`: acknowledged data is damaged: **corruption**.
//!
//! Corruption anywhere (an invalid record or header in a sealed segment, a broken seal, a
//! missing, short or overlapping segment, records ending before the durable mark) makes
//! opening fail with [`LogError::Corrupt`] naming the file and offset; the writer then appends
//! nothing on top of it. Readers apply the same rules without modifying anything; beyond the
//! durable mark they read nothing. `cutover salvage` copies the valid records of a damaged log
//! into a new one and lists what was lost.
//!
//! The newest segment may also lack a whole, valid header (a crash during a roll, before the
//! header reached the disk: removed, unless the mark names it or a valid record frame is in
//! it, which is corruption) or end in a valid seal (a crash after sealing: the next segment is
//! created). The recovered tail is fsynced and the mark rewritten before the first append.
//!
//! [`RecoveryScan::LastSegment`] (the default) checks the sealed segments by their header,
//! length and seal (linkage and chain, one small read each), so restart time does not grow
//! with the log; [`RecoveryScan::Full`] also reads every record and recomputes every content
//! hash.
//!
//! # Disk full
//!
//! Before each batch the writer checks the file system's free space; below the batch plus
//! `min_free_bytes` it refuses the batch with [`LogError::NoSpace`] (retryable) without writing.
//! A write that still fails with `ENOSPC` is cut back to the batch's start and refused the same
//! way. Nothing acknowledged is touched, [`LogWriter::health`] says `OutOfSpace`, and appends
//! succeed again by themselves once space returns (the writer re-checks every second).
//!
//! # Version 1
//!
//! Version-1 logs (16-byte record frames without `kind` and `synced`, no seals, no mark) are
//! still read, with the version-1 rules (a short, zeroed or checksum-failing final record of
//! the newest segment is its end). The writer refuses to append to them:
//! `cutover salvage --data-dir OLD --into NEW` copies one into a version-2 log.

mod error;
mod format;
mod fs;
mod reader;
mod salvage;
pub mod testing;
mod verify;
mod writer;

pub use error::LogError;
pub use format::{
    Digest, HWM_FILE, Hwm, MAX_RECORD_BYTES, MAX_SEGMENT_BYTES, RECORD_HEADER_BYTES, SEAL_PAYLOAD_BYTES,
    SEGMENT_HEADER_BYTES, ScanEnd, Seal, SegmentScan, hex, segment_file_name,
};
pub use fs::{LOCK_FILE, LockError, LogFile, OsStorage, Storage};
pub use reader::{ChainCheck, LogPlan, LogReader, PlannedSegment, Record};
pub use salvage::{LostRange, SALVAGE_FILE, SalvageReport, read_salvage_report, salvage};
pub use verify::{Problem, SegmentReport, VerifyReport, verify};
pub use writer::{AppendReceipt, FsyncPolicy, Health, LogConfig, LogWriter, Recovery, RecoveryScan, WriterStats};
