//! The embedded event log: an append-only sequence of records in segment files.
//!
//! One writer (the ingest daemon) appends; any number of readers (the analyzer, `cutover
//! query`, later Kafka bridges and the SQL endpoint) replay it, also while it grows. The log
//! knows nothing about events: a record is an opaque, non-empty byte string (cutover stores one
//! encoded `cutover_schemas::Event` per record).
//!
//! # On-disk format (version 1)
//!
//! A log is a directory of segment files named `{base_seq:020}.seg`, where `base_seq` is the
//! sequence number of the segment's first record. Sequence numbers start at 0 and increase by
//! one per record across segments, without gaps. Segments sort by name in log order.
//!
//! Every segment starts with a 32-byte header (all integers little-endian):
//!
//! | offset | size | field                                         |
//! |-------:|-----:|-----------------------------------------------|
//! | 0      | 8    | magic `b"CUTOVLOG"`                           |
//! | 8      | 4    | format version, `1`                           |
//! | 12     | 4    | reserved, `0`                                 |
//! | 16     | 8    | `base_seq`                                    |
//! | 24     | 4    | CRC32C of bytes 0..24                         |
//! | 28     | 4    | reserved, `0`                                 |
//!
//! Records follow back to back, each framed as:
//!
//! | offset | size | field                                                   |
//! |-------:|-----:|---------------------------------------------------------|
//! | 0      | 4    | `len`: payload length, `1..=MAX_RECORD_BYTES`           |
//! | 4      | 4    | CRC32C over the `len` bytes, the `seq` bytes and payload |
//! | 8      | 8    | `seq`: this record's sequence number                    |
//! | 16     | len  | payload                                                 |
//!
//! The `seq` field is redundant with the position but lets recovery and readers prove that
//! they are where they think they are.
//!
//! # Rolling
//!
//! After a write batch, when the active segment has reached `segment_bytes`, the writer syncs
//! it, creates the next segment (header written and synced) and syncs the directory. A sealed
//! segment is never written again, so any invalid byte in it is corruption.
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
//! A failed write or fsync **poisons** the writer: the pending appends fail, every later append
//! fails with [`LogError::Poisoned`], and [`LogWriter::health`] reports it. There is no retry:
//! after a failed fsync the kernel may have dropped the dirty pages, so a second fsync that
//! succeeds proves nothing.
//!
//! # Recovery
//!
//! [`LogWriter::open`] scans the last segment record by record ([`scan_segment`]) and checks
//! the headers and sequence order of the sealed ones ([`RecoveryScan::LastSegment`], the
//! default, so restart time does not grow with the log); [`RecoveryScan::Full`] scans every
//! record of every segment. In the last segment, a tail that
//! is incomplete (fewer bytes than a header, or than the record's `len` announces), all zero,
//! or a final record whose checksum fails, is a **torn tail**: an append that never completed,
//! so it was never acknowledged. It is truncated and the truncated byte count is reported in
//! [`Recovery`]. Any other invalid record, or any invalid record in a sealed segment, is
//! **corruption**: opening (for what it scans) and every reader fail with [`LogError::Corrupt`]
//! naming the segment and offset: acknowledged data is damaged, and skipping it silently would
//! hide that.
//!
//! Readers ([`LogReader`]) apply the same rules but never modify files: an incomplete tail in
//! the last segment is simply the current end of the log (the writer may be in the middle of
//! writing it).

mod error;
mod format;
mod fs;
mod reader;
pub mod testing;
mod writer;

pub use error::LogError;
pub use format::{
    MAX_RECORD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, ScanEnd, SegmentScan, scan_segment, segment_file_name,
};
pub use fs::{LogFile, OsStorage, Storage};
pub use reader::{LogReader, Record};
pub use writer::{AppendReceipt, FsyncPolicy, Health, LogConfig, LogWriter, Recovery, RecoveryScan, WriterStats};
