//! Replays the event log into Arrow record batches, one table per event kind.
//!
//! Tables and columns (timestamps are `Timestamp(ns, UTC)` event times unless named
//! `ingest_time`; ids are lowercase hex; `attributes` is a `Map<Utf8, Utf8>` queried as
//! `attributes['key']`):
//!
//! - `spans`: trace_id, span_id, parent_span_id, service, region, name, kind, status,
//!   status_message, start_time, end_time, duration_ms, attributes, ingest_time, source, seq.
//!   Deduplicated by (trace_id, span_id): the first copy in log order is kept (OTLP clients
//!   retry, so the same span can arrive twice).
//! - `metric_points`: time, service, region, name, unit, metric_type, value, count,
//!   attributes, ingest_time, source, seq.
//! - `logs`: time, service, region, severity_number, severity_text, body, trace_id, span_id,
//!   attributes, ingest_time, source, seq.
//! - `markers`: time, service, region, marker, attributes, ingest_time, source, seq.
//! - `alerts`: time (receive time), service, region, alertname, status, starts_at, ends_at
//!   (null while firing), fingerprint, generator_url, receiver, annotations (JSON text),
//!   attributes (the alert's labels), ingest_time, source, seq.
//!
//! - `siem`: time, format, facility, severity (null when unknown), hostname, app_name,
//!   proc_id, msg_id, message, structured_data (JSON text), cef_vendor, cef_product,
//!   cef_device_version, cef_signature_id, cef_name, cef_severity, peer, is_cef, parse_error
//!   (null when parsed), service, region, attributes (SD params `SDID.name` and CEF extensions), ingest_time,
//!   source, seq.
//!
//! `metric_points` holds OTLP data points and Prometheus remote_write samples alike
//! (`source` tells them apart; `is_stale` flags Prometheus staleness markers).
//!
//! `seq` is the event's position in the log, so every row can be traced back to its record.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, MapBuilder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use cutover_eventlog::LogReader;
use cutover_schemas::{Attribute, Body, Event, EventKind, Source};

use crate::AnalyzeError;

/// The replayed log.
#[derive(Debug, Clone)]
pub struct Tables {
    /// `spans`.
    pub spans: RecordBatch,
    /// `metric_points`.
    pub metric_points: RecordBatch,
    /// `logs`.
    pub logs: RecordBatch,
    /// `markers`.
    pub markers: RecordBatch,
    /// `alerts`.
    pub alerts: RecordBatch,
    /// `siem`.
    pub siem: RecordBatch,
    /// What the replay saw.
    pub stats: ReplayStats,
}

/// Counts from a replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReplayStats {
    /// Records read.
    pub records: u64,
    /// Spans dropped as duplicates of an earlier (trace_id, span_id).
    pub duplicate_spans: u64,
    /// Records that did not decode as events (counted, not fatal).
    pub undecodable: u64,
    /// Events of kinds this build has no table for.
    pub other_kinds: u64,
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn attr_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn schema(fields: Vec<(&str, DataType, bool)>) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .into_iter()
            .map(|(n, t, null)| Field::new(n, t, null))
            .collect::<Vec<_>>(),
    ))
}

fn new_attrs() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn push_attrs(b: &mut MapBuilder<StringBuilder, StringBuilder>, attrs: &[Attribute]) {
    for a in attrs {
        b.keys().append_value(&a.key);
        match &a.value {
            Some(v) => b.values().append_value(v.to_string()),
            None => b.values().append_null(),
        }
    }
    b.append(true).expect("keys and values have equal length");
}

fn hex_or_null(b: &mut StringBuilder, bytes: &[u8]) {
    if bytes.is_empty() {
        b.append_null()
    } else {
        b.append_value(hex::encode(bytes))
    }
}

fn source_name(e: &Event) -> &'static str {
    Source::try_from(e.source).unwrap_or(Source::Unspecified).name()
}

fn span_kind(k: i32) -> &'static str {
    match k {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn status_name(c: i32) -> &'static str {
    match c {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

#[derive(Default)]
struct Common {
    service: StringBuilder,
    region: StringBuilder,
    ingest_time: TimestampNanosecondBuilder,
    source: StringBuilder,
    seq: UInt64Builder,
    attributes: Option<MapBuilder<StringBuilder, StringBuilder>>,
}

impl Common {
    fn push(&mut self, e: &Event, seq: u64) {
        self.service.append_value(&e.service);
        self.region.append_value(&e.region);
        self.ingest_time.append_value(e.ingest_time_unix_nano);
        self.source.append_value(source_name(e));
        self.seq.append_value(seq);
        push_attrs(self.attributes.get_or_insert_with(new_attrs), &e.attributes);
    }
    fn finish(&mut self) -> [ArrayRef; 6] {
        let tz = |b: &mut TimestampNanosecondBuilder| Arc::new(b.finish().with_timezone("UTC")) as ArrayRef;
        [
            Arc::new(self.service.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.attributes.get_or_insert_with(new_attrs).finish()),
            tz(&mut self.ingest_time),
            Arc::new(self.source.finish()),
            Arc::new(self.seq.finish()),
        ]
    }
}

fn common_fields() -> Vec<(&'static str, DataType, bool)> {
    vec![
        ("service", DataType::Utf8, false),
        ("region", DataType::Utf8, false),
        ("attributes", attr_type(), false),
        ("ingest_time", ts_type(), false),
        ("source", DataType::Utf8, false),
        ("seq", DataType::UInt64, false),
    ]
}

#[derive(Default)]
struct SpanCols {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    status: StringBuilder,
    status_message: StringBuilder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    duration_ms: Float64Builder,
    common: Common,
}

#[derive(Default)]
struct MetricCols {
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    unit: StringBuilder,
    metric_type: StringBuilder,
    value: Float64Builder,
    count: UInt64Builder,
    monotonic: BooleanBuilder,
    stale: BooleanBuilder,
    common: Common,
}

#[derive(Default)]
struct LogCols {
    time: TimestampNanosecondBuilder,
    severity_number: Int32Builder,
    severity_text: StringBuilder,
    body: StringBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    common: Common,
}

#[derive(Default)]
struct AlertCols {
    time: TimestampNanosecondBuilder,
    alertname: StringBuilder,
    status: StringBuilder,
    starts_at: TimestampNanosecondBuilder,
    ends_at: TimestampNanosecondBuilder,
    fingerprint: StringBuilder,
    generator_url: StringBuilder,
    receiver: StringBuilder,
    annotations: StringBuilder,
    common: Common,
}

#[derive(Default)]
struct SiemCols {
    time: TimestampNanosecondBuilder,
    format: StringBuilder,
    facility: Int32Builder,
    severity: Int32Builder,
    text: [StringBuilder; 13],
    is_cef: BooleanBuilder,
    parse_error: StringBuilder,
    common: Common,
}

/// Text columns of `siem`, in table order after `severity`.
const SIEM_TEXT: [&str; 13] = [
    "hostname",
    "app_name",
    "proc_id",
    "msg_id",
    "message",
    "structured_data",
    "cef_vendor",
    "cef_product",
    "cef_device_version",
    "cef_signature_id",
    "cef_name",
    "cef_severity",
    "peer",
];

#[derive(Default)]
struct MarkerCols {
    time: TimestampNanosecondBuilder,
    marker: StringBuilder,
    common: Common,
}

fn tz(b: &mut TimestampNanosecondBuilder) -> ArrayRef {
    Arc::new(b.finish().with_timezone("UTC"))
}

fn batch(schema: SchemaRef, cols: Vec<ArrayRef>) -> Result<RecordBatch, AnalyzeError> {
    RecordBatch::try_new(schema, cols).map_err(|e| AnalyzeError::Internal(format!("building a table: {e}")))
}

/// Called during a replay with (bytes read, total bytes of the log).
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

/// Reads the whole log in `log_dir` into tables, reporting progress every 64 MiB (and at the
/// end) when asked.
pub fn replay(log_dir: &Path, mut progress: Option<Progress>) -> Result<Tables, AnalyzeError> {
    let reader = LogReader::open(log_dir)?;
    let total = reader.size_bytes()?;
    let mut read: u64 = 0;
    let mut next_report: u64 = 0;
    let mut spans = SpanCols::default();
    let mut metrics = MetricCols::default();
    let mut logs = LogCols::default();
    let mut markers = MarkerCols::default();
    let mut alerts = AlertCols::default();
    let mut siem = SiemCols::default();
    let mut stats = ReplayStats::default();
    let mut seen_spans: HashSet<([u8; 16], [u8; 8])> = HashSet::new();
    reader.for_each(0, |rec| {
        stats.records += 1;
        read += (rec.payload.len() + cutover_eventlog::RECORD_HEADER_BYTES) as u64;
        if read >= next_report {
            if let Some(p) = progress.as_mut() {
                p(read, total);
            }
            next_report = read + (64 << 20);
        }
        let Ok(e) = Event::from_bytes(rec.payload) else {
            stats.undecodable += 1;
            return;
        };
        match (e.event_kind(), &e.body) {
            (EventKind::Span, Some(Body::Span(s))) => {
                let key = (
                    <[u8; 16]>::try_from(e.trace_id.as_slice()).unwrap_or_default(),
                    <[u8; 8]>::try_from(e.span_id.as_slice()).unwrap_or_default(),
                );
                if !seen_spans.insert(key) {
                    stats.duplicate_spans += 1;
                    return;
                }
                spans.trace_id.append_value(hex::encode(&e.trace_id));
                spans.span_id.append_value(hex::encode(&e.span_id));
                hex_or_null(&mut spans.parent, &s.parent_span_id);
                spans.name.append_value(&s.name);
                spans.kind.append_value(span_kind(s.kind));
                spans.status.append_value(status_name(s.status_code));
                spans.status_message.append_value(&s.status_message);
                spans.start.append_value(e.event_time_unix_nano);
                spans.end.append_value(s.end_time_unix_nano);
                spans
                    .duration_ms
                    .append_value((s.end_time_unix_nano - e.event_time_unix_nano) as f64 / 1e6);
                spans.common.push(&e, rec.seq);
            }
            (EventKind::MetricPoint, Some(Body::Metric(m))) => {
                metrics.time.append_value(e.event_time_unix_nano);
                metrics.name.append_value(&m.name);
                metrics.unit.append_value(&m.unit);
                metrics.metric_type.append_value(&m.metric_type);
                metrics.value.append_value(m.value);
                metrics.count.append_value(m.count);
                metrics.monotonic.append_value(m.is_monotonic);
                metrics.stale.append_value(m.is_stale);
                metrics.common.push(&e, rec.seq);
            }
            (EventKind::Log, Some(Body::Log(l))) => {
                logs.time.append_value(e.event_time_unix_nano);
                logs.severity_number.append_value(l.severity_number);
                logs.severity_text.append_value(&l.severity_text);
                logs.body.append_value(&l.body);
                hex_or_null(&mut logs.trace_id, &e.trace_id);
                hex_or_null(&mut logs.span_id, &e.span_id);
                logs.common.push(&e, rec.seq);
            }
            (EventKind::Marker, Some(Body::Marker(m))) => {
                markers.time.append_value(e.event_time_unix_nano);
                markers.marker.append_value(&m.marker);
                markers.common.push(&e, rec.seq);
            }
            (EventKind::Alert, Some(Body::Alert(a))) => {
                alerts.time.append_value(e.event_time_unix_nano);
                alerts.alertname.append_value(&a.alertname);
                alerts.status.append_value(&a.status);
                alerts
                    .starts_at
                    .append_option((a.starts_at_unix_nano != 0).then_some(a.starts_at_unix_nano));
                alerts
                    .ends_at
                    .append_option((a.ends_at_unix_nano != 0).then_some(a.ends_at_unix_nano));
                alerts.fingerprint.append_value(&a.fingerprint);
                alerts.generator_url.append_value(&a.generator_url);
                alerts.receiver.append_value(&a.receiver);
                alerts.annotations.append_value(&a.annotations_json);
                alerts.common.push(&e, rec.seq);
            }
            (EventKind::Siem, Some(Body::Siem(b))) => {
                siem.time.append_value(e.event_time_unix_nano);
                siem.format.append_value(&b.format);
                siem.facility.append_option((b.facility >= 0).then_some(b.facility));
                siem.severity.append_option((b.severity >= 0).then_some(b.severity));
                let texts = [
                    &b.hostname,
                    &b.app_name,
                    &b.proc_id,
                    &b.msg_id,
                    &b.message,
                    &b.structured_data_json,
                    &b.cef_vendor,
                    &b.cef_product,
                    &b.cef_device_version,
                    &b.cef_signature_id,
                    &b.cef_name,
                    &b.cef_severity,
                    &b.peer,
                ];
                for (col, v) in siem.text.iter_mut().zip(texts) {
                    col.append_value(v);
                }
                siem.is_cef.append_value(b.is_cef);
                siem.parse_error
                    .append_option((!b.parse_error.is_empty()).then_some(&b.parse_error));
                siem.common.push(&e, rec.seq);
            }
            _ => stats.other_kinds += 1,
        }
    })?;
    if let Some(p) = progress.as_mut() {
        p(total, total);
    }

    let mut f = vec![
        ("trace_id", DataType::Utf8, false),
        ("span_id", DataType::Utf8, false),
        ("parent_span_id", DataType::Utf8, true),
        ("name", DataType::Utf8, false),
        ("kind", DataType::Utf8, false),
        ("status", DataType::Utf8, false),
        ("status_message", DataType::Utf8, false),
        ("start_time", ts_type(), false),
        ("end_time", ts_type(), false),
        ("duration_ms", DataType::Float64, false),
    ];
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(spans.trace_id.finish()),
        Arc::new(spans.span_id.finish()),
        Arc::new(spans.parent.finish()),
        Arc::new(spans.name.finish()),
        Arc::new(spans.kind.finish()),
        Arc::new(spans.status.finish()),
        Arc::new(spans.status_message.finish()),
        tz(&mut spans.start),
        tz(&mut spans.end),
        Arc::new(spans.duration_ms.finish()),
    ];
    cols.extend(spans.common.finish());
    let spans = batch(schema(f), cols)?;

    let mut f = vec![
        ("time", ts_type(), false),
        ("name", DataType::Utf8, false),
        ("unit", DataType::Utf8, false),
        ("metric_type", DataType::Utf8, false),
        ("value", DataType::Float64, false),
        ("count", DataType::UInt64, false),
        ("is_monotonic", DataType::Boolean, false),
        ("is_stale", DataType::Boolean, false),
    ];
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut metrics.time),
        Arc::new(metrics.name.finish()),
        Arc::new(metrics.unit.finish()),
        Arc::new(metrics.metric_type.finish()),
        Arc::new(metrics.value.finish()),
        Arc::new(metrics.count.finish()),
        Arc::new(metrics.monotonic.finish()),
        Arc::new(metrics.stale.finish()),
    ];
    cols.extend(metrics.common.finish());
    let metric_points = batch(schema(f), cols)?;

    let mut f = vec![
        ("time", ts_type(), false),
        ("severity_number", DataType::Int32, false),
        ("severity_text", DataType::Utf8, false),
        ("body", DataType::Utf8, false),
        ("trace_id", DataType::Utf8, true),
        ("span_id", DataType::Utf8, true),
    ];
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut logs.time),
        Arc::new(logs.severity_number.finish()),
        Arc::new(logs.severity_text.finish()),
        Arc::new(logs.body.finish()),
        Arc::new(logs.trace_id.finish()),
        Arc::new(logs.span_id.finish()),
    ];
    cols.extend(logs.common.finish());
    let logs = batch(schema(f), cols)?;

    let mut f = vec![("time", ts_type(), false), ("marker", DataType::Utf8, false)];
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![tz(&mut markers.time), Arc::new(markers.marker.finish())];
    cols.extend(markers.common.finish());
    let markers = batch(schema(f), cols)?;

    let mut f = vec![
        ("time", ts_type(), false),
        ("alertname", DataType::Utf8, false),
        ("status", DataType::Utf8, false),
        ("starts_at", ts_type(), true),
        ("ends_at", ts_type(), true),
        ("fingerprint", DataType::Utf8, false),
        ("generator_url", DataType::Utf8, false),
        ("receiver", DataType::Utf8, false),
        ("annotations", DataType::Utf8, false),
    ];
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut alerts.time),
        Arc::new(alerts.alertname.finish()),
        Arc::new(alerts.status.finish()),
        tz(&mut alerts.starts_at),
        tz(&mut alerts.ends_at),
        Arc::new(alerts.fingerprint.finish()),
        Arc::new(alerts.generator_url.finish()),
        Arc::new(alerts.receiver.finish()),
        Arc::new(alerts.annotations.finish()),
    ];
    cols.extend(alerts.common.finish());
    let alerts = batch(schema(f), cols)?;

    let mut f = vec![
        ("time", ts_type(), false),
        ("format", DataType::Utf8, false),
        ("facility", DataType::Int32, true),
        ("severity", DataType::Int32, true),
    ];
    f.extend(SIEM_TEXT.iter().map(|n| (*n, DataType::Utf8, false)));
    f.extend([
        ("is_cef", DataType::Boolean, false),
        ("parse_error", DataType::Utf8, true),
    ]);
    f.extend(common_fields());
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut siem.time),
        Arc::new(siem.format.finish()),
        Arc::new(siem.facility.finish()),
        Arc::new(siem.severity.finish()),
    ];
    cols.extend(siem.text.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(siem.is_cef.finish()));
    cols.push(Arc::new(siem.parse_error.finish()));
    cols.extend(siem.common.finish());
    let siem = batch(schema(f), cols)?;

    Ok(Tables {
        spans,
        metric_points,
        logs,
        markers,
        alerts,
        siem,
        stats,
    })
}
