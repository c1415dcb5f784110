//! OTLP receivers: gRPC (`grpc.rs`) and HTTP with protobuf or JSON bodies (`http.rs`).
//!
//! Both decode a request, convert it (`convert.rs`), append the events durably and only then
//! answer: full success, or partial success with the `rejected_*` count and the first reason.

pub mod convert;
pub mod grpc;
pub mod http;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

use convert::{Converted, Origin};

use super::protosize;
use crate::admission::{Admission, Ticket};
use crate::config::Limits;
use crate::error::IngestError;
use crate::sink::EventSink;

/// One OTLP signal: its request and response types and how to convert it.
pub trait Signal: Send + Sync + 'static {
    /// The gRPC method path.
    const GRPC_PATH: &'static str;
    /// The request's message layout, for the decoded-size estimate.
    fn layout() -> &'static protosize::Layout;
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
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    fn layout() -> &'static protosize::Layout {
        &protosize::TRACES
    }
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
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    fn layout() -> &'static protosize::Layout {
        &protosize::METRICS
    }
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
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    fn layout() -> &'static protosize::Layout {
        &protosize::LOGS
    }
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
    /// Request limits.
    pub limits: Limits,
    /// The budget of requests in flight.
    pub admission: Admission,
    /// Time a client has to send a body (HTTP).
    pub body_timeout: Duration,
    /// Time one call may take (gRPC).
    pub request_timeout: Duration,
}

fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl OtlpState {
    /// State with default limits and timeouts (tests, benchmarks).
    pub fn new(sink: Arc<EventSink>, default_region: String, limits: Limits) -> OtlpState {
        OtlpState {
            sink,
            default_region,
            admission: Admission::new(limits.inflight_bytes),
            limits,
            body_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
        }
    }

    /// Refuses a body whose decoded form would be too big for the request limit or the budget.
    pub fn admit_decoded<S: Signal>(&self, body: &[u8], json: bool, ticket: &mut Ticket) -> Result<(), IngestError> {
        let estimate = if json {
            protosize::estimate_json(body)
        } else {
            // Not well-formed protobuf: decoding will refuse it, charge its size.
            protosize::estimate(body, S::layout()).unwrap_or(body.len() as u64)
        };
        let max = self.limits.max_decoded_bytes() as u64;
        if estimate > max {
            return Err(IngestError::Exhausted(format!(
                "the request would take about {estimate} bytes once decoded, more than {max} (4 x limits.max_body_bytes)"
            )));
        }
        ticket.grow(estimate)
    }

    /// Converts, stores durably and answers one decoded export request. Counts the request
    /// when it succeeds; a refusal is counted by the caller ([`OtlpState::count_refused`]).
    pub async fn export<S: Signal>(
        &self,
        receiver: &'static str,
        source: Source,
        req: S::Request,
        ticket: &mut Ticket,
    ) -> Result<S::Response, IngestError> {
        let origin = Origin {
            default_region: &self.default_region,
            source,
            ingest_time_unix_nano: now_unix_nano(),
            max_events: self.limits.max_request_events,
            max_event_bytes: self.limits.max_request_event_bytes,
        };
        let converted = S::convert(&req, &origin);
        drop(req);
        let metrics = self.sink.metrics();
        // The events and their encoded records.
        ticket.grow(converted.event_bytes as u64)?;
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
            Err(e) => Err(e),
        }
    }

    /// Counts a refused request (the caller answers it).
    pub fn count_refused(&self, receiver: &'static str, e: &IngestError) {
        self.sink
            .metrics()
            .requests
            .with_label_values(&[receiver, e.outcome()])
            .inc();
    }
}
