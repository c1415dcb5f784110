//! The daemon's own telemetry, exposed at `GET /metrics` on the OTLP/HTTP listener.
//!
//! Names follow `cutover_<what>_<unit>[_total]`; labels are low-cardinality.

use cutover_eventlog::Health;
use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Every metric the daemon exports.
#[derive(Debug, Clone, Copy)]
pub enum MetricName {
    /// Requests by receiver and outcome.
    RequestsTotal,
    /// Events appended by receiver and kind.
    EventsTotal,
    /// Items refused inside partially successful requests, by receiver.
    RejectedItemsTotal,
    /// Frames (syslog) that did not parse and were kept raw, by receiver.
    ParseErrorsTotal,
    /// Records the log writer has made durable.
    LogRecordsTotal,
    /// fsync calls of the log writer.
    LogFsyncsTotal,
    /// 1 while the log accepts appends, 0 once poisoned.
    LogHealthy,
    /// Connections closed at once because the listener was at `max_connections`.
    ConnectionsRefusedTotal,
    /// TLS handshakes that failed or timed out, by listener.
    TlsHandshakeFailuresTotal,
    /// Bytes held by requests in flight (admission budget in use).
    InflightBytes,
    /// The admission budget.
    InflightLimitBytes,
    /// Datagrams the kernel dropped before the UDP receiver read them.
    UdpDroppedDatagramsTotal,
    /// With the Kafka log: records sent and not yet acknowledged by the broker (the daemon's
    /// lag behind the cluster).
    KafkaInFlightRecords,
}

impl MetricName {
    /// The exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::RequestsTotal => "cutover_ingest_requests_total",
            MetricName::EventsTotal => "cutover_ingest_events_total",
            MetricName::RejectedItemsTotal => "cutover_ingest_rejected_items_total",
            MetricName::ParseErrorsTotal => "cutover_ingest_parse_errors_total",
            MetricName::LogRecordsTotal => "cutover_log_records_total",
            MetricName::LogFsyncsTotal => "cutover_log_fsyncs_total",
            MetricName::LogHealthy => "cutover_log_healthy",
            MetricName::ConnectionsRefusedTotal => "cutover_ingest_connections_refused_total",
            MetricName::TlsHandshakeFailuresTotal => "cutover_ingest_tls_handshake_failures_total",
            MetricName::InflightBytes => "cutover_ingest_inflight_bytes",
            MetricName::InflightLimitBytes => "cutover_ingest_inflight_limit_bytes",
            MetricName::UdpDroppedDatagramsTotal => "cutover_ingest_udp_dropped_datagrams_total",
            MetricName::KafkaInFlightRecords => "cutover_kafka_in_flight_records",
        }
    }
}

/// The registry and its handles.
pub struct Metrics {
    registry: Registry,
    /// Requests by `receiver`, `outcome`.
    pub requests: IntCounterVec,
    /// Events by `receiver`, `kind`.
    pub events: IntCounterVec,
    /// Refused items by `receiver`.
    pub rejected: IntCounterVec,
    /// Unparsable frames kept raw, by `receiver`.
    pub parse_errors: IntCounterVec,
    /// Connections refused at the cap, by `receiver` (listener).
    pub connections_refused: IntCounterVec,
    /// Failed TLS handshakes, by `receiver` (listener).
    pub tls_failures: IntCounterVec,
    /// Datagrams dropped by the kernel, by `receiver`.
    pub udp_dropped: IntCounterVec,
    /// Admission budget in use.
    pub inflight_bytes: IntGauge,
    /// Admission budget.
    pub inflight_limit_bytes: IntGauge,
    log_records: IntGauge,
    log_fsyncs: IntGauge,
    log_healthy: IntGauge,
    kafka_in_flight: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let vec = |name: MetricName, help: &str, labels: &[&str]| {
            let v = IntCounterVec::new(Opts::new(name.as_str(), help), labels).expect("valid metric");
            registry.register(Box::new(v.clone())).expect("unique metric");
            v
        };
        let gauge = |name: MetricName, help: &str| {
            let g = IntGauge::new(name.as_str(), help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        Metrics {
            requests: vec(
                MetricName::RequestsTotal,
                "Ingest requests by receiver and outcome",
                &["receiver", "outcome"],
            ),
            events: vec(
                MetricName::EventsTotal,
                "Events appended by receiver and kind",
                &["receiver", "kind"],
            ),
            rejected: vec(
                MetricName::RejectedItemsTotal,
                "Items refused in partially successful requests",
                &["receiver"],
            ),
            parse_errors: vec(
                MetricName::ParseErrorsTotal,
                "Frames that did not parse, kept as raw events",
                &["receiver"],
            ),
            connections_refused: vec(
                MetricName::ConnectionsRefusedTotal,
                "Connections closed at once because the listener was at max_connections",
                &["receiver"],
            ),
            tls_failures: vec(
                MetricName::TlsHandshakeFailuresTotal,
                "TLS handshakes that failed or timed out",
                &["receiver"],
            ),
            udp_dropped: vec(
                MetricName::UdpDroppedDatagramsTotal,
                "Datagrams the kernel dropped before the receiver read them (receive buffer full)",
                &["receiver"],
            ),
            inflight_bytes: gauge(
                MetricName::InflightBytes,
                "Bytes held by requests in flight (bodies, decoded requests, events)",
            ),
            inflight_limit_bytes: gauge(MetricName::InflightLimitBytes, "Admission budget of requests in flight"),
            log_records: gauge(
                MetricName::LogRecordsTotal,
                "Records appended to the event log since start",
            ),
            log_fsyncs: gauge(
                MetricName::LogFsyncsTotal,
                "fsync calls of the event log writer since start",
            ),
            log_healthy: gauge(MetricName::LogHealthy, "1 while the event log accepts appends"),
            kafka_in_flight: gauge(
                MetricName::KafkaInFlightRecords,
                "With the Kafka log: records sent and not yet acknowledged by the broker",
            ),
            registry,
        }
    }

    /// Renders the text exposition format, refreshing the log's figures first.
    pub fn render(&self, backend: &crate::sink::Backend) -> String {
        match backend {
            crate::sink::Backend::Local(log) => {
                let stats = log.stats();
                self.log_records.set(stats.records as i64);
                self.log_fsyncs.set(stats.fsyncs as i64);
                self.log_healthy.set(i64::from(log.health() == Health::Ok));
            }
            crate::sink::Backend::Kafka(producer) => {
                self.kafka_in_flight.set(i64::from(producer.in_flight()));
            }
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is utf-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
