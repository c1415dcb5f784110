//! OTLP/HTTP: `POST /v1/traces|metrics|logs` with `application/x-protobuf` or
//! `application/json` bodies, optionally gzip-compressed; the daemon's `/metrics` and
//! `/healthz` share the listener.
//!
//! Status rules: 200 with an `Export*ServiceResponse` (in the request's encoding) when
//! everything decodable was stored, carrying `partial_success` when items were refused; 400 for
//! undecodable bodies; 413 over the size limit; 415 for other content types or encodings;
//! 429 or 503 with `Retry-After` when the log cannot take the data now. Error bodies are a
//! `google.rpc.Status` in the request's encoding (JSON when the content type was unusable).

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cutover_eventlog::Health;
use cutover_schemas::Source;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{Logs, Metrics, OtlpState, Signal, Traces};
use crate::error::IngestError;

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
    let text = state.sink.metrics().render(state.sink.log());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn healthz(State(state): State<Arc<OtlpState>>) -> Response {
    match state.sink.log().health() {
        Health::Ok => (StatusCode::OK, "ok\n").into_response(),
        Health::Poisoned { operation } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: event log poisoned after a failed {operation}\n"),
        )
            .into_response(),
    }
}

async fn handle<S: Signal>(State(state): State<Arc<OtlpState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let encoding = match content_encoding(&parts.headers) {
        Ok(e) => e,
        Err(e) => return refuse(&state, Encoding::Json, e),
    };
    let result = async {
        let body = read_body(&parts.headers, body, state.max_body_bytes).await?;
        let req = decode::<S>(encoding, &body)?;
        drop(body);
        let source = if encoding == Encoding::Json {
            Source::OtlpHttpJson
        } else {
            Source::OtlpHttpProtobuf
        };
        state.export::<S>(RECEIVER, source, req).await
    }
    .await;
    match result {
        Ok(resp) => encode(encoding, StatusCode::OK, &resp),
        Err(e @ (IngestError::Overloaded | IngestError::Unavailable)) => error_response(encoding, &e),
        Err(e) => refuse(&state, encoding, e),
    }
}

/// Refusals that happened before `export` counted the request.
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
        _ => Err(IngestError::UnsupportedMediaType(raw.to_string())),
    }
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` reports the limit through a boxed `LengthLimitError` source.
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) {
            IngestError::TooLarge { limit_bytes: limit }
        } else {
            IngestError::InvalidInput(format!("could not read request body: {e}"))
        }
    })?;
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "identity" | "" => Ok(raw),
        "gzip" => gunzip(&raw, limit).map(Bytes::from),
        other => Err(IngestError::UnsupportedMediaType(format!("content-encoding {other}"))),
    }
}

/// Decompresses at most `limit` bytes; more is `TooLarge`, not a memory blow-up.
pub(crate) fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| IngestError::InvalidInput(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit_bytes: limit });
    }
    Ok(out)
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
    fn gunzip_enforces_the_limit_on_decompressed_size() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&gz, 9_999),
            Err(IngestError::TooLarge { limit_bytes: 9_999 })
        ));
        assert!(matches!(gunzip(b"not gzip", 100), Err(IngestError::InvalidInput(_))));
    }

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
