//! Column builders of the tables: one [`Part`] per segment file, filled from borrowed events
//! ([`wire::EventRef`]) and finished into one record batch per table.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, MapBuilder, RecordBatch, StringBuilder,
    StructBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::SchemaRef;
use cutover_schemas::{EventKind, Source};

use super::wire::{
    self, AlertRef, AttrRef, BodyRef, EventRef, ExponentialRef, LogRef, MetadataRef, MetricRef, SiemRef, SpanRef,
    ValueRef,
};
use super::{ReplayStats, Schemas, SpanKey};
use crate::AnalyzeError;

/// Reusable text space for values that are not strings already.
#[derive(Default)]
struct Scratch(String);

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Scratch {
    /// Lowercase hex of `bytes`.
    fn hex(&mut self, bytes: &[u8]) -> &str {
        self.0.clear();
        for b in bytes {
            self.0.push(HEX[usize::from(b >> 4)] as char);
            self.0.push(HEX[usize::from(b & 15)] as char);
        }
        &self.0
    }
    /// Decimal text of `i`, as `Display` writes it.
    fn int(&mut self, i: i64) -> &str {
        let mut digits = [0u8; 20];
        let mut n = i.unsigned_abs();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.0.clear();
        if i < 0 {
            self.0.push('-');
        }
        self.0.extend(digits[at..].iter().map(|d| *d as char));
        &self.0
    }
    /// The text of an attribute value in the `attributes` map.
    fn value<'a>(&'a mut self, v: &ValueRef<'a>) -> &'a str {
        match v {
            ValueRef::Str(s) => s,
            ValueRef::Int(i) => self.int(*i),
            ValueRef::Double(d) => {
                self.0.clear();
                write!(self.0, "{d}").expect("writing to a String");
                &self.0
            }
            ValueRef::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
            ValueRef::Bytes(b) => self.hex(b),
        }
    }
}

fn hex_or_null(b: &mut StringBuilder, bytes: &[u8], scratch: &mut Scratch) {
    if bytes.is_empty() {
        b.append_null()
    } else {
        b.append_value(scratch.hex(bytes))
    }
}

fn source_name(source: i32) -> &'static str {
    Source::try_from(source).unwrap_or(Source::Unspecified).name()
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

fn tz(b: &mut TimestampNanosecondBuilder) -> ArrayRef {
    Arc::new(b.finish().with_timezone("UTC"))
}

fn batch(schema: &SchemaRef, cols: Vec<ArrayRef>) -> Result<RecordBatch, AnalyzeError> {
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| AnalyzeError::Internal(format!("building a table: {e}")))
}

/// The columns every table ends with.
struct Common {
    service: StringBuilder,
    region: StringBuilder,
    ingest_time: TimestampNanosecondBuilder,
    source: StringBuilder,
    seq: UInt64Builder,
    attributes: MapBuilder<StringBuilder, StringBuilder>,
}

/// A builder of `Map<Utf8, Utf8>` columns with the tables' field names.
fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(
        Some(arrow::array::MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        }),
        StringBuilder::new(),
        StringBuilder::new(),
    )
}

/// Appends one map of `attrs` to `m`.
fn push_map(m: &mut MapBuilder<StringBuilder, StringBuilder>, attrs: &[AttrRef<'_>], scratch: &mut Scratch) {
    for (key, value) in attrs {
        m.keys().append_value(key);
        match value {
            Some(v) => m.values().append_value(scratch.value(v)),
            None => m.values().append_null(),
        }
    }
    m.append(true).expect("keys and values have equal length");
}

impl Default for Common {
    fn default() -> Self {
        Common {
            service: StringBuilder::new(),
            region: StringBuilder::new(),
            ingest_time: TimestampNanosecondBuilder::new(),
            source: StringBuilder::new(),
            seq: UInt64Builder::new(),
            attributes: map_builder(),
        }
    }
}

impl Common {
    fn push(&mut self, e: &EventRef<'_>, attrs: &[AttrRef<'_>], seq: u64, scratch: &mut Scratch) {
        self.service.append_value(e.service);
        self.region.append_value(e.region);
        self.ingest_time.append_value(e.ingest_time);
        self.source.append_value(source_name(e.source));
        self.seq.append_value(seq);
        push_map(&mut self.attributes, attrs, scratch);
    }
    fn finish(&mut self) -> [ArrayRef; 6] {
        [
            Arc::new(self.service.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.attributes.finish()),
            tz(&mut self.ingest_time),
            Arc::new(self.source.finish()),
            Arc::new(self.seq.finish()),
        ]
    }
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
    trace_state: StringBuilder,
    common: Common,
}

struct MetricCols {
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    unit: StringBuilder,
    metric_type: StringBuilder,
    value: Float64Builder,
    count: UInt64Builder,
    monotonic: BooleanBuilder,
    stale: BooleanBuilder,
    start_time: TimestampNanosecondBuilder,
    temporality: StringBuilder,
    bucket_bounds: ListBuilder<Float64Builder>,
    bucket_counts: ListBuilder<UInt64Builder>,
    min: Float64Builder,
    max: Float64Builder,
    exponential: StringBuilder,
    exemplars: ListBuilder<StructBuilder>,
    instance: StringBuilder,
    resource: MapBuilder<StringBuilder, StringBuilder>,
    common: Common,
}

impl Default for MetricCols {
    fn default() -> Self {
        let exemplar = StructBuilder::from_fields(super::exemplar_fields(), 0);
        MetricCols {
            time: Default::default(),
            name: Default::default(),
            unit: Default::default(),
            metric_type: Default::default(),
            value: Default::default(),
            count: Default::default(),
            monotonic: Default::default(),
            stale: Default::default(),
            start_time: Default::default(),
            temporality: Default::default(),
            bucket_bounds: ListBuilder::new(Float64Builder::new()),
            bucket_counts: ListBuilder::new(UInt64Builder::new()),
            min: Default::default(),
            max: Default::default(),
            exponential: Default::default(),
            exemplars: ListBuilder::new(exemplar),
            instance: Default::default(),
            resource: map_builder(),
            common: Common::default(),
        }
    }
}

#[derive(Default)]
struct MetadataCols {
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    metric_type: StringBuilder,
    unit: StringBuilder,
    help: StringBuilder,
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
    group_key: StringBuilder,
    group_labels: StringBuilder,
    truncated_alerts: UInt64Builder,
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

#[derive(Default)]
struct MarkerCols {
    time: TimestampNanosecondBuilder,
    marker: StringBuilder,
    common: Common,
}

/// The rows of one segment file, one builder per table.
#[derive(Default)]
pub struct Part {
    spans: SpanCols,
    metrics: MetricCols,
    logs: LogCols,
    markers: MarkerCols,
    alerts: AlertCols,
    siem: SiemCols,
    metadata: MetadataCols,
    /// Dedup key of each row of `spans`, in row order.
    pub span_keys: Vec<SpanKey>,
    /// Counts of this part (duplicates are found later, across parts).
    pub stats: ReplayStats,
    /// Bytes of records read, framing included.
    pub bytes: u64,
    scratch: Scratch,
}

/// One finished part: a batch per table, in [`super::TABLES`] order.
pub struct Finished {
    /// The batches.
    pub batches: [RecordBatch; 7],
    /// Dedup key of each row of the spans batch.
    pub span_keys: Vec<SpanKey>,
    /// Counts of this part.
    pub stats: ReplayStats,
    /// Bytes read.
    pub bytes: u64,
}

fn span_key(trace_id: &[u8], span_id: &[u8]) -> SpanKey {
    let t = <[u8; 16]>::try_from(trace_id).unwrap_or_default();
    let s = <[u8; 8]>::try_from(span_id).unwrap_or_default();
    (u128::from_le_bytes(t), u64::from_le_bytes(s))
}

impl Part {
    /// Adds the record `payload` with sequence number `seq`; `attrs` is space for its
    /// attributes, reused across the records of one segment.
    pub fn push<'b>(&mut self, seq: u64, payload: &'b [u8], attrs: &mut Vec<AttrRef<'b>>) {
        self.stats.records += 1;
        self.bytes += (payload.len() + cutover_eventlog::RECORD_HEADER_BYTES) as u64;
        match wire::event(payload, attrs) {
            Ok(e) => self.push_event(&e, attrs, seq),
            Err(wire::Undecodable) => self.stats.undecodable += 1,
        }
    }

    fn push_event(&mut self, e: &EventRef<'_>, attrs: &[AttrRef<'_>], seq: u64) {
        let kind = EventKind::try_from(e.kind).unwrap_or(EventKind::Unspecified);
        let sc = &mut self.scratch;
        match (kind, e.body) {
            (EventKind::Span, Some(BodyRef::Span(s))) => {
                self.span_keys.push(span_key(e.trace_id, e.span_id));
                push_span(&mut self.spans, e, &s, sc);
                self.spans.common.push(e, attrs, seq, sc);
            }
            (EventKind::MetricPoint, Some(BodyRef::Metric(m))) => {
                push_metric(&mut self.metrics, e, &m, sc);
                self.metrics.common.push(e, attrs, seq, sc);
            }
            (EventKind::MetricMetadata, Some(BodyRef::MetricMetadata(m))) => {
                push_metadata(&mut self.metadata, e, &m);
                self.metadata.common.push(e, attrs, seq, sc);
            }
            (EventKind::Log, Some(BodyRef::Log(l))) => {
                push_log(&mut self.logs, e, &l, sc);
                self.logs.common.push(e, attrs, seq, sc);
            }
            (EventKind::Marker, Some(BodyRef::Marker(m))) => {
                self.markers.time.append_value(e.event_time);
                self.markers.marker.append_value(m);
                self.markers.common.push(e, attrs, seq, sc);
            }
            (EventKind::Alert, Some(BodyRef::Alert(a))) => {
                push_alert(&mut self.alerts, e, &a);
                self.alerts.common.push(e, attrs, seq, sc);
            }
            (EventKind::Siem, Some(BodyRef::Siem(b))) => {
                push_siem(&mut self.siem, e, &b);
                self.siem.common.push(e, attrs, seq, sc);
            }
            _ => self.stats.other_kinds += 1,
        }
    }

    /// Finishes every builder into batches of `schemas`.
    pub fn finish(mut self, schemas: &Schemas) -> Result<Finished, AnalyzeError> {
        let batches = [
            finish_spans(&mut self.spans, &schemas.spans)?,
            finish_metrics(&mut self.metrics, &schemas.metric_points)?,
            finish_logs(&mut self.logs, &schemas.logs)?,
            finish_markers(&mut self.markers, &schemas.markers)?,
            finish_alerts(&mut self.alerts, &schemas.alerts)?,
            finish_siem(&mut self.siem, &schemas.siem)?,
            finish_metadata(&mut self.metadata, &schemas.metric_metadata)?,
        ];
        Ok(Finished {
            batches,
            span_keys: self.span_keys,
            stats: self.stats,
            bytes: self.bytes,
        })
    }
}

fn push_span(c: &mut SpanCols, e: &EventRef<'_>, s: &SpanRef<'_>, sc: &mut Scratch) {
    c.trace_id.append_value(sc.hex(e.trace_id));
    c.span_id.append_value(sc.hex(e.span_id));
    hex_or_null(&mut c.parent, s.parent_span_id, sc);
    c.name.append_value(s.name);
    c.kind.append_value(span_kind(s.kind));
    c.status.append_value(status_name(s.status_code));
    c.status_message.append_value(s.status_message);
    c.start.append_value(e.event_time);
    c.end.append_value(s.end_time);
    c.duration_ms.append_value((s.end_time - e.event_time) as f64 / 1e6);
    c.trace_state
        .append_option((!s.trace_state.is_empty()).then_some(s.trace_state));
}

fn temporality_name(t: i32) -> Option<&'static str> {
    match t {
        1 => Some("delta"),
        2 => Some("cumulative"),
        _ => None,
    }
}

/// The exponential buckets as JSON text.
fn exponential_json(x: &ExponentialRef<'_>) -> String {
    let counts = |tag| {
        let mut v = Vec::new();
        // Checked when the record was decoded.
        let _ = wire::repeated_u64(x.raw, tag, |c| v.push(c));
        v
    };
    serde_json::json!({
        "scale": x.scale,
        "zero_count": x.zero_count,
        "zero_threshold": x.zero_threshold,
        "positive": { "offset": x.positive_offset, "counts": counts(5) },
        "negative": { "offset": x.negative_offset, "counts": counts(7) },
    })
    .to_string()
}

fn push_metric(c: &mut MetricCols, e: &EventRef<'_>, m: &MetricRef<'_>, sc: &mut Scratch) {
    c.time.append_value(e.event_time);
    c.name.append_value(m.name);
    c.unit.append_value(m.unit);
    c.metric_type.append_value(m.metric_type);
    c.value.append_value(m.value);
    c.count.append_value(m.count);
    c.monotonic.append_value(m.is_monotonic);
    c.stale.append_value(m.is_stale);
    c.start_time.append_option((m.start_time != 0).then_some(m.start_time));
    c.temporality.append_option(temporality_name(m.temporality));
    // The repeated fields and resource attributes read again below from the raw bytes were
    // checked when `wire::event` decoded the record (it is undecodable otherwise).
    if m.has_buckets {
        let _ = wire::repeated_f64(m.raw, 10, |v| c.bucket_bounds.values().append_value(v));
        c.bucket_bounds.append(true);
        let _ = wire::repeated_u64(m.raw, 11, |v| c.bucket_counts.values().append_value(v));
        c.bucket_counts.append(true);
    } else {
        c.bucket_bounds.append(false);
        c.bucket_counts.append(false);
    }
    c.min.append_option(m.min);
    c.max.append_option(m.max);
    c.exponential
        .append_option(m.exponential.as_ref().map(exponential_json));
    if m.has_exemplars {
        let list = &mut c.exemplars;
        let _ = wire::repeated_bytes(m.raw, 15, |b| {
            let x = wire::exemplar(b)?;
            let s = list.values();
            s.field_builder::<TimestampNanosecondBuilder>(0)
                .expect("exemplar time")
                .append_option((x.time != 0).then_some(x.time));
            s.field_builder::<Float64Builder>(1)
                .expect("exemplar value")
                .append_value(x.value);
            let trace = (!x.trace_id.is_empty()).then(|| sc.hex(x.trace_id).to_string());
            s.field_builder::<StringBuilder>(2)
                .expect("exemplar trace")
                .append_option(trace);
            let span = (!x.span_id.is_empty()).then(|| sc.hex(x.span_id).to_string());
            s.field_builder::<StringBuilder>(3)
                .expect("exemplar span")
                .append_option(span);
            s.append(true);
            Ok(())
        });
        list.append(true);
    } else {
        c.exemplars.append(false);
    }
    // Resource attributes: `instance`, and the map without the two that are the `service` and
    // `region` columns already (most points carry only those: no copy for them).
    let mut instance = false;
    let (resource, instance_col) = (&mut c.resource, &mut c.instance);
    let _ = wire::repeated_bytes(e.raw, 10, |b| {
        let (key, value) = wire::attribute(b)?;
        if key == "service.name" || key == "cloud.region" {
            return Ok(());
        }
        let text = value.as_ref().map(|v| sc.value(v));
        if key == "service.instance.id" && !instance {
            instance_col.append_option(text);
            instance = true;
        }
        resource.keys().append_value(key);
        resource.values().append_option(text);
        Ok(())
    });
    if !instance {
        c.instance.append_null();
    }
    c.resource.append(true).expect("keys and values have equal length");
}

fn push_metadata(c: &mut MetadataCols, e: &EventRef<'_>, m: &MetadataRef<'_>) {
    c.time.append_value(e.event_time);
    c.name.append_value(m.name);
    c.metric_type.append_value(m.metric_type);
    c.unit.append_value(m.unit);
    c.help.append_value(m.help);
}

fn push_log(c: &mut LogCols, e: &EventRef<'_>, l: &LogRef<'_>, sc: &mut Scratch) {
    c.time.append_value(e.event_time);
    c.severity_number.append_value(l.severity_number);
    c.severity_text.append_value(l.severity_text);
    c.body.append_value(l.body);
    hex_or_null(&mut c.trace_id, e.trace_id, sc);
    hex_or_null(&mut c.span_id, e.span_id, sc);
}

fn push_alert(c: &mut AlertCols, e: &EventRef<'_>, a: &AlertRef<'_>) {
    c.time.append_value(e.event_time);
    c.alertname.append_value(a.alertname);
    c.status.append_value(a.status);
    c.starts_at.append_option((a.starts_at != 0).then_some(a.starts_at));
    c.ends_at.append_option((a.ends_at != 0).then_some(a.ends_at));
    c.fingerprint.append_value(a.fingerprint);
    c.generator_url.append_value(a.generator_url);
    c.receiver.append_value(a.receiver);
    c.annotations.append_value(a.annotations_json);
    c.group_key.append_value(a.group_key);
    c.group_labels.append_value(a.group_labels_json);
    c.truncated_alerts.append_value(a.truncated_alerts);
}

fn push_siem(c: &mut SiemCols, e: &EventRef<'_>, b: &SiemRef<'_>) {
    c.time.append_value(e.event_time);
    c.format.append_value(b.format);
    c.facility.append_option((b.facility >= 0).then_some(b.facility));
    c.severity.append_option((b.severity >= 0).then_some(b.severity));
    for (col, v) in c.text.iter_mut().zip(b.text) {
        col.append_value(v);
    }
    c.is_cef.append_value(b.is_cef);
    c.parse_error
        .append_option((!b.parse_error.is_empty()).then_some(b.parse_error));
}

fn finish_spans(c: &mut SpanCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(c.trace_id.finish()),
        Arc::new(c.span_id.finish()),
        Arc::new(c.parent.finish()),
        Arc::new(c.name.finish()),
        Arc::new(c.kind.finish()),
        Arc::new(c.status.finish()),
        Arc::new(c.status_message.finish()),
        tz(&mut c.start),
        tz(&mut c.end),
        Arc::new(c.duration_ms.finish()),
        Arc::new(c.trace_state.finish()),
    ];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_metrics(c: &mut MetricCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut c.time),
        Arc::new(c.name.finish()),
        Arc::new(c.unit.finish()),
        Arc::new(c.metric_type.finish()),
        Arc::new(c.value.finish()),
        Arc::new(c.count.finish()),
        Arc::new(c.monotonic.finish()),
        Arc::new(c.stale.finish()),
        tz(&mut c.start_time),
        Arc::new(c.temporality.finish()),
        Arc::new(c.bucket_bounds.finish()),
        Arc::new(c.bucket_counts.finish()),
        Arc::new(c.min.finish()),
        Arc::new(c.max.finish()),
        Arc::new(c.exponential.finish()),
        Arc::new(c.exemplars.finish()),
        Arc::new(c.instance.finish()),
        Arc::new(c.resource.finish()),
    ];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_logs(c: &mut LogCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut c.time),
        Arc::new(c.severity_number.finish()),
        Arc::new(c.severity_text.finish()),
        Arc::new(c.body.finish()),
        Arc::new(c.trace_id.finish()),
        Arc::new(c.span_id.finish()),
    ];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_markers(c: &mut MarkerCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![tz(&mut c.time), Arc::new(c.marker.finish())];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_alerts(c: &mut AlertCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut c.time),
        Arc::new(c.alertname.finish()),
        Arc::new(c.status.finish()),
        tz(&mut c.starts_at),
        tz(&mut c.ends_at),
        Arc::new(c.fingerprint.finish()),
        Arc::new(c.generator_url.finish()),
        Arc::new(c.receiver.finish()),
        Arc::new(c.annotations.finish()),
        Arc::new(c.group_key.finish()),
        Arc::new(c.group_labels.finish()),
        Arc::new(c.truncated_alerts.finish()),
    ];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_metadata(c: &mut MetadataCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut c.time),
        Arc::new(c.name.finish()),
        Arc::new(c.metric_type.finish()),
        Arc::new(c.unit.finish()),
        Arc::new(c.help.finish()),
    ];
    cols.extend(c.common.finish());
    batch(schema, cols)
}

fn finish_siem(c: &mut SiemCols, schema: &SchemaRef) -> Result<RecordBatch, AnalyzeError> {
    let mut cols: Vec<ArrayRef> = vec![
        tz(&mut c.time),
        Arc::new(c.format.finish()),
        Arc::new(c.facility.finish()),
        Arc::new(c.severity.finish()),
    ];
    cols.extend(c.text.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(c.is_cef.finish()));
    cols.push(Arc::new(c.parse_error.finish()));
    cols.extend(c.common.finish());
    batch(schema, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_display_does() {
        let mut sc = Scratch::default();
        for i in [0, 7, -7, 1234567890, i64::MIN, i64::MAX] {
            assert_eq!(sc.int(i), i.to_string());
        }
        assert_eq!(sc.hex(&[0x00, 0xab, 0x0f, 0xf0]), "00ab0ff0");
        assert_eq!(sc.value(&ValueRef::Double(0.1)), "0.1");
        assert_eq!(sc.value(&ValueRef::Double(1e21)), "1000000000000000000000");
        assert_eq!(sc.value(&ValueRef::Bool(false)), "false");
        assert_eq!(sc.value(&ValueRef::Bytes(&[1, 2])), "0102");
        assert_eq!(sc.value(&ValueRef::Str("x")), "x");
    }
}
