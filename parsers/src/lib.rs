//! Pure protocol parsers: no I/O, no async, no allocation beyond the parsed values, so each
//! can be unit-tested, property-tested and fuzzed (`fuzz/`).
//!
//! - [`syslog`]: RFC 5424 and RFC 3164 messages.
//! - [`framing`]: RFC 6587 TCP framing, octet-counting and LF-terminated, detected per frame.
//! - [`cef`]: ArcSight Common Event Format, standalone or inside a syslog message.
//! - [`remote_write`]: Prometheus remote_write 1.0 bodies (snappy + protobuf).
//!
//! Parsers return typed errors that say what was wrong and where; callers keep unparsable
//! input as raw events flagged with the error, never drop it.

pub mod cef;
pub mod framing;
pub mod remote_write;
pub mod syslog;
