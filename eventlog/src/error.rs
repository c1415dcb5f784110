//! Errors of the event log.

use std::path::PathBuf;

/// Everything that can go wrong opening, appending to or reading the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O operation failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Acknowledged data is damaged: an invalid record that is not a torn tail.
    #[error("corrupt log: {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the invalid record or header in that file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A write or fsync failed earlier; the writer accepts nothing more.
    #[error("log writer is poisoned after a failed {operation}; restart the daemon after fixing the disk")]
    Poisoned {
        /// `write` or `fsync`.
        operation: &'static str,
    },
    /// Another writer holds the log.
    #[error(
        "{path} is already open for writing by another cutover process ({holder}); stop it first, or read the log with analyze, query or verify"
    )]
    Locked {
        /// The log directory.
        path: PathBuf,
        /// What the holder wrote into the lock file (pid, executable, start time).
        holder: String,
    },
    /// A version-1 log: read, not appended to.
    #[error(
        "{path} is a format version 1 log, which this build reads but does not append to; copy it into a version 2 log with `cutover salvage --data-dir OLD --into NEW`"
    )]
    OldFormat {
        /// The segment.
        path: PathBuf,
    },
    /// The file system is (nearly) full: retry once space is freed.
    #[error("no space left for the event log ({free_bytes} bytes free); appends resume when space returns")]
    NoSpace {
        /// Free bytes when the append was refused.
        free_bytes: u64,
    },
    /// A setting is out of range.
    #[error("invalid log setting: {0}")]
    Config(String),
    /// The writer's queue is full: the caller should retry later.
    #[error("log writer queue is full")]
    Overloaded,
    /// The writer has shut down.
    #[error("log writer is closed")]
    Closed,
    /// A record was empty or larger than [`crate::MAX_RECORD_BYTES`].
    #[error("record of {len} bytes is outside 1..={max}")]
    RecordSize {
        /// The offending length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The directory is not a log of a version this build reads.
    #[error("{path} is not a cutover log segment: {reason}")]
    NotALog {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the caller may retry the same append later (overload), false when retrying
    /// cannot help until an operator acts.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Overloaded | LogError::NoSpace { .. })
    }
}
