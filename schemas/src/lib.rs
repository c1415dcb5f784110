//! The cutover event model: one versioned envelope ([`Event`]) for everything ingested.
//!
//! Every receiver turns what it accepts into `Event`s; the event log stores one encoded event
//! per record; the analyzer decodes them back into tables. Events are immutable facts: a
//! correction is a new event, never an edit.
//!
//! # Encoding
//!
//! An event is encoded as a Protocol Buffers message (the field numbers below are the wire
//! contract, written with `prost` derives so no `protoc` is needed). Protobuf lets later
//! versions add fields that older readers skip. [`SCHEMA_VERSION`] is stored in every event
//! and is raised only for changes that alter the meaning of existing fields.
//!
//! # Fields common to every kind
//!
//! | field | meaning |
//! |---|---|
//! | `schema_version` | [`SCHEMA_VERSION`] at write time |
//! | `kind` | [`EventKind`]: span, metric point, log record, marker (later siem, alert) |
//! | `region` | region that emitted it: resource attribute `cloud.region`, else the listener's default |
//! | `service` | resource attribute `service.name` (empty when absent) |
//! | `event_time_unix_nano` | when it happened, per the source (span start, point time, log time) |
//! | `ingest_time_unix_nano` | when cutover received it |
//! | `trace_id`, `span_id` | raw bytes where the source has them, else empty |
//! | `attributes` | the event's own attributes, flattened to key/typed value |
//! | `resource_attributes` | the emitting resource's attributes |
//! | `source` | [`Source`]: which receiver and protocol accepted it |
//! | `body` | kind-specific payload ([`Body`]) |
//!
//! Fields added since schema version 1 without raising it (older events read them as empty):
//! span `trace_state`; metric point `temporality`, `bucket_bounds`, `bucket_counts`, `min`,
//! `max`, `exponential`, `exemplars`; alert `group_key`, `group_labels_json`,
//! `truncated_alerts`; the kind `metric_metadata` with its body.

use std::fmt;

/// The version written into every event's `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// One immutable, region-tagged fact. See the crate docs for the field contract.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// [`SCHEMA_VERSION`] at write time.
    #[prost(uint32, tag = "1")]
    pub schema_version: u32,
    /// [`EventKind`] as its number.
    #[prost(enumeration = "EventKind", tag = "2")]
    pub kind: i32,
    /// Emitting region.
    #[prost(string, tag = "3")]
    pub region: String,
    /// Emitting service (`service.name`).
    #[prost(string, tag = "4")]
    pub service: String,
    /// Event time, nanoseconds since the Unix epoch.
    #[prost(int64, tag = "5")]
    pub event_time_unix_nano: i64,
    /// Receive time at cutover, nanoseconds since the Unix epoch.
    #[prost(int64, tag = "6")]
    pub ingest_time_unix_nano: i64,
    /// 16-byte trace id, or empty.
    #[prost(bytes = "vec", tag = "7")]
    pub trace_id: Vec<u8>,
    /// 8-byte span id, or empty.
    #[prost(bytes = "vec", tag = "8")]
    pub span_id: Vec<u8>,
    /// The event's attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<Attribute>,
    /// The emitting resource's attributes.
    #[prost(message, repeated, tag = "10")]
    pub resource_attributes: Vec<Attribute>,
    /// [`Source`] as its number.
    #[prost(enumeration = "Source", tag = "11")]
    pub source: i32,
    /// Kind-specific payload.
    #[prost(oneof = "Body", tags = "20, 21, 22, 23, 24, 25, 26")]
    pub body: Option<Body>,
}

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventKind {
    /// Unknown (never written).
    Unspecified = 0,
    /// A trace span.
    Span = 1,
    /// One metric data point.
    MetricPoint = 2,
    /// A log record.
    Log = 3,
    /// A drill marker (`cutover.marker`).
    Marker = 4,
    /// A security (SIEM) event.
    Siem = 5,
    /// An alert notification.
    Alert = 6,
    /// Metadata of a metric family (type, unit, help), as Prometheus remote_write sends it.
    MetricMetadata = 7,
}

/// Which receiver and protocol accepted an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum Source {
    /// Unknown.
    Unspecified = 0,
    /// OTLP over gRPC.
    OtlpGrpc = 1,
    /// OTLP over HTTP with a protobuf body.
    OtlpHttpProtobuf = 2,
    /// OTLP over HTTP with a JSON body.
    OtlpHttpJson = 3,
    /// Prometheus remote_write 1.0.
    PromRemoteWrite = 4,
    /// Alertmanager webhook.
    AlertmanagerWebhook = 5,
    /// cutover's markers API (`POST /v1/markers`, `cutover mark`).
    MarkersApi = 6,
    /// Syslog over TCP.
    SyslogTcp = 7,
    /// Syslog over UDP.
    SyslogUdp = 8,
}

impl EventKind {
    /// Stable lowercase name used in tables and metrics.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Unspecified => "unspecified",
            EventKind::Span => "span",
            EventKind::MetricPoint => "metric_point",
            EventKind::Log => "log",
            EventKind::Marker => "marker",
            EventKind::Siem => "siem",
            EventKind::Alert => "alert",
            EventKind::MetricMetadata => "metric_metadata",
        }
    }
}

impl Source {
    /// Stable lowercase name used in tables and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Source::Unspecified => "unspecified",
            Source::OtlpGrpc => "otlp_grpc",
            Source::OtlpHttpProtobuf => "otlp_http_protobuf",
            Source::OtlpHttpJson => "otlp_http_json",
            Source::PromRemoteWrite => "prometheus_remote_write",
            Source::AlertmanagerWebhook => "alertmanager_webhook",
            Source::MarkersApi => "markers_api",
            Source::SyslogTcp => "syslog_tcp",
            Source::SyslogUdp => "syslog_udp",
        }
    }
}

/// Kind-specific payload.
// Boxing the large variants would change the generated API for every caller; events are
// short-lived and built one at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Body {
    /// For [`EventKind::Span`].
    #[prost(message, tag = "20")]
    Span(SpanBody),
    /// For [`EventKind::MetricPoint`].
    #[prost(message, tag = "21")]
    Metric(MetricBody),
    /// For [`EventKind::Log`].
    #[prost(message, tag = "22")]
    Log(LogBody),
    /// For [`EventKind::Marker`].
    #[prost(message, tag = "23")]
    Marker(MarkerBody),
    /// For [`EventKind::Alert`].
    #[prost(message, tag = "24")]
    Alert(AlertBody),
    /// For [`EventKind::Siem`].
    #[prost(message, tag = "25")]
    Siem(SiemBody),
    /// For [`EventKind::MetricMetadata`].
    #[prost(message, tag = "26")]
    MetricMetadata(MetricMetadataBody),
}

/// What a remote_write sender says about one metric family. Its event time is the receive
/// time, its region the listener's default and its service empty (metadata carries no labels).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadataBody {
    /// Metric family name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset` or
    /// `unknown`.
    #[prost(string, tag = "2")]
    pub metric_type: String,
    /// Unit.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
}

/// A security event from a syslog / SIEM feed. Parsed syslog header fields and CEF header
/// fields are here; structured-data parameters (`SDID.name`) and CEF extensions (their own
/// keys) are the event's `attributes`. A message that did not parse is kept with
/// `format = "raw"`, the text in `message` and the reason in `parse_error`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SiemBody {
    /// `rfc5424`, `rfc3164`, `cef` (standalone CEF) or `raw`.
    #[prost(string, tag = "1")]
    pub format: String,
    /// Syslog facility, or -1.
    #[prost(int32, tag = "2")]
    pub facility: i32,
    /// Syslog severity, or -1.
    #[prost(int32, tag = "3")]
    pub severity: i32,
    /// HOSTNAME.
    #[prost(string, tag = "4")]
    pub hostname: String,
    /// APP-NAME or TAG.
    #[prost(string, tag = "5")]
    pub app_name: String,
    /// PROCID / PID.
    #[prost(string, tag = "6")]
    pub proc_id: String,
    /// MSGID.
    #[prost(string, tag = "7")]
    pub msg_id: String,
    /// The free-form message (the whole line when raw).
    #[prost(string, tag = "8")]
    pub message: String,
    /// Structured data as JSON (`{"id": {"param": "value"}}`), empty when none.
    #[prost(string, tag = "9")]
    pub structured_data_json: String,
    /// Whether a CEF event was found and parsed.
    #[prost(bool, tag = "10")]
    pub is_cef: bool,
    /// CEF device vendor.
    #[prost(string, tag = "11")]
    pub cef_vendor: String,
    /// CEF device product.
    #[prost(string, tag = "12")]
    pub cef_product: String,
    /// CEF device version.
    #[prost(string, tag = "13")]
    pub cef_device_version: String,
    /// CEF signature id.
    #[prost(string, tag = "14")]
    pub cef_signature_id: String,
    /// CEF name.
    #[prost(string, tag = "15")]
    pub cef_name: String,
    /// CEF severity.
    #[prost(string, tag = "16")]
    pub cef_severity: String,
    /// Why parsing failed (empty when it did not).
    #[prost(string, tag = "17")]
    pub parse_error: String,
    /// Sender address.
    #[prost(string, tag = "18")]
    pub peer: String,
}

/// One alert of an Alertmanager notification. The alert's labels are the event's
/// `attributes`; its event time is the receive time (so delivery lag = event time − `starts_at`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlertBody {
    /// `firing` or `resolved`.
    #[prost(string, tag = "1")]
    pub status: String,
    /// The `alertname` label.
    #[prost(string, tag = "2")]
    pub alertname: String,
    /// `startsAt`, ns since the epoch (0 when absent).
    #[prost(int64, tag = "3")]
    pub starts_at_unix_nano: i64,
    /// `endsAt`, ns since the epoch (0 when absent or the zero time).
    #[prost(int64, tag = "4")]
    pub ends_at_unix_nano: i64,
    /// Alertmanager's fingerprint.
    #[prost(string, tag = "5")]
    pub fingerprint: String,
    /// Link to the rule's source.
    #[prost(string, tag = "6")]
    pub generator_url: String,
    /// The Alertmanager receiver that sent it.
    #[prost(string, tag = "7")]
    pub receiver: String,
    /// Annotations as a JSON object.
    #[prost(string, tag = "8")]
    pub annotations_json: String,
    /// The notification's `groupKey`.
    #[prost(string, tag = "9")]
    pub group_key: String,
    /// The notification's `groupLabels` as a JSON object (empty when absent).
    #[prost(string, tag = "10")]
    pub group_labels_json: String,
    /// The notification's `truncatedAlerts`: alerts of the group Alertmanager left out of it
    /// (`max_alerts`). Every alert event of the notification carries it.
    #[prost(uint64, tag = "11")]
    pub truncated_alerts: u64,
}

/// A span; its start time is the event time.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanBody {
    /// Parent span id, or empty for a root.
    #[prost(bytes = "vec", tag = "1")]
    pub parent_span_id: Vec<u8>,
    /// Span name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// OTLP span kind number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    #[prost(int32, tag = "3")]
    pub kind: i32,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    #[prost(int32, tag = "4")]
    pub status_code: i32,
    /// Status message.
    #[prost(string, tag = "5")]
    pub status_message: String,
    /// End time, nanoseconds since the Unix epoch.
    #[prost(int64, tag = "6")]
    pub end_time_unix_nano: i64,
    /// Instrumentation scope name.
    #[prost(string, tag = "7")]
    pub scope: String,
    /// W3C `tracestate` (carries the OpenTelemetry sampling threshold `ot=th:`), as sent.
    #[prost(string, tag = "8")]
    pub trace_state: String,
}

/// One metric data point.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricBody {
    /// Metric name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Unit.
    #[prost(string, tag = "2")]
    pub unit: String,
    /// `gauge`, `sum`, `histogram`, `exponential_histogram` or `summary`.
    #[prost(string, tag = "3")]
    pub metric_type: String,
    /// The value: gauge/sum value, or the sum of a histogram/summary.
    #[prost(double, tag = "4")]
    pub value: f64,
    /// Count for histograms and summaries, 0 otherwise.
    #[prost(uint64, tag = "5")]
    pub count: u64,
    /// Whether a sum is monotonic.
    #[prost(bool, tag = "6")]
    pub is_monotonic: bool,
    /// Start of the aggregation interval, nanoseconds since the Unix epoch (0 when unknown).
    #[prost(int64, tag = "7")]
    pub start_time_unix_nano: i64,
    /// A Prometheus staleness marker (the series ended); `value` keeps the marker's NaN bits.
    #[prost(bool, tag = "8")]
    pub is_stale: bool,
    /// OTLP aggregation temporality of sums and histograms: 1 delta, 2 cumulative, 0 not
    /// given (gauges, summaries, remote_write samples).
    #[prost(int32, tag = "9")]
    pub temporality: i32,
    /// Explicit bucket upper bounds of a histogram (the last bucket has no bound).
    #[prost(double, repeated, tag = "10")]
    pub bucket_bounds: Vec<f64>,
    /// Per-bucket counts of a histogram (not cumulative; one more than `bucket_bounds`).
    #[prost(uint64, repeated, tag = "11")]
    pub bucket_counts: Vec<u64>,
    /// Smallest value recorded (histograms), when sent.
    #[prost(double, optional, tag = "12")]
    pub min: Option<f64>,
    /// Largest value recorded (histograms), when sent.
    #[prost(double, optional, tag = "13")]
    pub max: Option<f64>,
    /// The buckets of an exponential histogram.
    #[prost(message, optional, tag = "14")]
    pub exponential: Option<ExponentialBuckets>,
    /// Exemplars: sampled measurements with the trace and span they were made in.
    #[prost(message, repeated, tag = "15")]
    pub exemplars: Vec<Exemplar>,
}

/// The buckets of an OTLP exponential histogram point (base = 2^(2^-scale)).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExponentialBuckets {
    /// Resolution.
    #[prost(sint32, tag = "1")]
    pub scale: i32,
    /// Values in the zero bucket.
    #[prost(uint64, tag = "2")]
    pub zero_count: u64,
    /// Width of the zero bucket.
    #[prost(double, tag = "3")]
    pub zero_threshold: f64,
    /// Index of the first positive bucket.
    #[prost(sint32, tag = "4")]
    pub positive_offset: i32,
    /// Positive bucket counts.
    #[prost(uint64, repeated, tag = "5")]
    pub positive_counts: Vec<u64>,
    /// Index of the first negative bucket.
    #[prost(sint32, tag = "6")]
    pub negative_offset: i32,
    /// Negative bucket counts.
    #[prost(uint64, repeated, tag = "7")]
    pub negative_counts: Vec<u64>,
}

/// One exemplar of a metric point.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// When it was measured, ns since the epoch.
    #[prost(int64, tag = "1")]
    pub time_unix_nano: i64,
    /// The measurement.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Trace id (16 bytes) or empty.
    #[prost(bytes = "vec", tag = "3")]
    pub trace_id: Vec<u8>,
    /// Span id (8 bytes) or empty.
    #[prost(bytes = "vec", tag = "4")]
    pub span_id: Vec<u8>,
    /// Attributes the aggregation filtered out.
    #[prost(message, repeated, tag = "5")]
    pub attributes: Vec<Attribute>,
}

/// A log record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogBody {
    /// OTLP severity number.
    #[prost(int32, tag = "1")]
    pub severity_number: i32,
    /// Severity text.
    #[prost(string, tag = "2")]
    pub severity_text: String,
    /// The body rendered as a string.
    #[prost(string, tag = "3")]
    pub body: String,
}

/// A drill marker; its attributes ride in the event's `attributes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MarkerBody {
    /// One of [`MARKER_KINDS`].
    #[prost(string, tag = "1")]
    pub marker: String,
}

/// The drill marker kinds of the telemetry conventions, in drill order.
pub const MARKER_KINDS: [&str; 10] = [
    "drill_started",
    "fault_injected",
    "failover_declared",
    "dns_cutover",
    "db_promoted",
    "traffic_shifted",
    "failover_completed",
    "failback_started",
    "failback_completed",
    "drill_ended",
];

/// Attribute key naming a drill marker on a log record.
pub const MARKER_ATTRIBUTE: &str = "cutover.marker";

/// One key with a typed value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Attribute {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(oneof = "Value", tags = "2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

/// An attribute value. Arrays and maps are kept as their JSON text.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// A string.
    #[prost(string, tag = "2")]
    Str(String),
    /// A signed integer.
    #[prost(int64, tag = "3")]
    Int(i64),
    /// A float.
    #[prost(double, tag = "4")]
    Double(f64),
    /// A boolean.
    #[prost(bool, tag = "5")]
    Bool(bool),
    /// Raw bytes.
    #[prost(bytes = "vec", tag = "6")]
    Bytes(Vec<u8>),
    /// An array or map, as JSON text.
    #[prost(string, tag = "7")]
    Json(String),
}

impl fmt::Display for Value {
    /// The string form used in tables: strings as is, bytes as lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) | Value::Json(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Bytes(b) => f.write_str(&hex::encode(b)),
        }
    }
}

impl Attribute {
    /// A string attribute.
    pub fn str(key: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            key: key.into(),
            value: Some(Value::Str(value.into())),
        }
    }
    /// An integer attribute.
    pub fn int(key: impl Into<String>, value: i64) -> Self {
        Attribute {
            key: key.into(),
            value: Some(Value::Int(value)),
        }
    }
}

impl Event {
    /// The event's kind, `Unspecified` for numbers this build does not know.
    pub fn event_kind(&self) -> EventKind {
        EventKind::try_from(self.kind).unwrap_or(EventKind::Unspecified)
    }

    /// The first attribute with `key`.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref())
    }

    /// Encodes the event for the log.
    pub fn to_bytes(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }

    /// Decodes an event read from the log.
    pub fn from_bytes(bytes: &[u8]) -> Result<Event, prost::DecodeError> {
        <Event as prost::Message>::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trips_through_bytes() {
        let e = Event {
            schema_version: SCHEMA_VERSION,
            kind: EventKind::Span as i32,
            region: "us-east-1".into(),
            service: "frontend".into(),
            event_time_unix_nano: 1_700_000_000_000_000_000,
            ingest_time_unix_nano: 1_700_000_000_100_000_000,
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![Attribute::int("cutover.write.seq", 7), Attribute::str("k", "v")],
            resource_attributes: vec![Attribute::str("cloud.region", "us-east-1")],
            source: Source::OtlpGrpc as i32,
            body: Some(Body::Span(SpanBody {
                name: "GET /".into(),
                kind: 2,
                ..Default::default()
            })),
        };
        let back = Event::from_bytes(&e.to_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.event_kind(), EventKind::Span);
        assert_eq!(back.attribute("cutover.write.seq"), Some(&Value::Int(7)));
        assert_eq!(Value::Bytes(vec![0xab, 0x01]).to_string(), "ab01");
    }
}
