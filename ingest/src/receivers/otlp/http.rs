//! OTLP/HTTP: `POST /v1/traces|metrics|logs` with `application/x-protobuf` or
//! `application/json` bodies, optionally gzip-compressed; the daemon's `/metrics` and
//! `/healthz` share the listener.
//!
//! Status rules: 200 with an `Export*ServiceResponse` (in the request's encoding) when
//! everything decodable was stored, carrying `partial_success` when items were refused; 400 for
//! undecodable bodies; 413 over the size limit or the decoded-size limit; 408 when the body is
//! not sent within the body timeout; 415 for other content types or encodings;
//! 429 or 503 with `Retry-After` when the log cannot take the data now. Error bodies are a
//! `google.rpc.Status` in the request's encoding (JSON when the content type was unusable).

use std::sync::Arc;

use axum::Router;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cutover_eventlog::Health;
use cutover_schemas::Source;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{Logs, Metrics, OtlpState, Signal, Traces};
use crate::error::IngestError;
use crate::receivers::body::{admit_declared, check_encoding, decompress, read_admitted};

const RECEIVER: &str = "otlp_http";
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Body encodings this endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status` without details.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The HTTP router.
pub fn router(state: Arc<OtlpState>) -> Router {
    Router::new()
        .route("/v1/traces", post(handle::<Traces>))
        .route("/v1/metrics", post(handle::<Metrics>))
        .route("/v1/logs", post(handle::<Logs>))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<OtlpState>>) -> Response {
    let m = state.sink.metrics();
    m.inflight_bytes.set(state.admission.in_use() as i64);
    m.inflight_limit_bytes.set(state.admission.total() as i64);
    let text = m.render(state.sink.backend());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn healthz(State(state): State<Arc<OtlpState>>) -> Response {
    // With the Kafka log, health is the daemon's own: appends the broker does not take are
    // refused request by request (503 with a retry hint) and resume when it returns.
    let health = match state.sink.backend() {
        crate::sink::Backend::Local(log) => log.health(),
        crate::sink::Backend::Kafka(_) => Health::Ok,
    };
    match health {
        Health::Ok => (StatusCode::OK, "ok\n").into_response(),
        unhealthy => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {}\n", health_text(&unhealthy)),
        )
            .into_response(),
    }
}

/// Why the event log is not healthy, for `/healthz`.
fn health_text(h: &Health) -> String {
    match h {
        Health::Ok => "ok".into(),
        Health::Poisoned { operation } => {
            format!("event log poisoned after a failed {operation}; restart after fixing the disk")
        }
        Health::OutOfSpace { free_bytes } => {
            format!("event log out of disk space ({free_bytes} bytes free); ingest resumes when space returns")
        }
        Health::Stalled { queued, since } => format!(
            "event log writer made no progress for {:.1} s with {queued} requests queued",
            since.as_secs_f64()
        ),
        Health::Stopped => "event log writer thread has stopped".into(),
    }
}

async fn handle<S: Signal>(State(state): State<Arc<OtlpState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let encoding = match content_encoding(&parts.headers) {
        Ok(e) => e,
        Err(e) => return refuse(&state, Encoding::Json, e),
    };
    let result = async {
        let limit = state.limits.max_body_bytes;
        check_encoding(&parts.headers)?;
        let mut ticket = state.admission.ticket();
        admit_declared(&parts.headers, &mut ticket, limit)?;
        let raw = read_admitted(&parts.headers, body, &mut ticket, limit, state.body_timeout).await?;
        let body = decompress(&parts.headers, raw, &mut ticket, limit)?;
        state.admit_decoded::<S>(&body, encoding == Encoding::Json, &mut ticket)?;
        let req = decode::<S>(encoding, &body)?;
        drop(body);
        let source = if encoding == Encoding::Json {
            Source::OtlpHttpJson
        } else {
            Source::OtlpHttpProtobuf
        };
        state.export::<S>(RECEIVER, source, req, &mut ticket).await
    }
    .await;
    match result {
        Ok(resp) => encode(encoding, StatusCode::OK, &resp),
        Err(e) => refuse(&state, encoding, e),
    }
}

/// Counts and answers a refused request.
fn refuse(state: &OtlpState, encoding: Encoding, e: IngestError) -> Response {
    state.count_refused(RECEIVER, &e);
    error_response(encoding, &e)
}

fn content_encoding(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        PROTOBUF => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        _ => Err(IngestError::UnsupportedMediaType(format!(
            "unsupported content type {raw:?}; use application/x-protobuf or application/json"
        ))),
    }
}

fn decode<S: Signal>(encoding: Encoding, body: &[u8]) -> Result<S::Request, IngestError> {
    match encoding {
        Encoding::Protobuf => <S::Request as prost::Message>::decode(body)
            .map_err(|e| IngestError::InvalidInput(format!("invalid protobuf body: {e}"))),
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| IngestError::InvalidInput(format!("invalid OTLP/JSON body: {e}")))
        }
    }
}

fn encode<T: prost::Message + serde::Serialize>(encoding: Encoding, status: StatusCode, msg: &T) -> Response {
    let (body, ctype) = match encoding {
        Encoding::Protobuf => (msg.encode_to_vec(), PROTOBUF),
        Encoding::Json => (serde_json::to_vec(msg).expect("response serializes"), JSON),
    };
    (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn error_response(encoding: Encoding, e: &IngestError) -> Response {
    let grpc = e.grpc_status();
    let status = RpcStatus {
        code: grpc.code() as i32,
        message: e.to_string(),
    };
    let mut resp = encode(encoding, e.http_status(), &status);
    if let Some(delay) = e.retry_after() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(delay.as_secs()));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_with_parameters_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(content_encoding(&h).unwrap(), Encoding::Json);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(
            content_encoding(&h),
            Err(IngestError::UnsupportedMediaType(_))
        ));
    }
}
