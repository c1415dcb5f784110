//! A borrowing decoder of the event encoding (`cutover_schemas::Event`, Protocol Buffers).
//!
//! The replay reads millions of events; decoding each into an owned `Event` costs one heap
//! allocation per string. This decoder reads the same wire format in place: strings and bytes
//! stay slices of the segment buffer. It accepts and rejects what `Event::from_bytes` does
//! for the fields the tables use: a bad varint, a truncated field, a known field with the
//! wrong wire type, a field number 0 or invalid UTF-8 in any string field (also those the
//! tables skip, such as resource attributes) make the record undecodable. Unknown fields are
//! skipped. A scalar field that appears twice keeps its last value, as in protobuf; the body
//! is the last body field seen. Two differences from prost, on input no cutover writer
//! produces: groups (wire types 3 and 4) make a record undecodable instead of being skipped,
//! and two body fields of the same kind are not merged (the last one is kept whole).
//!
//! Repeated fields of a metric point (bucket bounds and counts, exemplars) and the resource
//! attributes are checked here but read later, from the raw bytes kept in [`MetricRef::raw`]
//! and [`EventRef::raw`] ([`repeated_f64`], [`repeated_u64`], [`repeated_bytes`]), so that
//! the borrowed records stay `Copy` and allocation-free; only metric points read them.

/// Why a record does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecodable;

type R<T> = Result<T, Undecodable>;

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2.
    Len(&'a [u8]),
    /// Wire type 5.
    Fixed32,
}

impl<'a> Wire<'a> {
    fn varint(self) -> R<u64> {
        match self {
            Wire::Varint(v) => Ok(v),
            _ => Err(Undecodable),
        }
    }
    /// `int32` and enumerations.
    pub fn i32(self) -> R<i32> {
        Ok(self.varint()? as i32)
    }
    /// `int64`.
    pub fn i64(self) -> R<i64> {
        Ok(self.varint()? as i64)
    }
    /// `uint64`.
    pub fn u64(self) -> R<u64> {
        self.varint()
    }
    /// `bool`.
    pub fn bool(self) -> R<bool> {
        Ok(self.varint()? != 0)
    }
    /// `double`.
    pub fn f64(self) -> R<f64> {
        match self {
            Wire::Fixed64(v) => Ok(f64::from_bits(v)),
            _ => Err(Undecodable),
        }
    }
    /// `bytes` and embedded messages.
    pub fn bytes(self) -> R<&'a [u8]> {
        match self {
            Wire::Len(b) => Ok(b),
            _ => Err(Undecodable),
        }
    }
    /// `string`, checked UTF-8.
    pub fn str(self) -> R<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Undecodable)
    }
    /// `sint32` (zigzag).
    pub fn sint32(self) -> R<i32> {
        let v = self.varint()? as u32;
        Ok((v >> 1) as i32 ^ -((v & 1) as i32))
    }
}

/// Calls `f` with each value of the repeated `double` field `tag` of the message in `buf`,
/// packed or not.
pub fn repeated_f64(buf: &[u8], tag: u32, mut f: impl FnMut(f64)) -> R<()> {
    for_fields(buf, |t, w| {
        if t == tag {
            match w {
                Wire::Len(b) => {
                    if b.len() % 8 != 0 {
                        return Err(Undecodable);
                    }
                    for c in b.chunks_exact(8) {
                        f(f64::from_le_bytes(c.try_into().map_err(|_| Undecodable)?));
                    }
                }
                other => f(other.f64()?),
            }
        }
        Ok(())
    })
}

/// Calls `f` with each value of the repeated `uint64` field `tag` of the message in `buf`,
/// packed or not.
pub fn repeated_u64(buf: &[u8], tag: u32, mut f: impl FnMut(u64)) -> R<()> {
    for_fields(buf, |t, w| {
        if t == tag {
            match w {
                Wire::Len(b) => {
                    let mut pos = 0;
                    while pos < b.len() {
                        f(read_varint(b, &mut pos)?);
                    }
                }
                other => f(other.u64()?),
            }
        }
        Ok(())
    })
}

/// Calls `f` with each occurrence of the length-delimited field `tag` (repeated messages).
pub fn repeated_bytes<'a>(buf: &'a [u8], tag: u32, mut f: impl FnMut(&'a [u8]) -> R<()>) -> R<()> {
    for_fields(buf, |t, w| if t == tag { f(w.bytes()?) } else { Ok(()) })
}

fn read_varint(buf: &[u8], pos: &mut usize) -> R<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or(Undecodable)?;
        *pos += 1;
        if i == 9 && b > 1 {
            return Err(Undecodable);
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Undecodable)
}

/// Calls `f(field number, value)` for every field of the message in `buf`, in order.
pub fn for_fields<'a>(buf: &'a [u8], mut f: impl FnMut(u32, Wire<'a>) -> R<()>) -> R<()> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        if key > u64::from(u32::MAX) {
            return Err(Undecodable);
        }
        let tag = (key >> 3) as u32;
        if tag == 0 {
            return Err(Undecodable);
        }
        let value = match key & 7 {
            0 => Wire::Varint(read_varint(buf, &mut pos)?),
            1 => {
                let b = buf.get(pos..pos + 8).ok_or(Undecodable)?;
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| Undecodable)?))
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).map_err(|_| Undecodable)?;
                let end = pos.checked_add(len).ok_or(Undecodable)?;
                let b = buf.get(pos..end).ok_or(Undecodable)?;
                pos = end;
                Wire::Len(b)
            }
            5 => {
                buf.get(pos..pos + 4).ok_or(Undecodable)?;
                pos += 4;
                Wire::Fixed32
            }
            _ => return Err(Undecodable),
        };
        f(tag, value)?;
    }
    Ok(())
}

/// A span body (`SpanBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanRef<'a> {
    /// `parent_span_id`.
    pub parent_span_id: &'a [u8],
    /// `name`.
    pub name: &'a str,
    /// `kind`.
    pub kind: i32,
    /// `status_code`.
    pub status_code: i32,
    /// `status_message`.
    pub status_message: &'a str,
    /// `end_time_unix_nano`.
    pub end_time: i64,
    /// `trace_state`.
    pub trace_state: &'a str,
}

/// A metric body (`MetricBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct MetricRef<'a> {
    /// `name`.
    pub name: &'a str,
    /// `unit`.
    pub unit: &'a str,
    /// `metric_type`.
    pub metric_type: &'a str,
    /// `value`.
    pub value: f64,
    /// `count`.
    pub count: u64,
    /// `is_monotonic`.
    pub is_monotonic: bool,
    /// `is_stale`.
    pub is_stale: bool,
    /// `start_time_unix_nano`.
    pub start_time: i64,
    /// `temporality`.
    pub temporality: i32,
    /// `min`.
    pub min: Option<f64>,
    /// `max`.
    pub max: Option<f64>,
    /// `exponential`.
    pub exponential: Option<ExponentialRef<'a>>,
    /// Whether `bucket_bounds` or `bucket_counts` has a value.
    pub has_buckets: bool,
    /// Whether it has exemplars.
    pub has_exemplars: bool,
    /// The whole body: `bucket_bounds` (10), `bucket_counts` (11) and `exemplars` (15) are read
    /// from it with [`repeated_f64`], [`repeated_u64`] and [`repeated_bytes`].
    pub raw: &'a [u8],
}

/// The buckets of an exponential histogram (`ExponentialBuckets`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExponentialRef<'a> {
    /// `scale`.
    pub scale: i32,
    /// `zero_count`.
    pub zero_count: u64,
    /// `zero_threshold`.
    pub zero_threshold: f64,
    /// `positive_offset`.
    pub positive_offset: i32,
    /// `negative_offset`.
    pub negative_offset: i32,
    /// The whole message: `positive_counts` (5) and `negative_counts` (7) are read from it.
    pub raw: &'a [u8],
}

/// One exemplar (`Exemplar`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExemplarRef<'a> {
    /// `time_unix_nano`.
    pub time: i64,
    /// `value`.
    pub value: f64,
    /// `trace_id`.
    pub trace_id: &'a [u8],
    /// `span_id`.
    pub span_id: &'a [u8],
}

/// A metric family's metadata (`MetricMetadataBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct MetadataRef<'a> {
    /// `name`.
    pub name: &'a str,
    /// `metric_type`.
    pub metric_type: &'a str,
    /// `unit`.
    pub unit: &'a str,
    /// `help`.
    pub help: &'a str,
}

/// A log body (`LogBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogRef<'a> {
    /// `severity_number`.
    pub severity_number: i32,
    /// `severity_text`.
    pub severity_text: &'a str,
    /// `body`.
    pub body: &'a str,
}

/// An alert body (`AlertBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AlertRef<'a> {
    /// `status`.
    pub status: &'a str,
    /// `alertname`.
    pub alertname: &'a str,
    /// `starts_at_unix_nano`.
    pub starts_at: i64,
    /// `ends_at_unix_nano`.
    pub ends_at: i64,
    /// `fingerprint`.
    pub fingerprint: &'a str,
    /// `generator_url`.
    pub generator_url: &'a str,
    /// `receiver`.
    pub receiver: &'a str,
    /// `annotations_json`.
    pub annotations_json: &'a str,
    /// `group_key`.
    pub group_key: &'a str,
    /// `group_labels_json`.
    pub group_labels_json: &'a str,
    /// `truncated_alerts`.
    pub truncated_alerts: u64,
}

/// A SIEM body (`SiemBody`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SiemRef<'a> {
    /// `format`.
    pub format: &'a str,
    /// `facility`.
    pub facility: i32,
    /// `severity`.
    pub severity: i32,
    /// hostname, app_name, proc_id, msg_id, message, structured_data_json, cef_vendor,
    /// cef_product, cef_device_version, cef_signature_id, cef_name, cef_severity, peer: the
    /// order of the `siem` table's text columns.
    pub text: [&'a str; 13],
    /// `is_cef`.
    pub is_cef: bool,
    /// `parse_error`.
    pub parse_error: &'a str,
}

/// An event's body.
#[derive(Debug, Clone, Copy)]
pub enum BodyRef<'a> {
    /// Field 20.
    Span(SpanRef<'a>),
    /// Field 21.
    Metric(MetricRef<'a>),
    /// Field 22.
    Log(LogRef<'a>),
    /// Field 23: the marker name.
    Marker(&'a str),
    /// Field 24.
    Alert(AlertRef<'a>),
    /// Field 25.
    Siem(SiemRef<'a>),
    /// Field 26.
    MetricMetadata(MetadataRef<'a>),
}

fn span(buf: &[u8]) -> R<SpanRef<'_>> {
    let mut s = SpanRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => s.parent_span_id = w.bytes()?,
            2 => s.name = w.str()?,
            3 => s.kind = w.i32()?,
            4 => s.status_code = w.i32()?,
            5 => s.status_message = w.str()?,
            6 => s.end_time = w.i64()?,
            7 => {
                w.str()?;
            }
            8 => s.trace_state = w.str()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn metric(buf: &[u8]) -> R<MetricRef<'_>> {
    let mut m = MetricRef {
        raw: buf,
        ..Default::default()
    };
    for_fields(buf, |tag, w| {
        match tag {
            1 => m.name = w.str()?,
            2 => m.unit = w.str()?,
            3 => m.metric_type = w.str()?,
            4 => m.value = w.f64()?,
            5 => m.count = w.u64()?,
            6 => m.is_monotonic = w.bool()?,
            7 => m.start_time = w.i64()?,
            8 => m.is_stale = w.bool()?,
            9 => m.temporality = w.i32()?,
            10 => {
                match w {
                    Wire::Len(b) if b.len() % 8 == 0 => {}
                    Wire::Fixed64(_) => {}
                    _ => return Err(Undecodable),
                }
                m.has_buckets = true;
            }
            11 => {
                check_u64s(w)?;
                m.has_buckets = true;
            }
            12 => m.min = Some(w.f64()?),
            13 => m.max = Some(w.f64()?),
            14 => m.exponential = Some(exponential(w.bytes()?)?),
            15 => {
                exemplar(w.bytes()?)?;
                m.has_exemplars = true;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(m)
}

/// Checks one occurrence of a repeated `uint64` field: packed varints or one varint.
fn check_u64s(w: Wire<'_>) -> R<()> {
    match w {
        Wire::Len(b) => {
            let mut pos = 0;
            while pos < b.len() {
                read_varint(b, &mut pos)?;
            }
            Ok(())
        }
        other => other.u64().map(|_| ()),
    }
}

fn exponential(buf: &[u8]) -> R<ExponentialRef<'_>> {
    let mut x = ExponentialRef {
        raw: buf,
        ..Default::default()
    };
    for_fields(buf, |tag, w| {
        match tag {
            1 => x.scale = w.sint32()?,
            2 => x.zero_count = w.u64()?,
            3 => x.zero_threshold = w.f64()?,
            4 => x.positive_offset = w.sint32()?,
            6 => x.negative_offset = w.sint32()?,
            5 | 7 => check_u64s(w)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(x)
}

/// Decodes one exemplar (its attributes are checked, not kept).
pub fn exemplar(buf: &[u8]) -> R<ExemplarRef<'_>> {
    let mut x = ExemplarRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => x.time = w.i64()?,
            2 => x.value = w.f64()?,
            3 => x.trace_id = w.bytes()?,
            4 => x.span_id = w.bytes()?,
            5 => {
                attribute(w.bytes()?)?;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(x)
}

fn metadata(buf: &[u8]) -> R<MetadataRef<'_>> {
    let mut m = MetadataRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => m.name = w.str()?,
            2 => m.metric_type = w.str()?,
            3 => m.unit = w.str()?,
            4 => m.help = w.str()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(m)
}

fn log(buf: &[u8]) -> R<LogRef<'_>> {
    let mut l = LogRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => l.severity_number = w.i32()?,
            2 => l.severity_text = w.str()?,
            3 => l.body = w.str()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(l)
}

fn marker(buf: &[u8]) -> R<&str> {
    let mut m = "";
    for_fields(buf, |tag, w| {
        if tag == 1 {
            m = w.str()?;
        }
        Ok(())
    })?;
    Ok(m)
}

fn alert(buf: &[u8]) -> R<AlertRef<'_>> {
    let mut a = AlertRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => a.status = w.str()?,
            2 => a.alertname = w.str()?,
            3 => a.starts_at = w.i64()?,
            4 => a.ends_at = w.i64()?,
            5 => a.fingerprint = w.str()?,
            6 => a.generator_url = w.str()?,
            7 => a.receiver = w.str()?,
            8 => a.annotations_json = w.str()?,
            9 => a.group_key = w.str()?,
            10 => a.group_labels_json = w.str()?,
            11 => a.truncated_alerts = w.u64()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(a)
}

/// Field number of each `siem` text column, in [`SiemRef::text`] order.
const SIEM_TEXT_TAGS: [u32; 13] = [4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18];

fn siem(buf: &[u8]) -> R<SiemRef<'_>> {
    let mut s = SiemRef::default();
    for_fields(buf, |tag, w| {
        match tag {
            1 => s.format = w.str()?,
            2 => s.facility = w.i32()?,
            3 => s.severity = w.i32()?,
            10 => s.is_cef = w.bool()?,
            17 => s.parse_error = w.str()?,
            _ => {
                if let Some(i) = SIEM_TEXT_TAGS.iter().position(|t| *t == tag) {
                    s.text[i] = w.str()?;
                }
            }
        }
        Ok(())
    })?;
    Ok(s)
}

fn body(tag: u32, buf: &[u8]) -> R<BodyRef<'_>> {
    Ok(match tag {
        20 => BodyRef::Span(span(buf)?),
        21 => BodyRef::Metric(metric(buf)?),
        22 => BodyRef::Log(log(buf)?),
        23 => BodyRef::Marker(marker(buf)?),
        24 => BodyRef::Alert(alert(buf)?),
        25 => BodyRef::Siem(siem(buf)?),
        _ => BodyRef::MetricMetadata(metadata(buf)?),
    })
}

/// The fields of an event the tables use, borrowed from the record.
#[derive(Debug, Default)]
pub struct EventRef<'a> {
    /// `kind`.
    pub kind: i32,
    /// `region`.
    pub region: &'a str,
    /// `service`.
    pub service: &'a str,
    /// `event_time_unix_nano`.
    pub event_time: i64,
    /// `ingest_time_unix_nano`.
    pub ingest_time: i64,
    /// `trace_id`.
    pub trace_id: &'a [u8],
    /// `span_id`.
    pub span_id: &'a [u8],
    /// `source`.
    pub source: i32,
    /// The last body field.
    pub body: Option<BodyRef<'a>>,
    /// The whole event: `resource_attributes` (10) are read from it with [`repeated_bytes`].
    pub raw: &'a [u8],
}

/// A decoded attribute value (`cutover_schemas::Value`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A string or JSON text.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Raw bytes.
    Bytes(&'a [u8]),
}

/// Decodes one attribute message: (key, value).
pub fn attribute(buf: &[u8]) -> R<AttrRef<'_>> {
    let mut key = "";
    let mut value = None;
    for_fields(buf, |tag, w| {
        match tag {
            1 => key = w.str()?,
            2 | 7 => value = Some(ValueRef::Str(w.str()?)),
            3 => value = Some(ValueRef::Int(w.i64()?)),
            4 => value = Some(ValueRef::Double(w.f64()?)),
            5 => value = Some(ValueRef::Bool(w.bool()?)),
            6 => value = Some(ValueRef::Bytes(w.bytes()?)),
            _ => {}
        }
        Ok(())
    })?;
    Ok((key, value))
}

/// A decoded attribute: key and value (`None` when the value is unset).
pub type AttrRef<'a> = (&'a str, Option<ValueRef<'a>>);

/// Decodes an event; its attributes go to `attributes` (cleared first). Resource attributes
/// are checked and skipped.
pub fn event<'a>(buf: &'a [u8], attributes: &mut Vec<AttrRef<'a>>) -> R<EventRef<'a>> {
    attributes.clear();
    let mut e = EventRef {
        raw: buf,
        ..Default::default()
    };
    for_fields(buf, |tag, w| {
        match tag {
            1 => {
                w.varint()?;
            }
            2 => e.kind = w.i32()?,
            3 => e.region = w.str()?,
            4 => e.service = w.str()?,
            5 => e.event_time = w.i64()?,
            6 => e.ingest_time = w.i64()?,
            7 => e.trace_id = w.bytes()?,
            8 => e.span_id = w.bytes()?,
            9 => attributes.push(attribute(w.bytes()?)?),
            10 => {
                attribute(w.bytes()?)?;
            }
            11 => e.source = w.i32()?,
            20..=26 => e.body = Some(body(tag, w.bytes()?)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_schemas::{Attribute, Body, Event, EventKind, SpanBody, Value};

    fn sample() -> Event {
        Event {
            schema_version: 1,
            kind: EventKind::Span as i32,
            region: "us-east-1".into(),
            service: "frontend".into(),
            event_time_unix_nano: -5,
            ingest_time_unix_nano: 1_700_000_000_000_000_000,
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![
                Attribute::int("n", -7),
                Attribute::str("k", "v"),
                Attribute {
                    key: "d".into(),
                    value: Some(Value::Double(0.5)),
                },
                Attribute {
                    key: "none".into(),
                    value: None,
                },
            ],
            resource_attributes: vec![Attribute::str("cloud.region", "us-east-1")],
            source: 1,
            body: Some(Body::Span(SpanBody {
                name: "GET /".into(),
                kind: 2,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn reads_what_prost_writes() {
        let bytes = sample().to_bytes();
        let mut attrs = vec![];
        let e = event(&bytes, &mut attrs).unwrap();
        assert_eq!((e.kind, e.region, e.service), (1, "us-east-1", "frontend"));
        assert_eq!(
            (e.event_time, e.ingest_time, e.source),
            (-5, 1_700_000_000_000_000_000, 1)
        );
        assert_eq!((e.trace_id, e.span_id), (&[1u8; 16][..], &[2u8; 8][..]));
        let Some(BodyRef::Span(s)) = e.body else {
            panic!("not a span body")
        };
        assert_eq!((s.name, s.kind, s.parent_span_id), ("GET /", 2, &[][..]));
        assert_eq!(
            attrs,
            vec![
                ("n", Some(ValueRef::Int(-7))),
                ("k", Some(ValueRef::Str("v"))),
                ("d", Some(ValueRef::Double(0.5))),
                ("none", None),
            ]
        );
    }

    #[test]
    fn rejects_what_prost_rejects() {
        let bytes = sample().to_bytes();
        let mut attrs = vec![];
        for cut in [1, 5, bytes.len() - 1] {
            assert_eq!(
                event(&bytes[..cut], &mut attrs).is_err(),
                Event::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // Invalid UTF-8 in a resource attribute value (a field the tables skip).
        let mut bad = sample();
        bad.resource_attributes = vec![Attribute::str("x", "\u{e9}")];
        let mut b = bad.to_bytes();
        let at = b.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
        b[at] = 0xff;
        assert!(Event::from_bytes(&b).is_err());
        assert!(event(&b, &mut attrs).is_err());
        // Field 0 and a string field sent as a varint.
        assert!(event(&[0x00, 0x01], &mut attrs).is_err());
        assert!(event(&[0x18, 0x01], &mut attrs).is_err());
        assert!(Event::from_bytes(&[0x18, 0x01]).is_err());
        // Unknown fields are skipped.
        assert!(event(&[0xf8, 0x07, 0x01], &mut attrs).is_ok());
        assert!(Event::from_bytes(&[0xf8, 0x07, 0x01]).is_ok());
    }
}
