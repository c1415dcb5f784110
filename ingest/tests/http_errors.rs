//! In-process tests of the OTLP/HTTP handler's error paths that need a broken disk.

use std::sync::Arc;

use axum::body::Body;
use cutover_eventlog::testing::FailingSyncStorage;
use cutover_eventlog::{LogConfig, LogWriter};
use cutover_ingest::metrics::Metrics;
use cutover_ingest::receivers::otlp::{OtlpState, http};
use cutover_ingest::sink::EventSink;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tower::ServiceExt;

fn request_body(span_byte: u8) -> Vec<u8> {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![span_byte; 8],
        name: "s".into(),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn post(router: &axum::Router, body: Vec<u8>) -> axum::response::Response {
    let req = ::http::Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(Body::from(body))
        .unwrap();
    router.clone().oneshot(req).await.unwrap()
}

async fn get_text(router: &axum::Router, path: &str) -> (u16, String) {
    let resp = router
        .clone()
        .oneshot(::http::Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn failed_fsync_gives_503_with_retry_after_and_an_unhealthy_daemon() {
    let dir = tempfile::tempdir().unwrap();
    // One sync for the new segment, one for the first append, then the disk fails.
    let storage = Arc::new(FailingSyncStorage::new(2));
    let (log, _) = LogWriter::open_with_storage(dir.path(), LogConfig::default(), storage).unwrap();
    let log = Arc::new(log);
    let sink = Arc::new(EventSink::new(log.clone(), Arc::new(Metrics::new())));
    let router = http::router(Arc::new(OtlpState::new(
        sink,
        "r".into(),
        cutover_ingest::config::Limits::default(),
    )));

    assert_eq!(post(&router, request_body(1)).await.status(), 200);
    assert_eq!(get_text(&router, "/healthz").await.0, 200);

    let resp = post(&router, request_body(2)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "30");
    // Later requests fail the same way without touching the disk.
    assert_eq!(post(&router, request_body(3)).await.status(), 503);

    let (status, text) = get_text(&router, "/healthz").await;
    assert_eq!(status, 503);
    assert!(text.contains("poisoned after a failed fsync"), "{text}");
    let (_, metrics) = get_text(&router, "/metrics").await;
    assert!(metrics.contains("cutover_log_healthy 0"), "{metrics}");
    assert!(
        metrics.contains(r#"cutover_ingest_requests_total{outcome="unavailable",receiver="otlp_http"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cutover_ingest_requests_total{outcome="ok",receiver="otlp_http"} 1"#),
        "{metrics}"
    );
}

#[test]
fn overload_maps_to_429_and_unavailable_with_retry_info() {
    use cutover_ingest::error::IngestError;
    use tonic_types::StatusExt;
    let e = IngestError::Overloaded;
    assert_eq!(e.http_status(), 429);
    let status = e.grpc_status();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let retry = status.get_details_retry_info().expect("RetryInfo attached");
    assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(1)));
    assert_eq!(
        IngestError::InvalidInput("x".into()).grpc_status().code(),
        tonic::Code::InvalidArgument
    );
}
