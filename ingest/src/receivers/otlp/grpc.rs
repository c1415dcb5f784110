//! OTLP/gRPC: the three collector services on one tonic server, gzip accepted.

use std::sync::Arc;

use cutover_schemas::Source;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
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

    /// A router with the trace, metrics and logs services.
    pub fn router(self) -> tonic::transport::server::Router {
        let limit = self.0.max_body_bytes;
        tonic::transport::Server::builder()
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
    }
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
