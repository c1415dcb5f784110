//! Entry points of the fuzz targets (`fuzz/fuzz_targets/`): every path from request bytes to
//! events that a client controls, without a daemon. Each checks what must hold for any input:
//! no panic, the decoded-size estimate exists for every body that decodes, conversion stays
//! within the request limits, and every event encodes and decodes back.

use cutover_schemas::{Event, Source};
use prost::Message;

use crate::receivers::otlp::convert::{self, Converted, Origin};
use crate::receivers::{alertmanager, markers, protosize, remote_write};

const MAX_EVENTS: usize = 64;
const MAX_EVENT_BYTES: usize = 1 << 16;

fn origin(source: Source) -> Origin<'static> {
    Origin {
        default_region: "fuzz-region",
        source,
        ingest_time_unix_nano: 1,
        max_events: MAX_EVENTS,
        max_event_bytes: MAX_EVENT_BYTES,
    }
}

fn check_events(events: &[Event]) {
    for e in events {
        let bytes = e.to_bytes();
        let back = Event::decode(bytes.as_slice()).expect("an event decodes from its own encoding");
        assert_eq!(back.kind, e.kind);
    }
}

fn check_converted(c: &Converted) {
    assert!(c.events.len() <= MAX_EVENTS, "{} events past the limit", c.events.len());
    assert!(c.event_bytes <= MAX_EVENT_BYTES);
    assert!(c.rejected >= 0);
    check_events(&c.events);
}

/// Any bytes as OTLP/protobuf traces, metrics and logs requests.
pub fn otlp_protobuf(data: &[u8]) {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let o = origin(Source::OtlpGrpc);
    let t = protosize::estimate(data, &protosize::TRACES);
    if let Ok(req) = ExportTraceServiceRequest::decode(data) {
        assert!(t.is_some(), "a request prost decodes must be walkable");
        check_converted(&convert::traces(&req, &o));
    }
    let m = protosize::estimate(data, &protosize::METRICS);
    if let Ok(req) = ExportMetricsServiceRequest::decode(data) {
        assert!(m.is_some(), "a request prost decodes must be walkable");
        check_converted(&convert::metrics(&req, &o));
    }
    let l = protosize::estimate(data, &protosize::LOGS);
    if let Ok(req) = ExportLogsServiceRequest::decode(data) {
        assert!(l.is_some(), "a request prost decodes must be walkable");
        check_converted(&convert::logs(&req, &o));
    }
}

/// Any bytes as OTLP/JSON traces, metrics and logs requests.
pub fn otlp_json(data: &[u8]) {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let o = origin(Source::OtlpHttpJson);
    let _ = protosize::estimate_json(data);
    if let Ok(req) = serde_json::from_slice::<ExportTraceServiceRequest>(data) {
        check_converted(&convert::traces(&req, &o));
    }
    if let Ok(req) = serde_json::from_slice::<ExportMetricsServiceRequest>(data) {
        check_converted(&convert::metrics(&req, &o));
    }
    if let Ok(req) = serde_json::from_slice::<ExportLogsServiceRequest>(data) {
        check_converted(&convert::logs(&req, &o));
    }
}

/// Any bytes as an Alertmanager webhook body.
pub fn alertmanager(data: &[u8]) {
    if let Ok(n) = serde_json::from_slice::<alertmanager::Notification>(data)
        && let Ok(events) = alertmanager::to_events(&n, "region", "fuzz-region", 1)
    {
        assert_eq!(events.len(), n.alerts.len());
        check_events(&events);
    }
}

/// Any bytes as a markers API body.
pub fn markers(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<markers::MarkerRequest>(data)
        && let Ok(event) = markers::to_event(&req, "fuzz-region", 1)
    {
        assert!(cutover_schemas::MARKER_KINDS.contains(&req.kind.as_str()));
        check_events(&[event]);
    }
}

/// Any bytes as a decompressed remote_write body: the decoded-size estimate and conversion
/// under limits.
pub fn remote_write_conversion(data: &[u8]) {
    let est = protosize::estimate(data, &protosize::WRITE_REQUEST);
    if let Ok(req) = cutover_parsers::remote_write::WriteRequest::decode(data) {
        assert!(est.is_some(), "a request prost decodes must be walkable");
        let limits = remote_write::EventLimits {
            max_events: MAX_EVENTS,
            max_bytes: MAX_EVENT_BYTES,
        };
        if let Ok(events) = remote_write::to_events(&req, "region", "fuzz-region", 1, limits) {
            assert!(events.len() <= MAX_EVENTS);
            check_events(&events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz entry points hold on hand-made inputs (the targets run them on millions).
    #[test]
    fn entry_points_hold_on_seed_inputs() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let spans = (0..100u8)
            .map(|i| Span {
                trace_id: vec![i + 1; 16],
                span_id: vec![i + 1; 8],
                name: "x".repeat(2000),
                ..Default::default()
            })
            .collect();
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = req.encode_to_vec();
        otlp_protobuf(&bytes);
        let json = serde_json::to_vec(&req).unwrap();
        otlp_json(&json);
        // The request converts to 100 events of ~2 kB: the limits cut it at 64 events or 64 kB.
        let c = convert::traces(&req, &origin(Source::OtlpGrpc));
        assert!(
            c.events.len() < 64 && c.rejected == 100 - c.events.len() as i64,
            "{c:?}"
        );
        alertmanager(br#"{"version":"4","status":"firing","receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}"#);
        markers(br#"{"kind":"dns_cutover"}"#);
        remote_write_conversion(&[0x0a, 0x00, 0x0a, 0x02, 0x0a, 0x00]);
        otlp_protobuf(&[0x0a, 0x00, 0xff]);
    }
}
