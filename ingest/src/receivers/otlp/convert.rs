//! OTLP requests → cutover events. Pure functions: no I/O, no tokio.
//!
//! Region: resource attribute `cloud.region`, else the listener's default. Service: resource
//! attribute `service.name`. Items that break the OTLP data model (a span without a valid
//! 16-byte trace id and 8-byte span id) or the drill-marker convention (an unknown
//! `cutover.marker` value) are rejected one by one and reported as a partial success; the rest
//! of the request is stored.

use cutover_schemas::{
    Attribute, Body, Event, EventKind, Exemplar, ExponentialBuckets, LogBody, MARKER_ATTRIBUTE, MARKER_KINDS,
    MarkerBody, MetricBody, SCHEMA_VERSION, Source, SpanBody, Value,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{self as otlp_metrics, metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// What a request turned into: events to store and the items refused.
#[derive(Debug, Default)]
pub struct Converted {
    /// Events to append.
    pub events: Vec<Event>,
    /// What `events` cost in memory and encoded ([`crate::sink::event_cost`]).
    pub event_bytes: usize,
    /// Items refused (spans, data points or log records).
    pub rejected: i64,
    /// Why the first refused item was refused.
    pub first_error: Option<String>,
    max_events: usize,
    max_event_bytes: usize,
}

impl Converted {
    fn for_origin(origin: &Origin<'_>) -> Converted {
        Converted {
            max_events: origin.max_events,
            max_event_bytes: origin.max_event_bytes,
            ..Converted::default()
        }
    }

    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        self.first_error.get_or_insert(reason);
    }

    /// Whether the request has reached its limits: later items are rejected unbuilt.
    fn full(&self) -> bool {
        self.events.len() >= self.max_events || self.event_bytes >= self.max_event_bytes
    }

    fn reject_over_limit(&mut self) {
        let (n, b) = (self.max_events, self.max_event_bytes);
        self.reject(format!(
            "the request converts to more than {n} events or {b} bytes of events (limits.max_request_events, limits.max_request_event_bytes); the items past the limit were not stored"
        ));
    }

    /// Keeps an event, or rejects its item when the request is over its limits: labels and
    /// resource attributes are copied into every event, so the output is counted as it grows
    /// (by [`crate::sink::event_cost`]: the event in memory and its encoded record).
    fn push(&mut self, e: Event) {
        let cost = crate::sink::event_cost(&e);
        if self.full() || self.event_bytes + cost > self.max_event_bytes {
            self.reject_over_limit();
            return;
        }
        self.event_bytes += cost;
        self.events.push(e);
    }
}

/// Context shared by all events of one request.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// Region when `cloud.region` is absent.
    pub default_region: &'a str,
    /// Receiving protocol.
    pub source: Source,
    /// Receive time, ns since the epoch.
    pub ingest_time_unix_nano: i64,
    /// Events one request may produce.
    pub max_events: usize,
    /// Encoded bytes of events one request may produce.
    pub max_event_bytes: usize,
}

struct ResourceInfo {
    region: String,
    service: String,
    attributes: Vec<Attribute>,
}

fn resource_info(resource: Option<&Resource>, origin: &Origin<'_>) -> ResourceInfo {
    let attributes = resource.map(|r| convert_attributes(&r.attributes)).unwrap_or_default();
    let get = |key: &str| {
        attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref())
            .map(|v| v.to_string())
    };
    ResourceInfo {
        region: get("cloud.region")
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| origin.default_region.to_string()),
        service: get("service.name").unwrap_or_default(),
        attributes,
    }
}

fn envelope(kind: EventKind, res: &ResourceInfo, origin: &Origin<'_>, time: i64, body: Body) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        kind: kind as i32,
        region: res.region.clone(),
        service: res.service.clone(),
        event_time_unix_nano: time,
        ingest_time_unix_nano: origin.ingest_time_unix_nano,
        trace_id: Vec::new(),
        span_id: Vec::new(),
        attributes: Vec::new(),
        resource_attributes: res.attributes.clone(),
        source: origin.source as i32,
        body: Some(body),
    }
}

/// OTLP timestamps are unsigned; values past i64 are clamped (year 2262).
fn ts(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Converts an OTLP attribute list.
pub fn convert_attributes(kvs: &[KeyValue]) -> Vec<Attribute> {
    kvs.iter()
        .map(|kv| Attribute {
            key: kv.key.clone(),
            value: kv.value.as_ref().and_then(convert_value),
        })
        .collect()
}

fn convert_value(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::Str(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::Int(*i),
        any_value::Value::DoubleValue(d) => Value::Double(*d),
        any_value::Value::BytesValue(b) => Value::Bytes(b.clone()),
        _ => Value::Json(to_json(v).to_string()),
    })
}

fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => J::from(*d),
        Some(any_value::Value::BytesValue(b)) => J::String(hex::encode(b)),
        Some(any_value::Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map(to_json).unwrap_or(J::Null)))
                .collect(),
        ),
        // An index into a profiles string table: meaningless without the table.
        Some(any_value::Value::StringValueStrindex(i)) => J::from(*i),
    }
}

fn body_string(v: Option<&AnyValue>) -> String {
    match v.and_then(convert_value) {
        None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Converts a trace export.
pub fn traces(req: &ExportTraceServiceRequest, origin: &Origin<'_>) -> Converted {
    let mut out = Converted::for_origin(origin);
    for rs in &req.resource_spans {
        let res = resource_info(rs.resource.as_ref(), origin);
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for span in &ss.spans {
                if out.full() {
                    out.reject_over_limit();
                    continue;
                }
                if span.trace_id.len() != 16 || span.trace_id.iter().all(|&b| b == 0) {
                    out.reject(format!("span {:?}: trace_id must be 16 bytes, not all zero", span.name));
                    continue;
                }
                if span.span_id.len() != 8 || span.span_id.iter().all(|&b| b == 0) {
                    out.reject(format!("span {:?}: span_id must be 8 bytes, not all zero", span.name));
                    continue;
                }
                let status = span.status.as_ref();
                let body = Body::Span(SpanBody {
                    parent_span_id: span.parent_span_id.clone(),
                    name: span.name.clone(),
                    kind: span.kind,
                    status_code: status.map(|s| s.code).unwrap_or(0),
                    status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
                    end_time_unix_nano: ts(span.end_time_unix_nano),
                    scope: scope.clone(),
                    trace_state: span.trace_state.clone(),
                });
                let mut e = envelope(EventKind::Span, &res, origin, ts(span.start_time_unix_nano), body);
                e.trace_id = span.trace_id.clone();
                e.span_id = span.span_id.clone();
                e.attributes = convert_attributes(&span.attributes);
                out.push(e);
            }
        }
    }
    out
}

/// Converts a metrics export: one event per data point.
pub fn metrics(req: &ExportMetricsServiceRequest, origin: &Origin<'_>) -> Converted {
    let mut out = Converted::for_origin(origin);
    for rm in &req.resource_metrics {
        let res = resource_info(rm.resource.as_ref(), origin);
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let point = |metric_type: &str, value: f64, count: u64, mono: bool, start: u64| MetricBody {
                    name: m.name.clone(),
                    unit: m.unit.clone(),
                    metric_type: metric_type.to_string(),
                    value,
                    count,
                    is_monotonic: mono,
                    start_time_unix_nano: ts(start),
                    ..Default::default()
                };
                let mut push = |body: MetricBody, time: u64, attrs: &[KeyValue]| {
                    if out.full() {
                        out.reject_over_limit();
                        return;
                    }
                    let mut e = envelope(EventKind::MetricPoint, &res, origin, ts(time), Body::Metric(body));
                    e.attributes = convert_attributes(attrs);
                    out.push(e);
                };
                let number = |v: &Option<number_data_point::Value>| match v {
                    Some(number_data_point::Value::AsDouble(d)) => *d,
                    Some(number_data_point::Value::AsInt(i)) => *i as f64,
                    None => f64::NAN,
                };
                let exemplars = |xs: &[otlp_metrics::Exemplar]| -> Vec<Exemplar> {
                    xs.iter()
                        .map(|x| Exemplar {
                            time_unix_nano: ts(x.time_unix_nano),
                            value: match x.value {
                                Some(otlp_metrics::exemplar::Value::AsDouble(d)) => d,
                                Some(otlp_metrics::exemplar::Value::AsInt(i)) => i as f64,
                                None => f64::NAN,
                            },
                            trace_id: x.trace_id.clone(),
                            span_id: x.span_id.clone(),
                            attributes: convert_attributes(&x.filtered_attributes),
                        })
                        .collect()
                };
                match &m.data {
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            let mut b = point("gauge", number(&p.value), 0, false, p.start_time_unix_nano);
                            b.exemplars = exemplars(&p.exemplars);
                            push(b, p.time_unix_nano, &p.attributes);
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            let mut b = point("sum", number(&p.value), 0, s.is_monotonic, p.start_time_unix_nano);
                            b.temporality = s.aggregation_temporality;
                            b.exemplars = exemplars(&p.exemplars);
                            push(b, p.time_unix_nano, &p.attributes);
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let mut b = point(
                                "histogram",
                                p.sum.unwrap_or(f64::NAN),
                                p.count,
                                false,
                                p.start_time_unix_nano,
                            );
                            b.temporality = h.aggregation_temporality;
                            b.bucket_bounds = p.explicit_bounds.clone();
                            b.bucket_counts = p.bucket_counts.clone();
                            (b.min, b.max) = (p.min, p.max);
                            b.exemplars = exemplars(&p.exemplars);
                            push(b, p.time_unix_nano, &p.attributes);
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let mut b = point(
                                "exponential_histogram",
                                p.sum.unwrap_or(f64::NAN),
                                p.count,
                                false,
                                p.start_time_unix_nano,
                            );
                            b.temporality = h.aggregation_temporality;
                            (b.min, b.max) = (p.min, p.max);
                            let side = |s: &Option<otlp_metrics::exponential_histogram_data_point::Buckets>| {
                                s.as_ref()
                                    .map_or((0, Vec::new()), |s| (s.offset, s.bucket_counts.clone()))
                            };
                            let ((positive_offset, positive_counts), (negative_offset, negative_counts)) =
                                (side(&p.positive), side(&p.negative));
                            b.exponential = Some(ExponentialBuckets {
                                scale: p.scale,
                                zero_count: p.zero_count,
                                zero_threshold: p.zero_threshold,
                                positive_offset,
                                positive_counts,
                                negative_offset,
                                negative_counts,
                            });
                            b.exemplars = exemplars(&p.exemplars);
                            push(b, p.time_unix_nano, &p.attributes);
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            push(
                                point("summary", p.sum, p.count, false, p.start_time_unix_nano),
                                p.time_unix_nano,
                                &p.attributes,
                            );
                        }
                    }
                    None => out.reject(format!("metric {:?} has no data", m.name)),
                }
            }
        }
    }
    out
}

/// Converts a logs export. Records with a `cutover.marker` attribute become markers.
pub fn logs(req: &ExportLogsServiceRequest, origin: &Origin<'_>) -> Converted {
    let mut out = Converted::for_origin(origin);
    for rl in &req.resource_logs {
        let res = resource_info(rl.resource.as_ref(), origin);
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                if out.full() {
                    out.reject_over_limit();
                    continue;
                }
                let time = match (rec.time_unix_nano, rec.observed_time_unix_nano) {
                    (0, 0) => origin.ingest_time_unix_nano,
                    (0, observed) => ts(observed),
                    (t, _) => ts(t),
                };
                let attributes = convert_attributes(&rec.attributes);
                let marker = attributes
                    .iter()
                    .find(|a| a.key == MARKER_ATTRIBUTE)
                    .map(|a| a.value.as_ref().map(|v| v.to_string()).unwrap_or_default());
                let (kind, body) = match marker {
                    Some(m) if MARKER_KINDS.contains(&m.as_str()) => {
                        (EventKind::Marker, Body::Marker(MarkerBody { marker: m }))
                    }
                    Some(m) => {
                        out.reject(format!(
                            "unknown {MARKER_ATTRIBUTE} value {m:?}; expected one of {}",
                            MARKER_KINDS.join(", ")
                        ));
                        continue;
                    }
                    None => (
                        EventKind::Log,
                        Body::Log(LogBody {
                            severity_number: rec.severity_number,
                            severity_text: rec.severity_text.clone(),
                            body: body_string(rec.body.as_ref()),
                        }),
                    ),
                };
                let mut e = envelope(kind, &res, origin, time, body);
                e.trace_id = rec.trace_id.clone();
                e.span_id = rec.span_id.clone();
                e.attributes = attributes;
                out.push(e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn origin() -> Origin<'static> {
        Origin {
            default_region: "default-1",
            source: Source::OtlpGrpc,
            ingest_time_unix_nano: 5,
            max_events: 1000,
            max_event_bytes: 1 << 20,
        }
    }

    #[test]
    fn spans_take_region_from_resource_else_default_and_reject_bad_ids() {
        let span = |tid: Vec<u8>| Span {
            trace_id: tid,
            span_id: vec![1; 8],
            name: "GET".into(),
            start_time_unix_nano: 10,
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![kv("cloud.region", "us-west-2"), kv("service.name", "api")],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(vec![2; 16]), span(vec![0; 16])],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: None,
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(vec![3; 16]), span(vec![3; 4])],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        };
        let c = traces(&req, &origin());
        assert_eq!(c.rejected, 2);
        assert!(c.first_error.unwrap().contains("trace_id"));
        assert_eq!(c.events.len(), 2);
        assert_eq!(
            (c.events[0].region.as_str(), c.events[0].service.as_str()),
            ("us-west-2", "api")
        );
        assert_eq!(
            (c.events[1].region.as_str(), c.events[1].service.as_str()),
            ("default-1", "")
        );
        assert_eq!(c.events[0].event_time_unix_nano, 10);
        assert_eq!(c.events[0].ingest_time_unix_nano, 5);
    }

    #[test]
    fn marker_logs_become_markers_and_unknown_markers_are_rejected() {
        let rec = |m: &str| LogRecord {
            time_unix_nano: 7,
            attributes: vec![kv("cutover.marker", m)],
            ..Default::default()
        };
        let plain = LogRecord {
            observed_time_unix_nano: 9,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("hi".into())),
            }),
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![rec("fault_injected"), rec("bogus"), plain],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let c = logs(&req, &origin());
        assert_eq!(c.rejected, 1);
        assert_eq!(c.events.len(), 2);
        assert_eq!(c.events[0].event_kind(), EventKind::Marker);
        assert_eq!(c.events[0].event_time_unix_nano, 7);
        assert_eq!(c.events[1].event_kind(), EventKind::Log);
        assert_eq!(c.events[1].event_time_unix_nano, 9);
        assert!(matches!(&c.events[1].body, Some(Body::Log(l)) if l.body == "hi"));
    }

    #[test]
    fn items_past_the_request_limits_are_rejected_not_stored() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let span = |i: u8| Span {
            trace_id: vec![i + 1; 16],
            span_id: vec![i + 1; 8],
            name: format!("s{i}"),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("big", &"x".repeat(10_000))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: (0..15).map(span).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let by_count = traces(
            &req,
            &Origin {
                max_events: 10,
                ..origin()
            },
        );
        assert_eq!((by_count.events.len(), by_count.rejected), (10, 5));
        assert!(by_count.first_error.unwrap().contains("limits.max_request_events"));
        // The 10 kB resource attribute is copied into each event, which costs it twice (in
        // memory and encoded): 2 fit in 55 kB.
        let by_bytes = traces(
            &req,
            &Origin {
                max_event_bytes: 55_000,
                ..origin()
            },
        );
        assert_eq!((by_bytes.events.len(), by_bytes.rejected), (2, 13));
        assert!(by_bytes.event_bytes <= 55_000);
        assert!(by_bytes.event_bytes >= 2 * 2 * 10_000, "memory and record both counted");
    }
}
