//! OTLP/gRPC: the three collector services' `Export` methods, served as HTTP/2 routes with
//! tonic's gRPC framing and our own codec, gzip accepted.
//!
//! Admission: the request body's bytes are taken from the budget as HTTP/2 frames arrive
//! ([`AdmittedBody`]); the codec estimates the decoded size from the message bytes and takes
//! it before decoding; conversion takes the events' size. Status rules: OK (with partial
//! success); INVALID_ARGUMENT for undecodable messages (tonic's own decode errors are INTERNAL,
//! which clients retry); RESOURCE_EXHAUSTED over a size limit; UNAVAILABLE + RetryInfo when
//! the budget or the log cannot take the request now; DEADLINE_EXCEEDED past the listener's
//! request timeout.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Buf, Bytes};
use cutover_schemas::Source;
use http_body::Frame;
use tonic::Status;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::{Logs, Metrics, OtlpState, Signal, Traces};
use crate::admission::Ticket;
use crate::error::IngestError;

const RECEIVER: &str = "otlp_grpc";

/// The gRPC router: one route per signal, UNIMPLEMENTED for anything else.
pub fn router(state: Arc<OtlpState>) -> Router {
    Router::new()
        .route(Traces::GRPC_PATH, post(export::<Traces>))
        .route(Metrics::GRPC_PATH, post(export::<Metrics>))
        .route(Logs::GRPC_PATH, post(export::<Logs>))
        .fallback(|req: Request| async move {
            grpc_error(Status::unimplemented(format!("no gRPC method {}", req.uri().path())))
        })
        .with_state(state)
}

/// A gRPC error as a trailers-only HTTP response.
pub fn grpc_error(status: Status) -> Response {
    status.into_http::<axum::body::Body>().into_response()
}

async fn export<S: Signal>(State(state): State<Arc<OtlpState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = AdmittedBody {
        inner: body,
        ticket: state.admission.ticket(),
        state: state.clone(),
    };
    let req = http::Request::from_parts(parts, body);
    let mut grpc = tonic::server::Grpc::new(OtlpCodec::<S> {
        state: state.clone(),
        signal: PhantomData,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(state.limits.max_body_bytes)
    .max_encoding_message_size(usize::MAX);
    let timeout = state.request_timeout;
    let counter = state.clone();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let export_started = started.clone();
    let service = tower::service_fn(move |r: tonic::Request<(S::Request, Ticket)>| {
        let state = state.clone();
        export_started.store(true, std::sync::atomic::Ordering::Relaxed);
        async move {
            let (msg, mut ticket) = r.into_inner();
            state
                .export::<S>(RECEIVER, Source::OtlpGrpc, msg, &mut ticket)
                .await
                .map(tonic::Response::new)
                .map_err(|e| {
                    state.count_refused(RECEIVER, &e);
                    e.grpc_status()
                })
        }
    });
    // The request timeout covers receiving and decoding the message. Once the export has
    // started it runs to its answer: cut short while its records are queued, they would still
    // be stored, and the client's retry would store them twice.
    let call = grpc.unary(service, req);
    tokio::pin!(call);
    let resp = tokio::select! {
        resp = &mut call => resp,
        _ = tokio::time::sleep(timeout) => {
            if started.load(std::sync::atomic::Ordering::Relaxed) {
                call.await
            } else {
                let e = IngestError::Timeout(format!(
                    "the request did not arrive within the listener's request timeout of {} s",
                    timeout.as_secs()
                ));
                counter.count_refused(RECEIVER, &e);
                return grpc_error(e.grpc_status());
            }
        }
    };
    out_of_range_is_resource_exhausted(resp.map(axum::body::Body::new), &counter)
}

/// tonic refuses a message over the decoding limit with OUT_OF_RANGE, which OTLP clients
/// retry; OTLP says RESOURCE_EXHAUSTED for a request too large.
fn out_of_range_is_resource_exhausted(mut resp: Response, state: &OtlpState) -> Response {
    let too_large = resp.headers().get("grpc-status").is_some_and(|v| v == "11")
        && resp
            .headers()
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if too_large {
        resp.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("8"));
        state.count_refused(
            RECEIVER,
            &IngestError::TooLarge {
                limit_bytes: state.limits.max_body_bytes,
            },
        );
    }
    resp
}

/// The request body, taking each HTTP/2 data frame's bytes from the budget as it arrives.
struct AdmittedBody {
    inner: axum::body::Body,
    ticket: Ticket,
    state: Arc<OtlpState>,
}

impl http_body::Body for AdmittedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(e) = this.ticket.grow(data.len() as u64)
                {
                    this.state.count_refused(RECEIVER, &e);
                    return Poll::Ready(Some(Err(Box::new(e.grpc_status()))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Decodes `S::Request` after admitting its estimated decoded size; encodes responses.
struct OtlpCodec<S: Signal> {
    state: Arc<OtlpState>,
    signal: PhantomData<S>,
}

struct OtlpDecoder<S: Signal> {
    state: Arc<OtlpState>,
    signal: PhantomData<S>,
}

struct OtlpEncoder<S: Signal>(PhantomData<S>);

impl<S: Signal> Codec for OtlpCodec<S> {
    type Encode = S::Response;
    type Decode = (S::Request, Ticket);
    type Encoder = OtlpEncoder<S>;
    type Decoder = OtlpDecoder<S>;

    fn encoder(&mut self) -> Self::Encoder {
        OtlpEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        OtlpDecoder {
            state: self.state.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: Signal> Encoder for OtlpEncoder<S> {
    type Item = S::Response;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        prost::Message::encode(&item, dst).map_err(|e| Status::internal(format!("cannot encode the response: {e}")))
    }
}

impl<S: Signal> Decoder for OtlpDecoder<S> {
    type Item = (S::Request, Ticket);
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        let mut ticket = self.state.admission.ticket();
        let admitted = ticket
            .grow(bytes.len() as u64)
            .and_then(|()| self.state.admit_decoded::<S>(&bytes, false, &mut ticket));
        if let Err(e) = admitted {
            self.state.count_refused(RECEIVER, &e);
            return Err(e.grpc_status());
        }
        match <S::Request as prost::Message>::decode(bytes) {
            Ok(req) => Ok(Some((req, ticket))),
            Err(e) => {
                let e = IngestError::InvalidInput(format!("failed to decode the protobuf message: {e}"));
                self.state.count_refused(RECEIVER, &e);
                Err(e.grpc_status())
            }
        }
    }
}
