//! Prometheus remote_write 1.0 at `POST /api/v1/write`: snappy block-compressed protobuf
//! `WriteRequest`s. Every sample becomes a metric-point event: name from `__name__`, the
//! other labels as attributes, service from `job`, region from the label named by
//! `receivers.prometheus_remote_write.region_label` (default `region`, as set by `external_labels`) or the listener default.
//! Staleness markers are kept and flagged (`is_stale`).
//!
//! Status rules: 204 only when everything is stored; 400 for undecodable or invalid data
//! (Prometheus drops it and does not retry); 413 over the size limit, the decoded-size limit
//! or the per-request event limits; 415 for a content type or
//! encoding other than snappy protobuf, including remote_write 2.0 (not supported yet); 503 +
//! Retry-After when the log cannot take the data (Prometheus retries).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cutover_schemas::{Attribute, Body, Event, EventKind, MetricBody, MetricMetadataBody, SCHEMA_VERSION, Source};
use http::{HeaderMap, StatusCode, header};

use cutover_parsers::remote_write::{self as proto, DecodeError, STALE_NAN_BITS};

use super::body::{admit_declared, read_admitted};
use super::context::{HttpContext, now_unix_nano};
use crate::error::IngestError;

const RECEIVER: &str = "prometheus_remote_write";

/// Decodes a snappy-compressed `WriteRequest`.
pub fn decode(body: &[u8], limit: usize) -> Result<proto::WriteRequest, IngestError> {
    proto::decode(body, limit).map_err(|e| match e {
        DecodeError::TooLarge { limit, .. } => IngestError::TooLarge { limit_bytes: limit },
        other => IngestError::InvalidInput(other.to_string()),
    })
}

/// Decodes a snappy-compressed `WriteRequest` under admission control: the decompressed
/// size (from snappy's header) and the decoded size (from the message's structure) are taken
/// from the ticket before either is allocated.
pub fn decode_admitted(
    body: &[u8],
    limits: &crate::config::Limits,
    ticket: &mut crate::admission::Ticket,
) -> Result<proto::WriteRequest, IngestError> {
    let limit = limits.max_body_bytes;
    let len =
        snap::raw::decompress_len(body).map_err(|e| IngestError::InvalidInput(format!("invalid snappy body: {e}")))?;
    if len > limit {
        return Err(IngestError::TooLarge { limit_bytes: limit });
    }
    ticket.grow(len as u64)?;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| IngestError::InvalidInput(format!("invalid snappy body: {e}")))?;
    let estimate = super::protosize::estimate(&raw, &super::protosize::WRITE_REQUEST).unwrap_or(raw.len() as u64);
    let max = limits.max_decoded_bytes() as u64;
    if estimate > max {
        return Err(IngestError::Exhausted(format!(
            "the request would take about {estimate} bytes once decoded, more than {max} (4 x limits.max_body_bytes)"
        )));
    }
    ticket.grow(estimate)?;
    <proto::WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| IngestError::InvalidInput(format!("invalid remote_write protobuf: {e}")))
}

/// Bounds on what one request may convert to.
#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    /// Events.
    pub max_events: usize,
    /// Bytes of events (estimated from the labels before each event is built).
    pub max_bytes: usize,
}

impl EventLimits {
    /// No bound (tests).
    pub const NONE: EventLimits = EventLimits {
        max_events: usize::MAX,
        max_bytes: usize::MAX,
    };
}

/// Converts a decoded request into events (pure). A series without `__name__` is invalid.
/// Every sample copies its series' labels, so the size is counted before the events are
/// built: one 2 MiB label on thousands of samples is refused, not materialised.
pub fn to_events(
    req: &proto::WriteRequest,
    region_label: &str,
    default_region: &str,
    now: i64,
    limits: EventLimits,
) -> Result<Vec<Event>, IngestError> {
    let samples: usize = req.timeseries.iter().map(|t| t.samples.len()).sum::<usize>() + req.metadata.len();
    let mut bytes: usize = req
        .metadata
        .iter()
        .map(|m| std::mem::size_of::<Event>() + 2 * (m.metric_family_name.len() + m.help.len() + m.unit.len() + 64))
        .sum();
    for ts in &req.timeseries {
        // As `crate::sink::event_cost` will count it: the event and its attributes in memory,
        // and the encoded record.
        let labels: usize = ts.labels.iter().map(|l| l.name.len() + l.value.len() + 8).sum();
        let per_sample =
            std::mem::size_of::<Event>() + ts.labels.len() * std::mem::size_of::<Attribute>() + 2 * (labels + 64);
        bytes = bytes.saturating_add(per_sample.saturating_mul(ts.samples.len()));
    }
    if samples > limits.max_events || bytes > limits.max_bytes {
        return Err(IngestError::Exhausted(format!(
            "the request converts to {samples} samples of about {bytes} bytes (each sample carries its series' labels), more than {} events or {} bytes (limits.max_request_events, limits.max_request_event_bytes)",
            limits.max_events, limits.max_bytes
        )));
    }
    let mut out = Vec::with_capacity(samples);
    for ts in &req.timeseries {
        let get = |k: &str| ts.labels.iter().find(|l| l.name == k).map(|l| l.value.as_str());
        let name = get("__name__")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| IngestError::InvalidInput("a time series has no __name__ label".to_string()))?;
        let region = get(region_label).filter(|r| !r.is_empty()).unwrap_or(default_region);
        let service = get("job").unwrap_or("");
        let attributes: Vec<Attribute> = ts
            .labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| Attribute::str(l.name.clone(), l.value.clone()))
            .collect();
        for s in &ts.samples {
            out.push(Event {
                schema_version: SCHEMA_VERSION,
                kind: EventKind::MetricPoint as i32,
                region: region.to_string(),
                service: service.to_string(),
                event_time_unix_nano: s.timestamp.saturating_mul(1_000_000),
                ingest_time_unix_nano: now,
                trace_id: vec![],
                span_id: vec![],
                attributes: attributes.clone(),
                resource_attributes: vec![],
                source: Source::PromRemoteWrite as i32,
                body: Some(Body::Metric(MetricBody {
                    name: name.to_string(),
                    metric_type: "sample".into(),
                    value: s.value,
                    is_stale: s.value.to_bits() == STALE_NAN_BITS,
                    ..Default::default()
                })),
            });
        }
    }
    for m in &req.metadata {
        out.push(Event {
            schema_version: SCHEMA_VERSION,
            kind: EventKind::MetricMetadata as i32,
            region: default_region.to_string(),
            service: String::new(),
            event_time_unix_nano: now,
            ingest_time_unix_nano: now,
            trace_id: vec![],
            span_id: vec![],
            attributes: vec![],
            resource_attributes: vec![],
            source: Source::PromRemoteWrite as i32,
            body: Some(Body::MetricMetadata(MetricMetadataBody {
                name: m.metric_family_name.clone(),
                metric_type: m.type_name().to_string(),
                unit: m.unit.clone(),
                help: m.help.clone(),
            })),
        });
    }
    Ok(out)
}

fn check_headers(headers: &HeaderMap) -> Result<(), IngestError> {
    let get = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let ctype = get(header::CONTENT_TYPE);
    if ctype.contains("io.prometheus.write.v2") {
        return Err(IngestError::UnsupportedMediaType(format!(
            "{ctype} (remote_write 2.0 is not supported; send 1.0)"
        )));
    }
    if !ctype.is_empty() && !ctype.starts_with("application/x-protobuf") {
        return Err(IngestError::UnsupportedMediaType(format!(
            "unsupported content type {ctype:?}; remote_write sends application/x-protobuf"
        )));
    }
    let encoding = get(header::CONTENT_ENCODING);
    if encoding != "snappy" {
        return Err(IngestError::UnsupportedMediaType(format!(
            "content-encoding {encoding:?}; remote_write requires snappy"
        )));
    }
    Ok(())
}

/// The router.
pub fn router(ctx: Arc<HttpContext>) -> Router {
    Router::new().route("/api/v1/write", post(handle)).with_state(ctx)
}

async fn handle(State(ctx): State<Arc<HttpContext>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(e) = check_headers(&parts.headers) {
        return ctx.refuse(RECEIVER, e);
    }
    let mut ticket = ctx.admission.ticket();
    let events = async {
        let limit = ctx.limits.max_body_bytes;
        admit_declared(&parts.headers, &mut ticket, limit)?;
        let body = read_admitted(&parts.headers, body, &mut ticket, limit, ctx.body_timeout).await?;
        let req = decode_admitted(&body, &ctx.limits, &mut ticket)?;
        drop(body);
        let limits = EventLimits {
            max_events: ctx.limits.max_request_events,
            max_bytes: ctx.limits.max_request_event_bytes,
        };
        let label = &ctx.receivers.prometheus_remote_write.region_label;
        let events = to_events(&req, label, &ctx.default_region, now_unix_nano(), limits)?;
        drop(req);
        ctx.admit_events(&events, &mut ticket)?;
        Ok(events)
    }
    .await;
    let events = match events {
        Ok(e) => e,
        Err(e) => return ctx.refuse(RECEIVER, e),
    };
    match ctx.store(RECEIVER, events).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => super::context::error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| proto::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|(v, t)| proto::Sample {
                    value: *v,
                    timestamp: *t,
                })
                .collect(),
        }
    }

    fn snappy(req: &proto::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap()
    }

    #[test]
    fn samples_become_metric_points_with_region_and_staleness() {
        let req = proto::WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "up"), ("job", "frontend"), ("region", "us-west-2")],
                    &[(1.0, 1_000), (f64::from_bits(STALE_NAN_BITS), 2_000)],
                ),
                series(&[("__name__", "rps"), ("instance", "a:80")], &[(3.5, 5)]),
            ],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests served.".into(),
                unit: "requests".into(),
            }],
        };
        let decoded = decode(&snappy(&req), 1 << 20).unwrap();
        let ev = to_events(&decoded, "region", "dflt", 7, EventLimits::NONE).unwrap();
        assert_eq!(ev.len(), 4);
        // Metadata is kept: one event per family, at the receive time.
        let Some(Body::MetricMetadata(md)) = &ev[3].body else {
            panic!("{:?}", ev[3])
        };
        assert_eq!(
            (
                md.name.as_str(),
                md.metric_type.as_str(),
                md.unit.as_str(),
                md.help.as_str()
            ),
            ("http_requests_total", "counter", "requests", "Requests served.")
        );
        assert_eq!(
            (ev[3].kind, ev[3].event_time_unix_nano),
            (EventKind::MetricMetadata as i32, 7)
        );
        assert_eq!(
            (
                ev[0].region.as_str(),
                ev[0].service.as_str(),
                ev[0].event_time_unix_nano
            ),
            ("us-west-2", "frontend", 1_000_000_000)
        );
        let Some(Body::Metric(m)) = &ev[1].body else { panic!() };
        assert!(m.is_stale && m.value.to_bits() == STALE_NAN_BITS);
        assert_eq!(ev[2].region, "dflt");
        assert_eq!(ev[2].attributes, vec![Attribute::str("instance", "a:80")]);
    }

    #[test]
    fn invalid_input_is_refused() {
        let nameless = proto::WriteRequest {
            timeseries: vec![series(&[("job", "x")], &[(1.0, 1)])],
            metadata: vec![],
        };
        assert!(matches!(
            to_events(&nameless, "region", "d", 0, EventLimits::NONE),
            Err(IngestError::InvalidInput(_))
        ));
        let z = snappy(&nameless);
        assert!(matches!(
            decode(&z[..z.len() - 3], 1 << 20),
            Err(IngestError::InvalidInput(_))
        ));
        assert!(matches!(
            decode(b"\x0a\xff\xff", 1 << 20),
            Err(IngestError::InvalidInput(_))
        ));
    }

    #[test]
    fn one_huge_label_on_many_samples_is_refused_before_conversion() {
        let big = "x".repeat(2 << 20);
        let samples: Vec<(f64, i64)> = (0..3000).map(|i| (1.0, i)).collect();
        let req = proto::WriteRequest {
            timeseries: vec![series(&[("__name__", "up"), ("big", &big)], &samples)],
            metadata: vec![],
        };
        let limits = EventLimits {
            max_events: 200_000,
            max_bytes: 64 << 20,
        };
        let e = to_events(&req, "region", "d", 0, limits).unwrap_err();
        assert!(
            matches!(&e, IngestError::Exhausted(m) if m.contains("3000 samples")),
            "{e}"
        );
        let few = proto::WriteRequest {
            timeseries: vec![series(&[("__name__", "up"), ("big", &big)], &samples[..10])],
            metadata: vec![],
        };
        assert_eq!(to_events(&few, "region", "d", 0, limits).unwrap().len(), 10);
    }
}
