//! How much memory a request will take once decoded, estimated from its bytes before decoding.
//!
//! Decoding can amplify: an empty sub-message is two bytes on the wire and a whole struct in
//! memory (an `ExportTraceServiceRequest` of empty `resource_spans` decodes to about forty
//! times its size), a packed varint one byte and eight in memory. [`estimate`] walks the
//! protobuf wire format with the message layout of the request type (which fields are
//! repeated or singular sub-messages, which are packed scalars) and adds, per element, the size
//! of the Rust struct it becomes plus the bytes of strings; the total is doubled for vector
//! growth. It reads no more than the bytes and allocates nothing. For JSON bodies
//! [`estimate_json`] charges the largest struct per `{` or `[`.

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;

/// The layout of one message type.
pub struct Layout {
    /// Size of the decoded struct.
    pub size: usize,
    /// Fields that allocate beyond the struct, by field number.
    pub fields: &'static [(u32, Field)],
}

/// How a field is held once decoded.
pub enum Field {
    /// `repeated Message`: one struct per element.
    Repeated(&'static Layout),
    /// A singular message (or oneof variant), inline in its parent.
    Inline(&'static Layout),
    /// A packed or repeated scalar: at most `n` bytes in memory per byte on the wire.
    Scalars(usize),
    /// `repeated string`: a `String` per element plus its bytes.
    Strings,
}

use Field::{Inline, Repeated, Scalars, Strings};

macro_rules! layout {
    ($name:ident, $ty:ty, [$($f:expr),* $(,)?]) => {
        /// Layout of the message type named alike.
        pub static $name: Layout = Layout { size: size_of::<$ty>(), fields: &[$($f),*] };
    };
}

layout!(
    ANY_VALUE,
    common::AnyValue,
    [(5, Inline(&ARRAY_VALUE)), (6, Inline(&KEY_VALUE_LIST))]
);
layout!(ARRAY_VALUE, common::ArrayValue, [(1, Repeated(&ANY_VALUE))]);
layout!(KEY_VALUE_LIST, common::KeyValueList, [(1, Repeated(&KEY_VALUE))]);
layout!(KEY_VALUE, common::KeyValue, [(2, Inline(&ANY_VALUE))]);
layout!(SCOPE, common::InstrumentationScope, [(3, Repeated(&KEY_VALUE))]);
layout!(ENTITY_REF, common::EntityRef, [(3, Strings), (4, Strings)]);
layout!(
    RESOURCE,
    resource::Resource,
    [(1, Repeated(&KEY_VALUE)), (3, Repeated(&ENTITY_REF))]
);

layout!(
    TRACES,
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    [(1, Repeated(&RESOURCE_SPANS))]
);
layout!(
    RESOURCE_SPANS,
    trace::ResourceSpans,
    [(1, Inline(&RESOURCE)), (2, Repeated(&SCOPE_SPANS))]
);
layout!(
    SCOPE_SPANS,
    trace::ScopeSpans,
    [(1, Inline(&SCOPE)), (2, Repeated(&SPAN))]
);
layout!(
    SPAN,
    trace::Span,
    [
        (9, Repeated(&KEY_VALUE)),
        (11, Repeated(&SPAN_EVENT)),
        (13, Repeated(&SPAN_LINK)),
        (15, Inline(&STATUS))
    ]
);
layout!(SPAN_EVENT, trace::span::Event, [(3, Repeated(&KEY_VALUE))]);
layout!(SPAN_LINK, trace::span::Link, [(4, Repeated(&KEY_VALUE))]);
layout!(STATUS, trace::Status, []);

layout!(
    METRICS,
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    [(1, Repeated(&RESOURCE_METRICS))]
);
layout!(
    RESOURCE_METRICS,
    metrics::ResourceMetrics,
    [(1, Inline(&RESOURCE)), (2, Repeated(&SCOPE_METRICS))]
);
layout!(
    SCOPE_METRICS,
    metrics::ScopeMetrics,
    [(1, Inline(&SCOPE)), (2, Repeated(&METRIC))]
);
layout!(
    METRIC,
    metrics::Metric,
    [
        (5, Inline(&GAUGE)),
        (7, Inline(&SUM)),
        (9, Inline(&HISTOGRAM)),
        (10, Inline(&EXP_HISTOGRAM)),
        (11, Inline(&SUMMARY)),
        (12, Repeated(&KEY_VALUE)),
    ]
);
layout!(GAUGE, metrics::Gauge, [(1, Repeated(&NUMBER_POINT))]);
layout!(SUM, metrics::Sum, [(1, Repeated(&NUMBER_POINT))]);
layout!(HISTOGRAM, metrics::Histogram, [(1, Repeated(&HISTOGRAM_POINT))]);
layout!(
    EXP_HISTOGRAM,
    metrics::ExponentialHistogram,
    [(1, Repeated(&EXP_HISTOGRAM_POINT))]
);
layout!(SUMMARY, metrics::Summary, [(1, Repeated(&SUMMARY_POINT))]);
layout!(
    NUMBER_POINT,
    metrics::NumberDataPoint,
    [(7, Repeated(&KEY_VALUE)), (5, Repeated(&EXEMPLAR))]
);
layout!(
    HISTOGRAM_POINT,
    metrics::HistogramDataPoint,
    [
        (9, Repeated(&KEY_VALUE)),
        (6, Scalars(8)),
        (7, Scalars(8)),
        (8, Repeated(&EXEMPLAR)),
    ]
);
layout!(
    EXP_HISTOGRAM_POINT,
    metrics::ExponentialHistogramDataPoint,
    [
        (1, Repeated(&KEY_VALUE)),
        (8, Inline(&BUCKETS)),
        (9, Inline(&BUCKETS)),
        (11, Repeated(&EXEMPLAR)),
    ]
);
layout!(
    BUCKETS,
    metrics::exponential_histogram_data_point::Buckets,
    [(2, Scalars(8))]
);
layout!(
    SUMMARY_POINT,
    metrics::SummaryDataPoint,
    [(7, Repeated(&KEY_VALUE)), (6, Repeated(&QUANTILE))]
);
layout!(QUANTILE, metrics::summary_data_point::ValueAtQuantile, []);
layout!(EXEMPLAR, metrics::Exemplar, [(7, Repeated(&KEY_VALUE))]);

layout!(
    LOGS,
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest,
    [(1, Repeated(&RESOURCE_LOGS))]
);
layout!(
    RESOURCE_LOGS,
    logs::ResourceLogs,
    [(1, Inline(&RESOURCE)), (2, Repeated(&SCOPE_LOGS))]
);
layout!(
    SCOPE_LOGS,
    logs::ScopeLogs,
    [(1, Inline(&SCOPE)), (2, Repeated(&LOG_RECORD))]
);
layout!(
    LOG_RECORD,
    logs::LogRecord,
    [(5, Inline(&ANY_VALUE)), (6, Repeated(&KEY_VALUE))]
);

layout!(
    WRITE_REQUEST,
    cutover_parsers::remote_write::WriteRequest,
    [(1, Repeated(&TIME_SERIES))]
);
layout!(
    TIME_SERIES,
    cutover_parsers::remote_write::TimeSeries,
    [(1, Repeated(&LABEL)), (2, Repeated(&SAMPLE))]
);
layout!(LABEL, cutover_parsers::remote_write::Label, []);
layout!(SAMPLE, cutover_parsers::remote_write::Sample, []);

/// prost's recursion limit.
const MAX_DEPTH: u32 = 100;

/// The largest struct any OTLP JSON object or array may become.
const MAX_JSON_ELEMENT: usize = {
    let sizes = [
        size_of::<trace::Span>(),
        size_of::<metrics::Metric>(),
        size_of::<metrics::ExponentialHistogramDataPoint>(),
        size_of::<metrics::HistogramDataPoint>(),
        size_of::<logs::LogRecord>(),
        size_of::<trace::ResourceSpans>(),
        size_of::<metrics::ResourceMetrics>(),
        size_of::<logs::ResourceLogs>(),
        size_of::<common::KeyValue>() + size_of::<common::AnyValue>(),
    ];
    let mut max = 0;
    let mut i = 0;
    while i < sizes.len() {
        if sizes[i] > max {
            max = sizes[i];
        }
        i += 1;
    }
    max
};

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn walk(buf: &[u8], layout: &Layout, depth: u32) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut cost = 0u64;
    let mut at = 0usize;
    while at < buf.len() {
        let tag = varint(buf, &mut at)?;
        let number = u32::try_from(tag >> 3).ok()?;
        let field = layout.fields.iter().find(|(n, _)| *n == number).map(|(_, f)| f);
        let scalar_cost = match field {
            Some(Scalars(_)) => 8,
            _ => 0,
        };
        match tag & 7 {
            0 => {
                varint(buf, &mut at)?;
                cost += scalar_cost;
            }
            1 => {
                at = at.checked_add(8).filter(|&a| a <= buf.len())?;
                cost += scalar_cost;
            }
            5 => {
                at = at.checked_add(4).filter(|&a| a <= buf.len())?;
                cost += scalar_cost;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&e| e <= buf.len())?;
                let sub = &buf[at..end];
                at = end;
                cost += match field {
                    Some(Repeated(l)) => l.size as u64 + walk(sub, l, depth + 1)?,
                    Some(Inline(l)) => walk(sub, l, depth + 1)?,
                    Some(Scalars(n)) => (len * n) as u64,
                    Some(Strings) => (size_of::<String>() + len) as u64,
                    None => len as u64,
                };
            }
            3 => {
                // A group (proto2): OTLP has none, but prost skips unknown groups, so does this;
                // their bytes are charged.
                let start = at;
                skip_group(buf, &mut at, number, depth + 1)?;
                cost += (at - start) as u64;
            }
            _ => return None,
        }
    }
    Some(cost)
}

/// Skips to the end-group tag of field `number`, through nested groups.
fn skip_group(buf: &[u8], at: &mut usize, number: u32, depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    loop {
        let tag = varint(buf, at)?;
        let n = u32::try_from(tag >> 3).ok()?;
        match tag & 7 {
            0 => {
                varint(buf, at)?;
            }
            1 => *at = at.checked_add(8).filter(|&a| a <= buf.len())?,
            5 => *at = at.checked_add(4).filter(|&a| a <= buf.len())?,
            2 => {
                let len = usize::try_from(varint(buf, at)?).ok()?;
                *at = at.checked_add(len).filter(|&e| e <= buf.len())?;
            }
            3 => skip_group(buf, at, n, depth + 1)?,
            4 if n == number => return Some(()),
            _ => return None,
        }
    }
}

/// Upper bound of the memory `buf` takes once decoded as `layout` (top-level struct
/// included), or `None` when `buf` is not well-formed protobuf (decoding will fail).
pub fn estimate(buf: &[u8], layout: &Layout) -> Option<u64> {
    walk(buf, layout, 0).map(|c| 2 * (c + layout.size as u64))
}

/// Upper bound of the memory an OTLP/JSON body takes once decoded: the largest struct per
/// object or array, eight bytes per element separator (`[0,0,0]` decodes to 8-byte numbers)
/// and the bytes themselves.
pub fn estimate_json(buf: &[u8]) -> u64 {
    let (mut nested, mut commas) = (0u64, 0u64);
    for &b in buf {
        match b {
            b'{' | b'[' => nested += 1,
            b',' => commas += 1,
            _ => {}
        }
    }
    2 * (buf.len() as u64 + nested * MAX_JSON_ELEMENT as u64 + commas * 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    #[test]
    fn empty_sub_messages_are_charged_their_struct_size() {
        let bomb: Vec<u8> = std::iter::repeat_n([0x0a, 0x00], 1000).flatten().collect();
        let est = estimate(&bomb, &TRACES).unwrap();
        assert!(est >= 1000 * size_of::<trace::ResourceSpans>() as u64, "{est}");
        assert!(
            est > 20 * bomb.len() as u64,
            "amplification seen: {est} for {} bytes",
            bomb.len()
        );
        // Decoding agrees that these are 1000 elements.
        assert_eq!(
            ExportTraceServiceRequest::decode(bomb.as_slice())
                .unwrap()
                .resource_spans
                .len(),
            1000
        );
    }

    #[test]
    fn real_requests_are_estimated_above_their_size_and_garbage_is_none() {
        let span = trace::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /checkout".into(),
            attributes: vec![common::KeyValue {
                key: "http.route".into(),
                value: Some(common::AnyValue {
                    value: Some(common::any_value::Value::StringValue("/checkout".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![trace::ResourceSpans {
                scope_spans: vec![trace::ScopeSpans {
                    spans: vec![span; 50],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = req.encode_to_vec();
        let est = estimate(&bytes, &TRACES).unwrap();
        let floor = 50 * (size_of::<trace::Span>() + size_of::<common::KeyValue>()) as u64;
        assert!(est >= floor, "{est} < {floor}");
        assert_eq!(estimate(&[0x0a, 0x05, 0x00], &TRACES), None, "length past the end");
        assert_eq!(estimate(&[0x0b], &TRACES), None, "a group that never ends");
        // An unknown group after a bomb: prost skips it, the estimate still counts the bomb.
        let mut grouped: Vec<u8> = std::iter::repeat_n([0x0a, 0x00], 1000).flatten().collect();
        grouped.extend([0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06]);
        assert_eq!(
            ExportTraceServiceRequest::decode(grouped.as_slice())
                .unwrap()
                .resource_spans
                .len(),
            1000
        );
        assert!(estimate(&grouped, &TRACES).unwrap() >= 1000 * size_of::<trace::ResourceSpans>() as u64);
        // Arrays nested past prost's recursion limit: both refuse.
        let mut v = common::AnyValue::default();
        for _ in 0..60 {
            v = common::AnyValue {
                value: Some(common::any_value::Value::ArrayValue(common::ArrayValue {
                    values: vec![v],
                })),
            };
        }
        let deep = v.encode_to_vec();
        assert_eq!(estimate(&deep, &ANY_VALUE), None);
        assert!(common::AnyValue::decode(deep.as_slice()).is_err());
    }

    #[test]
    fn json_nesting_is_charged() {
        let body = br#"{"resourceSpans":[{},{},{}]}"#;
        assert!(estimate_json(body) >= 4 * MAX_JSON_ELEMENT as u64);
    }
}
