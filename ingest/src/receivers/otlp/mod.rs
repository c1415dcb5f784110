//! OTLP receivers: gRPC (`grpc.rs`) and HTTP with protobuf or JSON bodies (`http.rs`).
//!
//! Both decode a request, convert it (`convert.rs`), append the events durably and only then
//! answer: full success, or partial success with the `rejected_*` count and the first reason.

pub mod config;
pub mod convert;
pub mod grpc;
pub mod http;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cutover_schemas::Source;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

pub use config::OtlpConfig;
use convert::{Converted, Origin};

use crate::error::IngestError;
use crate::sink::EventSink;

/// One OTLP signal: its request and response types and how to convert it.
pub trait Signal: Send + Sync + 'static {
    /// Export request.
    type Request: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static;
    /// Export response.
    type Response: prost::Message + serde::Serialize + Send + 'static;
    /// Converts a request.
    fn convert(req: &Self::Request, origin: &Origin<'_>) -> Converted;
    /// Builds the response for `rejected` refused items.
    fn response(rejected: i64, error_message: String) -> Self::Response;
}

/// `/v1/traces`.
pub struct Traces;
/// `/v1/metrics`.
pub struct Metrics;
/// `/v1/logs`.
pub struct Logs;

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    fn convert(req: &Self::Request, origin: &Origin<'_>) -> Converted {
        convert::traces(req, origin)
    }
    fn response(rejected: i64, error_message: String) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message,
            }),
        }
    }
}

impl Signal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    fn convert(req: &Self::Request, origin: &Origin<'_>) -> Converted {
        convert::metrics(req, origin)
    }
    fn response(rejected: i64, error_message: String) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message,
            }),
        }
    }
}

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    fn convert(req: &Self::Request, origin: &Origin<'_>) -> Converted {
        convert::logs(req, origin)
    }
    fn response(rejected: i64, error_message: String) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message,
            }),
        }
    }
}

/// What both OTLP transports share.
pub struct OtlpState {
    /// Durable destination.
    pub sink: Arc<EventSink>,
    /// Region for resources without `cloud.region`.
    pub default_region: String,
    /// Largest decompressed request.
    pub max_body_bytes: usize,
}

fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl OtlpState {
    /// Converts, stores durably and answers one decoded export request.
    pub async fn export<S: Signal>(
        &self,
        receiver: &'static str,
        source: Source,
        req: S::Request,
    ) -> Result<S::Response, IngestError> {
        let origin = Origin {
            default_region: &self.default_region,
            source,
            ingest_time_unix_nano: now_unix_nano(),
        };
        let converted = S::convert(&req, &origin);
        drop(req);
        let metrics = self.sink.metrics();
        let result = self.sink.store(receiver, converted.events).await;
        match result {
            Ok(()) => {
                let outcome = if converted.rejected > 0 { "partial" } else { "ok" };
                metrics.requests.with_label_values(&[receiver, outcome]).inc();
                if converted.rejected > 0 {
                    metrics
                        .rejected
                        .with_label_values(&[receiver])
                        .inc_by(converted.rejected as u64);
                }
                Ok(S::response(
                    converted.rejected,
                    converted.first_error.unwrap_or_default(),
                ))
            }
            Err(e) => {
                metrics.requests.with_label_values(&[receiver, e.outcome()]).inc();
                Err(e)
            }
        }
    }

    /// Counts a request refused before conversion.
    pub fn count_refused(&self, receiver: &'static str, e: &IngestError) {
        self.sink
            .metrics()
            .requests
            .with_label_values(&[receiver, e.outcome()])
            .inc();
    }
}
