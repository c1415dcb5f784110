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
        matches!(self, LogError::Overloaded)
    }
}
