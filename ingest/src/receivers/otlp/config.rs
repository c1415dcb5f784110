//! Settings of the OTLP receivers.

use std::net::SocketAddr;

/// Where and how the OTLP receivers listen.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// OTLP/gRPC listen address (default 127.0.0.1:4317).
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address (default 127.0.0.1:4318); also serves `/metrics` and `/healthz`.
    pub http_addr: SocketAddr,
    /// Largest accepted request body after decompression, in bytes (default 64 MiB).
    pub max_body_bytes: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 4318)),
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}
