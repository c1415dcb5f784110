//! Ingest errors, classified by who is at fault, mapped once to HTTP and gRPC.

use std::time::Duration;

use cutover_eventlog::LogError;

/// Why a request was not (fully) accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The client sent data we cannot decode or that breaks the protocol.
    #[error("{0}")]
    InvalidInput(String),
    /// The (decompressed) body is larger than the limit.
    #[error("request body exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The request would hold or produce more than a limit allows (decoded size, events).
    #[error("{0}")]
    Exhausted(String),
    /// The client did not send its request in time.
    #[error("{0}")]
    Timeout(String),
    /// The content type is not one this endpoint takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The log's queue is full: retry shortly.
    #[error("ingest is overloaded, retry later")]
    Overloaded,
    /// The log's file system is full: retry once space is freed (the log resumes by itself).
    #[error("event log out of disk space, retry later")]
    NoSpace,
    /// The log cannot accept data (poisoned or closed): retry elsewhere or later.
    #[error("event log is unavailable")]
    Unavailable,
}

impl IngestError {
    /// Label for the `outcome` of request metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::InvalidInput(_) => "invalid",
            IngestError::TooLarge { .. } | IngestError::Exhausted(_) => "too_large",
            IngestError::Timeout(_) => "timeout",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::Overloaded => "overloaded",
            IngestError::NoSpace => "no_space",
            IngestError::Unavailable => "unavailable",
        }
    }

    /// How long a client should wait before retrying, for retryable errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::Overloaded => Some(Duration::from_secs(1)),
            IngestError::NoSpace => Some(Duration::from_secs(10)),
            IngestError::Unavailable => Some(Duration::from_secs(30)),
            _ => None,
        }
    }

    /// HTTP status per the OTLP/HTTP rules.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            IngestError::InvalidInput(_) => S::BAD_REQUEST,
            IngestError::TooLarge { .. } | IngestError::Exhausted(_) => S::PAYLOAD_TOO_LARGE,
            IngestError::Timeout(_) => S::REQUEST_TIMEOUT,
            IngestError::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Overloaded => S::TOO_MANY_REQUESTS,
            IngestError::NoSpace | IngestError::Unavailable => S::SERVICE_UNAVAILABLE,
        }
    }

    /// gRPC status per the OTLP/gRPC rules; retryable errors carry `RetryInfo`.
    pub fn grpc_status(&self) -> tonic::Status {
        use tonic::Code;
        use tonic_types::{ErrorDetails, StatusExt};
        let code = match self {
            IngestError::InvalidInput(_) | IngestError::UnsupportedMediaType(_) => Code::InvalidArgument,
            IngestError::TooLarge { .. } | IngestError::Exhausted(_) => Code::ResourceExhausted,
            IngestError::Timeout(_) => Code::DeadlineExceeded,
            IngestError::Overloaded | IngestError::NoSpace | IngestError::Unavailable => Code::Unavailable,
        };
        match self.retry_after() {
            Some(delay) => {
                tonic::Status::with_error_details(code, self.to_string(), ErrorDetails::with_retry_info(Some(delay)))
            }
            None => tonic::Status::new(code, self.to_string()),
        }
    }
}

impl From<LogError> for IngestError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Overloaded => IngestError::Overloaded,
            LogError::NoSpace { free_bytes } => {
                tracing::warn!(free_bytes, "append refused: the event log's file system is full");
                IngestError::NoSpace
            }
            LogError::RecordSize { len, max } => {
                IngestError::InvalidInput(format!("one event encodes to {len} bytes, more than {max}"))
            }
            other => {
                tracing::error!(error = %other, "event log append failed");
                IngestError::Unavailable
            }
        }
    }
}
