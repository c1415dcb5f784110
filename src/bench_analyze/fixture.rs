//! The fixture of `cutover bench --kind analyze`: a realistic drill log written straight to the
//! event log with [`LogWriter`], without the receivers.
//!
//! One hour of a two-region drill (`us-east-1` primary, `us-west-2` secondary), scaled so the
//! log holds about the requested number of events. Mix at any size (shares of all events):
//!
//! | kind | share | what |
//! |---|---|---|
//! | spans | ~50 % | traces of 4 spans: `frontend` server span (the SLI), its client span, a backend server span (one of 24 services), the backend's `orders-db` client span; 30 % of requests are writes (`cutover.write.store`/`seq`); 0.2 % of traces are sent twice (OTLP retries) |
//! | metric points | ~30 % | 25 services × N instances × 10 metric names per region, 10 s or 15 s cadence per name, OTLP and remote_write; primary app series stop 30 s after the fault |
//! | logs | ~18 % | application logs (INFO/WARN/ERROR, more errors during the outage), half tied to a trace |
//! | siem | ~2 % | syslog (RFC 5424, 20 % CEF) from hosts in both regions |
//! | alerts | 12 | `FrontendHighErrorRate` and `InstanceDown` firing after the fault, re-sent every 5 min, resolved |
//! | markers | 8 | drill_started, fault_injected, failover_declared, db_promoted, dns_cutover, traffic_shifted, failover_completed, drill_ended |
//!
//! Drill (seconds from the start of the log): drill_started 300, fault 1200 (the primary
//! fails every request with 503), failover_declared 1260, db_promoted 1290 (writes of the last
//! ~0.8 s before the fault are lost), dns_cutover 1320 (the secondary's share of traffic grows
//! as 1 − e^(−t/30 s), its first minute with a decaying error rate and 1.5× latency),
//! traffic_shifted 1330, failover_completed 1500, drill_ended 3300.
//!
//! Events are written in time order, in batches, like the ingest daemon would.

use std::path::Path;
use std::time::Duration;

use cutover_eventlog::{FsyncPolicy, LogConfig, LogWriter};
use cutover_schemas::{
    AlertBody, Attribute, Body, Event, EventKind, LogBody, MarkerBody, MetricBody, SCHEMA_VERSION, SiemBody, Source,
    SpanBody, Value,
};

/// Primary region.
pub const PRIMARY: &str = "us-east-1";
/// Secondary region.
pub const SECONDARY: &str = "us-west-2";
const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// Start of the log: 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600 * SEC;
const SECONDS: i64 = 3600;
const FAULT: i64 = 1200;
const DECLARED: i64 = 1260;
const PROMOTED: i64 = 1290;
const CUTOVER: i64 = 1320;
const SHIFTED: i64 = 1330;
const COMPLETED: i64 = 1500;
const STORE: &str = "orders-db";

/// The drill spec matching the generated log.
pub const DRILL_YAML: &str = "name: bench-10m
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 300, rpo_seconds: 5 }
sli: { services: [frontend], span_kinds: [server] }
recovery: { success_ratio: 0.99, stable_seconds: 60 }
replication: { lag_metric: pg_replication_lag_seconds, lag_unit: seconds }
";

const BACKENDS: [&str; 24] = [
    "cart",
    "catalog",
    "checkout",
    "payments",
    "search",
    "recommendations",
    "shipping",
    "inventory",
    "pricing",
    "reviews",
    "accounts",
    "auth",
    "sessions",
    "notifications",
    "email",
    "images",
    "ads",
    "currency",
    "quotes",
    "loyalty",
    "fraud",
    "tax",
    "orders",
    "returns",
];
const ROUTES: [&str; 6] = ["/", "/cart", "/product/{id}", "/checkout", "/search", "/account"];
/// (name, unit, type, cadence seconds).
const METRICS: [(&str, &str, &str, i64); 10] = [
    ("http_server_requests_total", "1", "sum", 15),
    ("http_server_duration_ms", "ms", "histogram", 15),
    ("process_cpu_utilization", "1", "gauge", 10),
    ("process_memory_bytes", "By", "gauge", 10),
    ("process_open_fds", "1", "gauge", 15),
    ("runtime_gc_pause_ms", "ms", "histogram", 15),
    ("db_client_connections", "1", "gauge", 10),
    ("queue_depth", "1", "gauge", 10),
    ("pg_replication_lag_seconds", "s", "gauge", 10),
    ("container_restarts_total", "1", "sum", 15),
];

/// What the generator wrote, for checking the replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Written {
    /// All records.
    pub events: u64,
    /// Distinct spans (what the `spans` table must hold).
    pub spans: u64,
    /// Extra copies of spans (retries).
    pub duplicate_spans: u64,
    /// Metric points.
    pub metric_points: u64,
    /// Log records.
    pub logs: u64,
    /// Markers.
    pub markers: u64,
    /// Alert notifications.
    pub alerts: u64,
    /// SIEM events.
    pub siem: u64,
    /// SLI requests (frontend server spans).
    pub requests: u64,
}

/// A small, fast, seeded generator (splitmix64); the same seed gives the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// Roughly standard normal (sum of four uniforms).
    fn normal(&mut self) -> f64 {
        (self.f() + self.f() + self.f() + self.f() - 2.0) * 1.732
    }
}

/// Per-second rates at the requested size.
struct Rates {
    requests: f64,
    logs: f64,
    siem: f64,
    instances: usize,
    /// Metric series in all (series with a higher index are not generated).
    series: usize,
}

impl Rates {
    fn for_events(events: u64) -> Rates {
        let per_sec = events as f64 / SECONDS as f64;
        // Metric points: 2 regions × 25 services × instances × 10 names at ~12.5 s cadence.
        // Primary series stop 30 s after the fault, so only ~67 % of the series-hours exist.
        let alive = 0.5 + 0.5 * (FAULT + 30) as f64 / SECONDS as f64;
        let series = (0.30 * per_sec * 12.5 / alive).round().max(1.0) as usize;
        let instances = series.div_ceil(500);
        Rates {
            series,
            requests: 0.50 * per_sec / 4.0,
            logs: 0.18 * per_sec,
            siem: 0.02 * per_sec,
            instances,
        }
    }
}

struct Gen {
    rng: Rng,
    out: Vec<Vec<u8>>,
    written: Written,
    write_seq: i64,
    /// Primary writes with their times, to find the last applied one at the fault.
    last_applied_seq: i64,
    /// A recent (trace_id, span_id, service, region) for logs tied to traces.
    recent: Option<([u8; 16], [u8; 8])>,
}

fn attr(key: &str, v: Value) -> Attribute {
    Attribute {
        key: key.into(),
        value: Some(v),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn event(kind: EventKind, region: &str, service: &str, time: i64, source: Source, body: Body) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        kind: kind as i32,
        region: region.into(),
        service: service.into(),
        event_time_unix_nano: time,
        ingest_time_unix_nano: time + 200 * MS,
        trace_id: vec![],
        span_id: vec![],
        attributes: vec![],
        resource_attributes: vec![
            Attribute::str("cloud.region", region),
            Attribute::str("service.name", service),
        ],
        source: source as i32,
        body: Some(body),
    }
}

/// One SLI request as the generator decided it.
struct Req {
    primary: bool,
    start: i64,
    duration: i64,
    status: i64,
}

impl Gen {
    fn push(&mut self, e: &Event) {
        self.out.push(e.to_bytes());
        self.written.events += 1;
    }

    /// Region, status and latency of a request starting at second `t`.
    fn request(&mut self, t: i64, start: i64) -> Req {
        let share_secondary = if t < CUTOVER {
            0.0
        } else {
            1.0 - (-((t - CUTOVER) as f64) / 30.0).exp()
        };
        let primary = !self.rng.chance(share_secondary);
        let base = 40.0 * (0.45 * self.rng.normal()).exp();
        let (ms, error_p) = if primary && t >= FAULT {
            (2000.0 + 3000.0 * self.rng.f(), 1.0)
        } else if !primary && t < CUTOVER + 120 {
            let warm = (-((t - CUTOVER) as f64) / 20.0).exp();
            (base * 1.5, 0.05 * warm + 0.001)
        } else {
            (base, 0.001)
        };
        let status = if self.rng.chance(error_p) { 503 } else { 200 };
        Req {
            primary,
            start,
            duration: (ms * MS as f64) as i64,
            status,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        r: &Req,
        ids: ([u8; 16], [u8; 8], Vec<u8>),
        service: &str,
        name: &str,
        kind: i32,
        offset: i64,
        attributes: Vec<Attribute>,
    ) -> Event {
        let region = if r.primary { PRIMARY } else { SECONDARY };
        let start = r.start + offset;
        let end = (r.start + r.duration - offset).max(start + MS / 10);
        let mut e = event(
            EventKind::Span,
            region,
            service,
            start,
            Source::OtlpGrpc,
            Body::Span(SpanBody {
                parent_span_id: ids.2,
                name: name.into(),
                kind,
                status_code: if r.status >= 500 { 2 } else { 0 },
                status_message: if r.status >= 500 {
                    "upstream unavailable".into()
                } else {
                    String::new()
                },
                end_time_unix_nano: end,
                scope: "io.opentelemetry.http".into(),
                ..Default::default()
            }),
        );
        e.ingest_time_unix_nano = end + 300 * MS;
        e.trace_id = ids.0.to_vec();
        e.span_id = ids.1.to_vec();
        e.attributes = attributes;
        e
    }

    /// The four spans of one request, sent twice now and then.
    fn trace(&mut self, t: i64, start: i64) {
        let r = self.request(t, start);
        let trace_id: [u8; 16] = [self.rng.next().to_le_bytes(), self.rng.next().to_le_bytes()]
            .concat()
            .try_into()
            .expect("16 bytes");
        let ids: Vec<[u8; 8]> = (0..4).map(|_| self.rng.next().to_le_bytes()).collect();
        let route = ROUTES[self.rng.below(ROUTES.len() as u64) as usize];
        let backend = BACKENDS[self.rng.below(BACKENDS.len() as u64) as usize];
        let method = if self.rng.chance(0.3) { "POST" } else { "GET" };
        let server_attrs = vec![
            attr("http.request.method", s(method)),
            attr("http.route", s(route)),
            attr("http.response.status_code", Value::Int(r.status)),
            attr("url.scheme", s("https")),
        ];
        let mut spans = vec![
            self.span(&r, (trace_id, ids[0], vec![]), "frontend", route, 2, 0, server_attrs),
            self.span(
                &r,
                (trace_id, ids[1], ids[0].to_vec()),
                "frontend",
                backend,
                3,
                MS,
                vec![attr("server.address", s(backend)), attr("rpc.system", s("grpc"))],
            ),
            self.span(
                &r,
                (trace_id, ids[2], ids[1].to_vec()),
                backend,
                backend,
                2,
                2 * MS,
                vec![attr("rpc.system", s("grpc"))],
            ),
        ];
        let mut db_attrs = vec![attr("db.system", s("postgresql")), attr("db.operation", s("SELECT"))];
        let primary_writes = r.primary && t < FAULT;
        let secondary_writes = !r.primary && t >= PROMOTED;
        if method == "POST" && r.status < 500 && (primary_writes || secondary_writes) {
            self.write_seq += 1;
            db_attrs[1] = attr("db.operation", s("INSERT"));
            db_attrs.push(attr("cutover.write.store", s(STORE)));
            db_attrs.push(attr("cutover.write.seq", Value::Int(self.write_seq)));
            // The replica applies writes older than ~0.8 s; at the fault it stops.
            if primary_writes && r.start < T0 + FAULT * SEC - 800 * MS {
                self.last_applied_seq = self.write_seq;
            }
        }
        spans.push(self.span(
            &r,
            (trace_id, ids[3], ids[2].to_vec()),
            backend,
            "orders-db",
            3,
            3 * MS,
            db_attrs,
        ));
        for e in &spans {
            self.push(e);
        }
        self.written.spans += 4;
        self.written.requests += 1;
        if self.rng.chance(0.002) {
            for e in &spans {
                self.push(e);
            }
            self.written.duplicate_spans += 4;
        }
        self.recent = Some((trace_id, ids[2]));
    }

    fn metric(&mut self, region: &str, svc: usize, inst: usize, m: usize, time: i64) {
        let (name, unit, metric_type, _) = METRICS[m];
        let service = if svc == 0 { "frontend" } else { BACKENDS[svc - 1] };
        let remote_write = (svc + inst).is_multiple_of(2);
        let value = match metric_type {
            "sum" => ((time - T0) / SEC) as f64 * (1.0 + svc as f64),
            _ => 100.0 * self.rng.f(),
        };
        let mut e = event(
            EventKind::MetricPoint,
            region,
            service,
            time,
            if remote_write {
                Source::PromRemoteWrite
            } else {
                Source::OtlpGrpc
            },
            Body::Metric(MetricBody {
                name: name.into(),
                unit: unit.into(),
                metric_type: metric_type.into(),
                value,
                count: if metric_type == "histogram" {
                    50 + self.rng.below(500)
                } else {
                    0
                },
                is_monotonic: metric_type == "sum",
                start_time_unix_nano: 0,
                is_stale: false,
                ..Default::default()
            }),
        );
        e.attributes = vec![
            attr("service.instance.id", Value::Str(format!("{service}-{region}-{inst}"))),
            attr("k8s.namespace.name", s("shop")),
        ];
        self.push(&e);
        self.written.metric_points += 1;
    }

    /// Metric points due in second `t`, every series at its own phase.
    fn metrics(&mut self, t: i64, instances: usize, series: usize) {
        for (ri, region) in [PRIMARY, SECONDARY].into_iter().enumerate() {
            for svc in 0..25 {
                for inst in 0..instances {
                    // Primary application instances die with the region.
                    if ri == 0 && t >= FAULT + 30 {
                        continue;
                    }
                    for (m, metric) in METRICS.iter().enumerate() {
                        if ((inst * 25 + svc) * METRICS.len() + m) * 2 + ri >= series {
                            continue;
                        }
                        let cadence = metric.3;
                        let phase = ((svc * 31 + inst * 7 + m * 3 + ri) as i64) % cadence;
                        if t % cadence == phase {
                            let ms = ((svc * 131 + inst * 17 + m * 29) % 1000) as i64;
                            self.metric(region, svc, inst, m, T0 + t * SEC + ms * MS);
                        }
                    }
                }
            }
        }
    }

    fn log(&mut self, t: i64, time: i64) {
        let outage = (FAULT..CUTOVER + 60).contains(&t);
        let primary = if t < CUTOVER {
            !self.rng.chance(0.1)
        } else {
            self.rng.chance(0.1)
        };
        let region = if primary { PRIMARY } else { SECONDARY };
        let svc = self.rng.below(25) as usize;
        let service = if svc == 0 { "frontend" } else { BACKENDS[svc - 1] };
        let x = self.rng.f();
        let error_share = if outage && primary { 0.5 } else { 0.08 };
        let (num, text, body) = if x < error_share {
            (
                17,
                "ERROR",
                "request failed: upstream connect error or disconnect/reset before headers",
            )
        } else if x < error_share + 0.12 {
            (13, "WARN", "slow call to dependency, retrying with backoff")
        } else {
            (9, "INFO", "handled request")
        };
        let mut e = event(
            EventKind::Log,
            region,
            service,
            time,
            Source::OtlpGrpc,
            Body::Log(LogBody {
                severity_number: num,
                severity_text: text.into(),
                body: body.into(),
            }),
        );
        if self.rng.chance(0.5)
            && let Some((trace, span)) = self.recent
        {
            e.trace_id = trace.to_vec();
            e.span_id = span.to_vec();
        }
        e.attributes = vec![
            attr("logger.name", Value::Str(format!("{service}.handler"))),
            attr("thread.name", Value::Str(format!("worker-{}", self.rng.below(16)))),
        ];
        self.push(&e);
        self.written.logs += 1;
    }

    fn siem(&mut self, time: i64) {
        let primary = self.rng.chance(0.5);
        let region = if primary { PRIMARY } else { SECONDARY };
        let host = format!("bastion-{}-{}", region, self.rng.below(8));
        let cef = self.rng.chance(0.2);
        let mut b = SiemBody {
            format: "rfc5424".into(),
            facility: 4,
            severity: 6,
            hostname: host,
            app_name: "sshd".into(),
            proc_id: format!("{}", 1000 + self.rng.below(50000)),
            msg_id: "AUTH".into(),
            message: "Accepted publickey for deploy from 10.0.3.7 port 52210 ssh2".into(),
            structured_data_json: String::new(),
            peer: "10.0.0.5:514".into(),
            ..Default::default()
        };
        let mut attributes = vec![attr("origin.ip", s("10.0.0.5"))];
        if cef {
            b.app_name = "fw".into();
            b.message = "CEF:0|Acme|Firewall|2.1|100|Blocked connection|5|src=203.0.113.9 dst=10.0.1.4".into();
            b.is_cef = true;
            b.cef_vendor = "Acme".into();
            b.cef_product = "Firewall".into();
            b.cef_device_version = "2.1".into();
            b.cef_signature_id = "100".into();
            b.cef_name = "Blocked connection".into();
            b.cef_severity = "5".into();
            attributes = vec![attr("src", s("203.0.113.9")), attr("dst", s("10.0.1.4"))];
        }
        let mut e = event(EventKind::Siem, region, "", time, Source::SyslogTcp, Body::Siem(b));
        e.resource_attributes.clear();
        e.attributes = attributes;
        self.push(&e);
        self.written.siem += 1;
    }

    fn marker(&mut self, t: i64, marker: &str) {
        let region = if t < CUTOVER { PRIMARY } else { SECONDARY };
        let mut e = event(
            EventKind::Marker,
            region,
            "drill-runbook",
            T0 + t * SEC,
            Source::MarkersApi,
            Body::Marker(MarkerBody { marker: marker.into() }),
        );
        e.attributes = vec![attr("cutover.marker", s(marker))];
        if marker == "db_promoted" {
            e.attributes.push(attr("cutover.write.store", s(STORE)));
            e.attributes.push(attr(
                "cutover.write.last_applied_seq",
                Value::Int(self.last_applied_seq),
            ));
        }
        self.push(&e);
        self.written.markers += 1;
    }

    fn alert(&mut self, t: i64, name: &str, instance: usize, firing: bool, starts: i64) {
        let mut e = event(
            EventKind::Alert,
            PRIMARY,
            "frontend",
            T0 + t * SEC + 500 * MS,
            Source::AlertmanagerWebhook,
            Body::Alert(AlertBody {
                status: if firing { "firing" } else { "resolved" }.into(),
                alertname: name.into(),
                starts_at_unix_nano: T0 + starts * SEC,
                ends_at_unix_nano: if firing { 0 } else { T0 + t * SEC },
                fingerprint: format!("{:016x}", instance as u64 * 7919 + name.len() as u64),
                generator_url: "http://prometheus:9090/graph".into(),
                receiver: "oncall".into(),
                annotations_json: r#"{"summary":"drill"}"#.into(),
                ..Default::default()
            }),
        );
        e.attributes = vec![
            attr("alertname", s(name)),
            attr("severity", s("page")),
            attr("instance", Value::Str(format!("frontend-{instance}"))),
        ];
        self.push(&e);
        self.written.alerts += 1;
    }

    /// Alerts of second `t`: firing 45 s after the fault, re-sent every 5 min, resolved at
    /// failover_completed.
    fn alerts(&mut self, t: i64) {
        let first = FAULT + 45;
        if t >= first && t < COMPLETED && (t - first) % 300 == 0 {
            self.alert(t, "FrontendHighErrorRate", 0, true, first);
            for i in 0..5 {
                self.alert(t, "InstanceDown", i + 1, true, first);
            }
        }
        if t == COMPLETED {
            self.alert(t, "FrontendHighErrorRate", 0, false, first);
            for i in 0..5 {
                self.alert(t, "InstanceDown", i + 1, false, first);
            }
        }
    }
}

/// Counts `rate` per second into whole events, carrying the fraction.
fn due(acc: &mut f64, rate: f64) -> u64 {
    *acc += rate;
    let n = acc.floor();
    *acc -= n;
    n as u64
}

/// Writes a drill log of about `events` events to `data_dir/log`. `progress` gets
/// (events written so far, events planned).
pub fn generate(data_dir: &Path, events: u64, mut progress: impl FnMut(u64, u64)) -> anyhow::Result<Written> {
    let config = LogConfig {
        fsync: FsyncPolicy::Interval {
            interval: Duration::from_secs(5),
        },
        ..Default::default()
    };
    let (writer, _) = LogWriter::open(&cutover_analyzer::log_dir(data_dir), config)?;
    let rates = Rates::for_events(events);
    let mut g = Gen {
        rng: Rng(0x5eed),
        out: Vec::with_capacity(16384),
        written: Written::default(),
        write_seq: 0,
        last_applied_seq: 0,
        recent: None,
    };
    let markers = [
        (300, "drill_started"),
        (FAULT, "fault_injected"),
        (DECLARED, "failover_declared"),
        (PROMOTED, "db_promoted"),
        (CUTOVER, "dns_cutover"),
        (SHIFTED, "traffic_shifted"),
        (COMPLETED, "failover_completed"),
        (3300, "drill_ended"),
    ];
    let (mut req_acc, mut log_acc, mut siem_acc) = (0.0, 0.0, 0.0);
    let rt = tokio::runtime::Handle::current();
    let mut pending = std::collections::VecDeque::new();
    for t in 0..SECONDS {
        for (at, m) in markers {
            if at == t {
                g.marker(t, m);
            }
        }
        g.alerts(t);
        let base = T0 + t * SEC;
        let n = due(&mut req_acc, rates.requests);
        for i in 0..n {
            g.trace(t, base + (i as i64 * SEC) / n as i64);
        }
        g.metrics(t, rates.instances, rates.series);
        let n = due(&mut log_acc, rates.logs);
        for i in 0..n {
            g.log(t, base + (i as i64 * SEC) / n as i64 + 3 * MS);
        }
        let n = due(&mut siem_acc, rates.siem);
        for i in 0..n {
            g.siem(base + (i as i64 * SEC) / n as i64 + 7 * MS);
        }
        if g.out.len() >= 8192 || t + 1 == SECONDS {
            // Keep a few appends in flight so encoding and writing overlap.
            pending.push_back(writer.append_unconfirmed(std::mem::take(&mut g.out)));
            if pending.len() > 4 {
                rt.block_on(pending.pop_front().expect("one pending"))?;
            }
            progress(g.written.events, events);
        }
    }
    for p in pending {
        rt.block_on(p)?;
    }
    writer.close();
    Ok(g.written)
}
