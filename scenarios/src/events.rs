//! Builders of log events as the ingest daemon would have written them from OTLP, Alertmanager
//! and syslog input: region and service from the resource, event time from the source, ingest
//! time a few milliseconds later.

use cutover_schemas::{
    AlertBody, Attribute, Body, Event, EventKind, MarkerBody, MetricBody, SCHEMA_VERSION, SiemBody, Source, SpanBody,
};

use crate::sim::{MS, Ns};

/// The primary region of every scenario.
pub const PRIMARY: &str = "us-east-1";
/// The secondary region of every scenario.
pub const SECONDARY: &str = "us-west-2";

/// OTLP span kinds (numbers of the OTLP enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A server span.
    Server = 2,
    /// A client span.
    Client = 3,
    /// A producer span.
    Producer = 4,
    /// A consumer span.
    Consumer = 5,
}

/// The region name of a side.
pub fn region(primary: bool) -> &'static str {
    if primary { PRIMARY } else { SECONDARY }
}

/// An event with the common fields filled; ingest time is 5 ms after `time`.
pub fn event(kind: EventKind, region: &str, service: &str, time: Ns, attrs: Vec<Attribute>, body: Body) -> Event {
    let source = match kind {
        EventKind::Alert => Source::AlertmanagerWebhook,
        EventKind::Siem => Source::SyslogTcp,
        _ => Source::OtlpGrpc,
    };
    Event {
        schema_version: SCHEMA_VERSION,
        kind: kind as i32,
        region: region.into(),
        service: service.into(),
        event_time_unix_nano: time,
        ingest_time_unix_nano: time + 5 * MS,
        trace_id: vec![],
        span_id: vec![],
        attributes: attrs,
        resource_attributes: vec![
            Attribute::str("service.name", service),
            Attribute::str("cloud.region", region),
        ],
        source: source as i32,
        body: Some(body),
    }
}

/// Ids for spans: unique within a scenario, derived from a counter.
#[derive(Debug, Default)]
pub struct Ids {
    next: u64,
}

impl Ids {
    /// A fresh 16-byte trace id.
    pub fn trace(&mut self) -> Vec<u8> {
        self.next += 1;
        let mut id = vec![0xa5; 8];
        id.extend(self.next.to_be_bytes());
        id
    }

    /// A fresh 8-byte span id.
    pub fn span(&mut self) -> Vec<u8> {
        self.next += 1;
        self.next.to_be_bytes().to_vec()
    }
}

/// What a span is, beyond its times.
#[derive(Debug, Clone)]
pub struct SpanSpec {
    /// Region.
    pub region: &'static str,
    /// `service.name`.
    pub service: &'static str,
    /// Span name.
    pub name: &'static str,
    /// Kind.
    pub kind: SpanKind,
    /// Start, ns.
    pub start: Ns,
    /// End, ns.
    pub end: Ns,
    /// Status ERROR.
    pub error: bool,
    /// Attributes.
    pub attrs: Vec<Attribute>,
}

/// A span event with the given ids (`parent` empty for a root).
pub fn span(s: SpanSpec, trace_id: Vec<u8>, span_id: Vec<u8>, parent: Vec<u8>) -> Event {
    let body = SpanBody {
        parent_span_id: parent,
        name: s.name.into(),
        kind: s.kind as i32,
        status_code: if s.error { 2 } else { 0 },
        status_message: if s.error {
            "upstream unavailable".into()
        } else {
            String::new()
        },
        end_time_unix_nano: s.end,
        scope: "cutover-scenarios".into(),
        ..Default::default()
    };
    let mut e = event(EventKind::Span, s.region, s.service, s.start, s.attrs, Body::Span(body));
    e.trace_id = trace_id;
    e.span_id = span_id;
    e
}

/// A drill marker (an OTLP log record with `cutover.marker`) from the runbook service.
pub fn marker(kind: &str, region: &str, time: Ns, attrs: Vec<Attribute>) -> Event {
    let mut a = vec![Attribute::str("cutover.marker", kind)];
    a.extend(attrs);
    event(
        EventKind::Marker,
        region,
        "drill-runbook",
        time,
        a,
        Body::Marker(MarkerBody { marker: kind.into() }),
    )
}

/// One gauge point.
pub fn gauge(region: &str, service: &str, name: &str, unit: &str, time: Ns, value: f64) -> Event {
    let body = MetricBody {
        name: name.into(),
        unit: unit.into(),
        metric_type: "gauge".into(),
        value,
        ..Default::default()
    };
    event(
        EventKind::MetricPoint,
        region,
        service,
        time,
        vec![],
        Body::Metric(body),
    )
}

/// One Prometheus counter sample as remote_write stores it (labels as attributes, the service
/// is the `job`, no resource attributes).
pub fn counter(region: &str, job: &str, name: &str, labels: &[(&str, &str)], time: Ns, value: f64) -> Event {
    let body = MetricBody {
        name: name.into(),
        metric_type: "sample".into(),
        value,
        ..Default::default()
    };
    let mut attrs: Vec<Attribute> = labels.iter().map(|(k, v)| Attribute::str(*k, *v)).collect();
    attrs.push(Attribute::str("job", job));
    let mut e = event(EventKind::MetricPoint, region, job, time, attrs, Body::Metric(body));
    e.source = Source::PromRemoteWrite as i32;
    e.resource_attributes.clear();
    e
}

/// One RFC 5424 syslog security event from `hostname`/`app_name`.
pub fn siem(region: &str, hostname: &str, app_name: &str, time: Ns, message: &str) -> Event {
    let body = SiemBody {
        format: "rfc5424".into(),
        facility: 10,
        severity: 5,
        hostname: hostname.into(),
        app_name: app_name.into(),
        proc_id: "-".into(),
        msg_id: "AUTH".into(),
        message: message.into(),
        peer: "10.0.0.9:514".into(),
        ..Default::default()
    };
    event(EventKind::Siem, region, app_name, time, vec![], Body::Siem(body))
}

/// One alert of an Alertmanager notification received at `received`.
pub fn alert(region: &str, service: &str, name: &str, status: &str, starts_at: Ns, ends_at: Ns, received: Ns) -> Event {
    let body = AlertBody {
        status: status.into(),
        alertname: name.into(),
        starts_at_unix_nano: starts_at,
        ends_at_unix_nano: ends_at,
        fingerprint: format!(
            "{:016x}",
            name.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        ),
        generator_url: format!("http://prometheus.{region}/graph"),
        receiver: "drill-webhook".into(),
        annotations_json: "{}".into(),
        ..Default::default()
    };
    let attrs = vec![
        Attribute::str("alertname", name),
        Attribute::str("service", service),
        Attribute::str("severity", "page"),
    ];
    event(EventKind::Alert, region, service, received, attrs, Body::Alert(body))
}
