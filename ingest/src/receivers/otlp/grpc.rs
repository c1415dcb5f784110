//! OTLP/gRPC: the three collector services on one tonic server, gzip accepted.

use std::sync::Arc;

use cutover_schemas::Source;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{Logs, Metrics, OtlpState, Signal, Traces};

const RECEIVER: &str = "otlp_grpc";

/// The gRPC service implementation.
#[derive(Clone)]
pub struct OtlpGrpc(pub Arc<OtlpState>);

impl OtlpGrpc {
    async fn export<S: Signal>(&self, req: S::Request) -> Result<Response<S::Response>, Status> {
        self.0
            .export::<S>(RECEIVER, Source::OtlpGrpc, req)
            .await
            .map(Response::new)
            .map_err(|e| e.grpc_status())
    }

    /// Serves the trace, metrics and logs services on `incoming` until `shutdown` resolves.
    pub async fn serve(
        self,
        incoming: tonic::transport::server::TcpIncoming,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let limit = self.0.max_body_bytes;
        let state = self.0.clone();
        let decode_errors =
            tower::util::MapResponseLayer::new(move |resp| invalid_argument_for_decode_errors(&state, resp));
        tonic::transport::Server::builder()
            .layer(decode_errors)
            .add_service(
                TraceServiceServer::new(self.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                MetricsServiceServer::new(self.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                LogsServiceServer::new(self)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(limit),
            )
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}

/// tonic answers an undecodable protobuf message with INTERNAL (gRPC's own convention); OTLP
/// wants INVALID_ARGUMENT so that clients do not retry bad data. The error is a trailers-only
/// response, so its status is in the headers and can be corrected here.
fn invalid_argument_for_decode_errors(
    state: &OtlpState,
    mut resp: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = resp.headers();
    let is_internal = headers.get("grpc-status").is_some_and(|v| v == "13");
    let is_decode = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.starts_with("failed%20to%20decode"));
    if is_internal && is_decode {
        resp.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("3"));
        state.count_refused(RECEIVER, &crate::error::IngestError::InvalidInput(String::new()));
    }
    resp
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        OtlpGrpc::export::<Traces>(self, request.into_inner()).await
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        OtlpGrpc::export::<Metrics>(self, request.into_inner()).await
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        OtlpGrpc::export::<Logs>(self, request.into_inner()).await
    }
}
