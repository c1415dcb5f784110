//! The world every scenario starts from, and the knobs scenarios turn.
//!
//! [`World::new`] runs the drill simulator (`sim.rs`) and turns its requests, writes and
//! markers into events. The other builders add one kind of telemetry each and record what they
//! generated in [`Generated`], from which [`World::finish`] computes the truth.

use cutover_schemas::{Attribute, Event};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Scenario;
use super::events::{self, Ids, PRIMARY, SECONDARY, SpanKind, SpanSpec, region};
use super::truth::{self, AlertFact, CallFact, Generated, MessageFact, ScenarioTruth, SpikeFact, StreamFact};
use super::{budget_truth, telemetry_truth};
use crate::sim::{self, Drill, MS, Ns, Params, Replication, SEC};

/// 2026-11-26T12:00:00Z: every scenario starts here.
pub const T0: Ns = 1_795_694_400_000_000_000;

/// The SLI service.
pub const SLI_SERVICE: &str = "frontend";

/// Spec lines shared by every scenario (the section keys are appended per scenario).
pub const BASE_SPEC: &str = "\
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 120, rpo_seconds: 5 }
sli: { services: [frontend], span_kinds: [server] }
recovery: { success_ratio: 0.99, stable_seconds: 60 }
";

/// Spec parts of the report sections, the same in every scenario.
pub const SECTION_SPECS: &[&str] = &[
    budget_truth::BUDGET_SPEC,
    telemetry_truth::GAPS_SPEC,
    telemetry_truth::ALERTS_SPEC,
    "messages: { list_limit: 1000 }",
    "traces: { list_limit: 1000 }",
    "capacity: { gauges: [ { metric: system.cpu.utilization, threshold: 0.8 } ] }",
];

/// The simulator knobs of scenarios: ~10 requests/s, ~4 writes/s, 150 s after the shift,
/// fast failures (so latency only moves where a scenario says), async replication.
pub fn params() -> Params {
    Params {
        request_gap_ms: (50, 150),
        ttl_ms: (0, 1),
        warmup_ms: (5_000, 15_000),
        error_extra_ms: 0,
        background_error: 0.001,
        write_gap_ms: (150, 350),
        replication: Replication::Async {
            min_lag_ms: 300,
            max_lag_ms: 1_500,
        },
        split_brain_ms: None,
        tail_seconds: 150,
    }
}

/// A scenario being built.
pub struct World {
    name: &'static str,
    /// The simulated drill (requests, writes, markers, moments).
    pub drill: Drill,
    /// Randomness for everything added after the simulator (its own stream).
    pub rng: StdRng,
    ids: Ids,
    /// Trace and span id of each request, by index.
    request_ids: Vec<(Vec<u8>, Vec<u8>)>,
    events: Vec<Event>,
    spec: Vec<String>,
    /// The runbook forgot the `fault_injected` marker: the analysis infers the fault.
    pub without_fault_marker: bool,
    /// What was generated beyond the drill.
    pub generated: Generated,
}

impl World {
    /// The drill of `params` for `seed`, with a baseline 0.5 % of 401 responses.
    pub fn new(name: &'static str, seed: u64, params: &Params) -> World {
        let drill = sim::generate_with(seed, T0, params);
        let mut w = World {
            name,
            drill,
            rng: StdRng::seed_from_u64(seed ^ 0x5ce7_a210),
            ids: Ids::default(),
            request_ids: Vec::new(),
            events: Vec::new(),
            spec: Vec::new(),
            without_fault_marker: false,
            generated: Generated::default(),
        };
        for r in &mut w.drill.requests {
            if r.status == 200 && w.rng.random_bool(0.005) {
                r.status = 401;
            }
        }
        w
    }

    /// Adds top-level spec YAML (one or more lines).
    pub fn spec(&mut self, yaml: &str) {
        self.spec.push(yaml.trim_end().to_string());
    }

    /// After the cutover, the secondary answers 401 to a share `p` of requests (sessions were
    /// not replicated).
    pub fn session_drops(&mut self, p: f64) {
        let dns = self.drill.moments.dns;
        for r in &mut self.drill.requests {
            if !r.primary && r.start >= dns && r.status == 200 && self.rng.random_bool(p) {
                r.status = 401;
            }
        }
    }

    /// Requests of `primary`'s side starting in `[start, end)` take `extra_ms` longer.
    pub fn slow_window(&mut self, primary: bool, start: Ns, end: Ns, extra_ms: i64) {
        for r in &mut self.drill.requests {
            if r.primary == primary && r.start >= start && r.start < end {
                r.duration += extra_ms * MS;
            }
        }
        self.generated.spikes.push(SpikeFact {
            region: region(primary),
            service: SLI_SERVICE,
            start,
            end,
            extra_ms,
        });
    }

    /// Every `every`-th request calls `inventory`, which runs in the secondary region only and
    /// whose hosts' clock runs `skew_ms` behind: before the cutover these traces span both
    /// regions.
    pub fn inventory_calls(&mut self, every: usize, skew_ms: i64) {
        self.ensure_request_ids();
        for i in (0..self.drill.requests.len()).step_by(every) {
            let r = &self.drill.requests[i];
            let (trace_id, parent) = self.request_ids[i].clone();
            // Inside its parent (which lasts at least 5 ms) unless the clock is skewed.
            let start = r.start + 2 * MS - skew_ms * MS;
            let e = events::span(
                SpanSpec {
                    region: SECONDARY,
                    service: "inventory",
                    name: "GET /stock",
                    kind: SpanKind::Server,
                    start,
                    end: start + 2 * MS,
                    error: false,
                    attrs: vec![Attribute::int("http.response.status_code", 200)],
                },
                trace_id.clone(),
                self.ids.span(),
                parent,
            );
            self.events.push(e);
            self.generated.calls.push(CallFact {
                trace_id: hex::encode(&trace_id),
                parent_region: region(r.primary),
                child_region: SECONDARY,
                parent_start: r.start,
                child_start: start,
            });
        }
    }

    fn ensure_request_ids(&mut self) {
        while self.request_ids.len() < self.drill.requests.len() {
            let ids = (self.ids.trace(), self.ids.span());
            self.request_ids.push(ids);
        }
    }

    /// A gauge every `cadence` from `from` (inclusive) to `to` (exclusive), skipping points
    /// inside `holes` (`[start, end)`); `value` maps the time to the value.
    #[allow(clippy::too_many_arguments)]
    pub fn gauge_stream(
        &mut self,
        primary: bool,
        service: &'static str,
        name: &str,
        cadence: Ns,
        from: Ns,
        to: Ns,
        holes: &[(Ns, Ns)],
        value: impl Fn(Ns) -> f64,
    ) {
        let reg = region(primary);
        let mut fact = StreamFact {
            region: reg,
            service,
            signal: "metric",
            name: name.to_string(),
            cadence,
            times: vec![],
            values: vec![],
        };
        let mut t = from;
        while t < to {
            if !holes.iter().any(|(a, b)| t >= *a && t < *b) {
                let v = value(t);
                self.events.push(events::gauge(reg, service, name, "1", t, v));
                fact.times.push(t);
                fact.values.push(v);
            }
            t += cadence;
        }
        self.generated.streams.push(fact);
    }

    /// A SIEM feed (`hostname`/`app`) every `cadence` over `[from, to)`.
    pub fn siem_feed(&mut self, primary: bool, hostname: &str, app: &'static str, cadence: Ns, from: Ns, to: Ns) {
        let reg = region(primary);
        let mut fact = StreamFact {
            region: reg,
            service: app,
            signal: "siem",
            name: hostname.to_string(),
            cadence,
            times: vec![],
            values: vec![],
        };
        let mut t = from;
        while t < to {
            let msg = format!("accepted publickey for deploy from 10.0.3.{}", fact.times.len() % 250);
            self.events.push(events::siem(reg, hostname, app, t, &msg));
            fact.times.push(t);
            fact.values.push(0.0);
            t += cadence;
        }
        self.generated.streams.push(fact);
    }

    /// One alert: firing notification received at `received`, and a resolved one at
    /// `ends_at` (+2 s) when given.
    pub fn alert(
        &mut self,
        primary: bool,
        service: &'static str,
        name: &str,
        starts_at: Ns,
        received: Ns,
        ends_at: Option<Ns>,
    ) {
        let reg = region(primary);
        self.events
            .push(events::alert(reg, service, name, "firing", starts_at, 0, received));
        if let Some(end) = ends_at {
            self.events.push(events::alert(
                reg,
                service,
                name,
                "resolved",
                starts_at,
                end,
                end + 2 * SEC,
            ));
        }
        self.generated.alerts.push(AlertFact {
            name: name.to_string(),
            region: reg,
            service,
            starts_at,
            received_at: received,
            ends_at,
        });
    }

    /// Messages to `order-events`, ~2/s, published by `orders-api` wherever the store is
    /// primary and consumed by `fulfillment` in the same region 20–300 ms later.
    /// `consume(rng, primary, published, at)` decides the consumptions (side, time) of each
    /// message from the publisher's side, the publish time and the default consumption time
    /// (an empty list loses it).
    pub fn messages(&mut self, consume: impl Fn(&mut StdRng, bool, Ns, Ns) -> Vec<(bool, Ns)>) {
        let m = self.drill.moments;
        let mut t = m.t0 + 5 * SEC;
        let mut n = 0;
        while t < m.end - 10 * SEC {
            let primary = t < m.fault;
            if primary || t > m.promoted {
                n += 1;
                let at = t + self.rng.random_range(20..300) * MS;
                let consumed = consume(&mut self.rng, primary, t, at);
                self.message(n, primary, t, consumed);
            }
            t += self.rng.random_range(300..700) * MS;
        }
    }

    fn message(&mut self, n: usize, primary: bool, at: Ns, consumed: Vec<(bool, Ns)>) {
        let id = format!("ord-{n:06}");
        let dest = "order-events";
        let trace = self.ids.trace();
        let producer = self.ids.span();
        let attrs = |op: &str| {
            vec![
                Attribute::str("messaging.system", "kafka"),
                Attribute::str("messaging.operation.type", op),
                Attribute::str("messaging.destination.name", dest),
                Attribute::str("messaging.message.id", id.as_str()),
            ]
        };
        let span = |region, service, name, kind, start: Ns, attrs| SpanSpec {
            region,
            service,
            name,
            kind,
            start,
            end: start + 2 * MS,
            error: false,
            attrs,
        };
        let reg = region(primary);
        let e = events::span(
            span(
                reg,
                "orders-api",
                "order-events publish",
                SpanKind::Producer,
                at,
                attrs("publish"),
            ),
            trace.clone(),
            producer.clone(),
            vec![],
        );
        self.events.push(e);
        for (p, t) in &consumed {
            let s = span(
                region(*p),
                "fulfillment",
                "order-events process",
                SpanKind::Consumer,
                *t,
                attrs("process"),
            );
            let e = events::span(s, trace.clone(), self.ids.span(), producer.clone());
            self.events.push(e);
        }
        self.generated.messages.push(MessageFact {
            id,
            destination: dest,
            region: reg,
            published_at: at,
            consumed: consumed.into_iter().map(|(p, t)| (region(p), t)).collect(),
        });
    }

    /// The standard telemetry of a scenario: gauges, SIEM feeds and the SLI alert, each region
    /// reporting while it serves (primary until 30 s after `dns_cutover`, secondary from
    /// `follow_s` seconds after it). Scenarios that change one of these build them themselves.
    pub fn standard_telemetry(&mut self, telemetry: &Telemetry) {
        let m = self.drill.moments;
        let old_stops = m.dns + 30 * SEC;
        let new_starts = m.dns + telemetry.follow_s * SEC;
        let cadence = 10 * SEC;
        for (service, name) in [
            ("frontend", "http.server.active_requests"),
            ("orders-api", "db.client.connections.usage"),
        ] {
            self.gauge_stream(true, service, name, cadence, m.t0, old_stops, &[], |_| 12.0);
            if telemetry.skip_secondary_metric != Some(name) {
                let holes = telemetry.secondary_hole.as_slice();
                self.gauge_stream(false, service, name, cadence, new_starts, m.end, holes, |_| 12.0);
            }
        }
        let hot = telemetry.secondary_cpu_hot;
        let cpu = |t: Ns| {
            if hot.is_some_and(|(a, b)| t >= a && t < b) {
                0.95
            } else {
                0.55
            }
        };
        self.gauge_stream(
            true,
            "node",
            "system.cpu.utilization",
            cadence,
            m.t0,
            old_stops,
            &[],
            |_| 0.45,
        );
        self.gauge_stream(
            false,
            "node",
            "system.cpu.utilization",
            cadence,
            new_starts,
            m.end,
            &[],
            cpu,
        );
        for (host, app) in [("bastion-1", "sshd"), ("idp-1", "keycloak")] {
            self.siem_feed(true, &format!("{host}.{PRIMARY}"), app, 5 * SEC, m.t0 + SEC, old_stops);
            if telemetry.skip_secondary_siem != Some(app) {
                self.siem_feed(
                    false,
                    &format!("{host}.{SECONDARY}"),
                    app,
                    5 * SEC,
                    new_starts + SEC,
                    m.end,
                );
            }
        }
    }

    /// Turns the drill and everything added into the scenario and its truth.
    pub fn finish(mut self) -> Scenario {
        self.drill_events();
        self.events.sort_by_key(|e| e.event_time_unix_nano);
        let generated = std::mem::take(&mut self.generated);
        let truth = core_truth(&self.drill, generated, self.without_fault_marker);
        let mut spec = format!("name: scenario {}\n{BASE_SPEC}", self.name);
        for s in SECTION_SPECS.iter().map(|s| s.to_string()).chain(self.spec) {
            spec += &s;
            spec.push('\n');
        }
        Scenario {
            name: self.name,
            events: self.events,
            spec,
            truth,
        }
    }

    /// The simulator's requests (SLI server spans), writes (client spans) and markers.
    fn drill_events(&mut self) {
        self.ensure_request_ids();
        let d = &self.drill;
        for (r, (trace_id, span_id)) in d.requests.iter().zip(&self.request_ids) {
            let s = SpanSpec {
                region: region(r.primary),
                service: SLI_SERVICE,
                name: "GET /checkout",
                kind: SpanKind::Server,
                start: r.start,
                end: r.start + r.duration,
                error: r.bad(),
                attrs: vec![
                    Attribute::str("http.request.method", "GET"),
                    Attribute::str("http.route", "/checkout"),
                    Attribute::int("http.response.status_code", i64::from(r.status)),
                ],
            };
            self.events
                .push(events::span(s, trace_id.clone(), span_id.clone(), vec![]));
        }
        for w in &d.writes {
            let s = SpanSpec {
                region: region(w.primary),
                service: "orders-api",
                name: "INSERT orders",
                kind: SpanKind::Client,
                start: w.time,
                end: w.time + 2 * MS,
                error: false,
                attrs: vec![
                    Attribute::str("db.system.name", "postgresql"),
                    Attribute::str("cutover.write.store", d.store),
                    Attribute::int("cutover.write.seq", w.seq),
                ],
            };
            let (trace, span) = (self.ids.trace(), self.ids.span());
            self.events.push(events::span(s, trace, span, vec![]));
        }
        for mk in d
            .markers
            .iter()
            .filter(|mk| !(self.without_fault_marker && mk.kind == "fault_injected"))
        {
            let attrs = mk
                .attrs
                .iter()
                .map(|(k, v)| match v.parse::<i64>() {
                    Ok(n) => Attribute::int(*k, n),
                    Err(_) => Attribute::str(*k, v.as_str()),
                })
                .collect();
            self.events
                .push(events::marker(mk.kind, region(mk.primary), mk.time, attrs));
        }
    }
}

/// The truths every scenario has: timeline, recovery, lost writes, split brain. Without the
/// fault marker the fault is the inferred one (spec `recovery` defaults: 10 s breach window,
/// breach when fewer than 90 % of its requests are good).
fn core_truth(d: &Drill, mut g: Generated, without_fault_marker: bool) -> ScenarioTruth {
    let m = d.moments;
    g.requests = d.requests.clone();
    g.writes = d.writes.clone();
    let fault = if without_fault_marker {
        truth::inferred_fault(&g.requests, 10 * SEC, 0.9).expect("the outage is a sustained breach")
    } else {
        m.fault
    };
    let (detected_at, detected_by) = truth::detection(&g, &[SLI_SERVICE], fault);
    let recovered_at = sim::recovered_at(&g.requests, fault);
    let (lost_writes, rpo_seconds) = truth::lost_writes(&g.writes, d.store, d.last_applied, m.promoted);
    let completed = d.markers.iter().find(|mk| mk.kind == "failover_completed");
    ScenarioTruth {
        moments: m,
        fault_at: fault,
        detected_at,
        detected_by,
        declared_at: Some(m.declared),
        cutover_at: Some(m.dns.min(m.shifted)),
        first_good_secondary_at: g
            .requests
            .iter()
            .find(|r| !r.primary && !r.bad() && r.start > fault)
            .map(|r| r.start),
        recovered_at,
        rto_seconds: recovered_at.map(|r| truth::secs(r - fault)),
        lost_writes,
        rpo_seconds,
        split_brain: truth::split_brain(&g.writes, d.store),
        completed_at: completed.map_or(m.end, |mk| mk.time),
        residual_requests: g.requests.iter().filter(|r| r.primary && r.start >= m.dns).count(),
        generated: g,
    }
}

/// Knobs of [`World::standard_telemetry`].
pub struct Telemetry {
    /// Seconds after `dns_cutover` at which the secondary starts reporting.
    pub follow_s: i64,
    /// A metric the secondary never reports.
    pub skip_secondary_metric: Option<&'static str>,
    /// A SIEM feed (app name) the secondary never sends.
    pub skip_secondary_siem: Option<&'static str>,
    /// A silence (`[start, end)`) in the secondary's metric streams.
    pub secondary_hole: Option<(Ns, Ns)>,
    /// When the secondary's CPU runs at 0.95 (`[start, end)`); else 0.55 (the primary: 0.45).
    pub secondary_cpu_hot: Option<(Ns, Ns)>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            follow_s: 5,
            skip_secondary_metric: None,
            skip_secondary_siem: None,
            secondary_hole: None,
            secondary_cpu_hot: None,
        }
    }
}
