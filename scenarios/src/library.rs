//! The scenarios. Each changes one thing in the standard world and says which finding the
//! analysis must show.

use rand::Rng;

use super::Scenario;
use super::world::{self, SLI_SERVICE, Telemetry, World};
use crate::sim::{self, MS, Ns, Replication, SEC};

/// A scenario generator: the scenario for a seed.
pub type Generator = fn(u64) -> Scenario;

/// Every scenario by name.
pub const ALL: &[(&str, Generator)] = &[
    ("clean_failover", clean_failover),
    ("slow_dns_residual_traffic", slow_dns_residual_traffic),
    ("async_replication_lost_writes", async_replication_lost_writes),
    ("sync_replication_zero_loss", sync_replication_zero_loss),
    ("metrics_never_resumed", metrics_never_resumed),
    ("siem_feed_missing", siem_feed_missing),
    ("alert_missing_and_late", alert_missing_and_late),
    ("split_brain_writes", split_brain_writes),
    ("lost_and_duplicated_messages", lost_and_duplicated_messages),
    ("latency_spike_in_secondary", latency_spike_in_secondary),
    ("clock_skew_between_regions", clock_skew_between_regions),
    ("fault_marker_missing", fault_marker_missing),
];

/// The alert the SLI is watched by.
pub const SLI_ALERT: &str = "FrontendErrorRateHigh";
/// An alert the runbook expects when the database fails over.
pub const DB_ALERT: &str = "OrdersDbPrimaryDown";

/// The standard world with `params`: standard telemetry, the SLI alert on time, every
/// message consumed once, cross-region calls without skew.
fn standard(name: &'static str, seed: u64, params: &sim::Params) -> World {
    with_telemetry(World::new(name, seed, params), &Telemetry::default())
}

/// Adds `telemetry` and the rest of the standard world to `w`.
fn with_telemetry(mut w: World, telemetry: &Telemetry) -> World {
    w.standard_telemetry(telemetry);
    sli_alert(&mut w, 2_000);
    db_alert(&mut w);
    w.messages(|_, primary, _, at| vec![(primary, at)]);
    w.inventory_calls(10, 0);
    w
}

fn recovered(w: &World) -> Option<Ns> {
    sim::recovered_at(&w.drill.requests, w.drill.moments.fault)
}

/// The SLI alert fires 3–8 s after the fault (before the failover is declared), is received
/// `delivery_ms` later and resolves 30 s after recovery.
fn sli_alert(w: &mut World, delivery_ms: i64) {
    let m = w.drill.moments;
    let starts = m.fault + w.rng.random_range(3_000..8_000) * MS;
    let ends = recovered(w).map(|r| r + 30 * SEC);
    w.alert(true, SLI_SERVICE, SLI_ALERT, starts, starts + delivery_ms * MS, ends);
}

/// The database alert fires 5 s after the fault in the secondary's Alertmanager.
fn db_alert(w: &mut World) {
    let m = w.drill.moments;
    let starts = m.fault + 5 * SEC;
    w.alert(
        false,
        "orders-db",
        DB_ALERT,
        starts,
        starts + SEC,
        Some(m.promoted + 10 * SEC),
    );
}

/// Sync replication, immediate DNS cutover, every stream follows, alerts on time: nothing to
/// find but the RTO.
pub fn clean_failover(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    standard("clean_failover", seed, &p).finish()
}

/// A 60–90 s DNS TTL: the old primary keeps getting (failing) requests after `dns_cutover`;
/// the secondary drops 5 % of sessions (401) after the cutover.
pub fn slow_dns_residual_traffic(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    p.ttl_ms = (60_000, 90_000);
    let mut w = standard("slow_dns_residual_traffic", seed, &p);
    w.session_drops(0.05);
    w.finish()
}

/// Async replication lagging 0.3–1.5 s: the writes the replica had not applied at the fault
/// are lost. The replica reports its replication lag every 5 s (0 once promoted): the RPO
/// estimate.
pub fn async_replication_lost_writes(seed: u64) -> Scenario {
    let p = world::params();
    let mut w = standard("async_replication_lost_writes", seed, &p);
    let m = w.drill.moments;
    let lags: Vec<f64> = (0..40)
        .map(|_| w.rng.random_range(300..1_500) as f64 / 1000.0)
        .collect();
    w.gauge_stream(
        false,
        "orders-db",
        "pg_replication_lag_seconds",
        5 * SEC,
        m.t0,
        m.end,
        &[],
        |t| {
            if t >= m.promoted {
                0.0
            } else {
                lags[((t - m.t0) / (5 * SEC)) as usize % lags.len()]
            }
        },
    );
    w.spec("replication: { lag_metric: pg_replication_lag_seconds, lag_unit: seconds }");
    w.finish()
}

/// Sync replication: the replica has every acknowledged write; RPO 0.
pub fn sync_replication_zero_loss(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    standard("sync_replication_zero_loss", seed, &p).finish()
}

/// The secondary never reports `db.client.connections.usage`, and its other metrics go silent
/// for 60 s in the middle of the recovered phase.
pub fn metrics_never_resumed(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let w = World::new("metrics_never_resumed", seed, &p);
    let hole_start = w.drill.moments.shifted + 40 * SEC;
    let telemetry = Telemetry {
        skip_secondary_metric: Some("db.client.connections.usage"),
        secondary_hole: Some((hole_start, hole_start + 60 * SEC)),
        ..Telemetry::default()
    };
    with_telemetry(w, &telemetry).finish()
}

/// The secondary never sends the `keycloak` SIEM feed.
pub fn siem_feed_missing(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let telemetry = Telemetry {
        skip_secondary_siem: Some("keycloak"),
        ..Telemetry::default()
    };
    with_telemetry(World::new("siem_feed_missing", seed, &p), &telemetry).finish()
}

/// The SLI alert is delivered 90 s after it started firing; the database alert never fires;
/// `InstanceDown` fires inside its suppression window. Detection still dates from the late
/// alert's `startsAt`.
pub fn alert_missing_and_late(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let mut w = World::new("alert_missing_and_late", seed, &p);
    w.standard_telemetry(&Telemetry::default());
    sli_alert(&mut w, 90_000);
    let declared = w.drill.moments.declared;
    w.alert(
        true,
        "node",
        "InstanceDown",
        declared + 3 * SEC,
        declared + 4 * SEC,
        None,
    );
    w.messages(|_, primary, _, at| vec![(primary, at)]);
    w.inventory_calls(10, 0);
    w.finish()
}

/// The old primary keeps accepting writes for 20 s after the promotion.
pub fn split_brain_writes(seed: u64) -> Scenario {
    let mut p = world::params();
    p.split_brain_ms = Some(20_000);
    standard("split_brain_writes", seed, &p).finish()
}

/// Messages published in the primary in the last 3 s before the fault are never consumed;
/// those of the 20 s before that are consumed in the primary and again in the secondary
/// after the promotion (the consumer's offset was not replicated).
pub fn lost_and_duplicated_messages(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let mut w = World::new("lost_and_duplicated_messages", seed, &p);
    let m = w.drill.moments;
    w.standard_telemetry(&Telemetry::default());
    sli_alert(&mut w, 2_000);
    db_alert(&mut w);
    let replay_at = m.promoted + 2 * SEC;
    w.messages(move |rng, primary, published, at| {
        if published < m.fault && published >= m.fault - 3 * SEC {
            vec![]
        } else if published < m.fault && published >= m.fault - 23 * SEC {
            let again = replay_at + rng.random_range(0..3_000) * MS;
            vec![(true, at.min(m.fault - MS)), (false, again)]
        } else {
            vec![(primary, at)]
        }
    });
    w.inventory_calls(10, 0);
    w.finish()
}

/// Secondary requests take 800 ms longer for 20 s starting 20 s after recovery, while its CPU
/// runs at 95 %; the primary never slows down.
pub fn latency_spike_in_secondary(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let w = World::new("latency_spike_in_secondary", seed, &p);
    let start = recovered(&w).unwrap_or(w.drill.moments.shifted) + 20 * SEC;
    let telemetry = Telemetry {
        secondary_cpu_hot: Some((start, start + 20 * SEC)),
        ..Telemetry::default()
    };
    let mut w = with_telemetry(w, &telemetry);
    w.slow_window(false, start, start + 20 * SEC, 800);
    w.finish()
}

/// The `inventory` hosts (secondary region) run 400 ms behind: every call from `frontend`
/// shows a child span starting before its parent; before the cutover, across regions.
pub fn clock_skew_between_regions(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let mut w = World::new("clock_skew_between_regions", seed, &p);
    w.standard_telemetry(&Telemetry::default());
    sli_alert(&mut w, 2_000);
    db_alert(&mut w);
    w.messages(|_, primary, _, at| vec![(primary, at)]);
    w.inventory_calls(10, 400);
    w.finish()
}

/// The clean failover without a `fault_injected` marker, with the usual 0.1 % random errors:
/// the analysis infers the fault from the first sustained SLI breach (more than 10 % of a 10 s
/// window bad), which is the first request after the real fault. A scattered bad request of
/// the background rate is not a breach.
pub fn fault_marker_missing(seed: u64) -> Scenario {
    let mut p = world::params();
    p.replication = Replication::Sync;
    let mut w = standard("fault_marker_missing", seed, &p);
    w.without_fault_marker = true;
    w.finish()
}

/// The SLI as counters: `http_requests_total{job="frontend",code}` of each region, scraped
/// every [`SCRAPE`] (each region at its own phase), as Prometheus remote_write would store
/// them. Not in [`ALL`]: `tests/scenarios.rs` analyzes these with [`METRICS_SLI_SPEC`].
pub const SCRAPE: Ns = 5 * SEC;

/// The `sli` of a metrics SLI over the counters of [`with_request_counters`].
pub const METRICS_SLI_SPEC: &str = "sli:\n  metrics:\n    total: 'http_requests_total{job=\"frontend\"}'\n    bad: 'http_requests_total{job=\"frontend\",code=~\"5..\"}'";

/// Adds the counters of the SLI requests (every status code seen, cumulative from 0 at the
/// drill start) scraped every [`SCRAPE`] from the first to the last request.
pub fn with_request_counters(s: &mut Scenario, seed: u64) {
    use crate::events::{PRIMARY, SECONDARY, region};
    let requests = &s.truth.generated.requests;
    let (Some(first), Some(last)) = (
        requests.iter().map(|r| r.start).min(),
        requests.iter().map(|r| r.start).max(),
    ) else {
        return;
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed ^ 0x5c2a_9e00);
    let codes: std::collections::BTreeSet<u16> = requests.iter().map(|r| r.status).collect();
    for (primary, name) in [(true, PRIMARY), (false, SECONDARY)] {
        debug_assert_eq!(region(primary), name);
        let phase = rng.random_range(0..SCRAPE);
        let mut starts: Vec<(Ns, u16)> = requests
            .iter()
            .filter(|r| r.primary == primary)
            .map(|r| (r.start, r.status))
            .collect();
        starts.sort_unstable();
        let mut t = first - SCRAPE + phase;
        while t <= last + 2 * SCRAPE {
            for code in &codes {
                let n = starts.iter().filter(|(at, c)| *at <= t && c == code).count();
                s.events.push(crate::events::counter(
                    name,
                    "frontend",
                    "http_requests_total",
                    &[
                        ("code", &code.to_string()),
                        ("instance", &format!("frontend.{name}:9090")),
                    ],
                    t,
                    n as f64,
                ));
            }
            t += SCRAPE;
        }
    }
    s.events.sort_by_key(|e| e.event_time_unix_nano);
}

/// The clean failover with the SLI as counters only: the frontend's server spans are left out
/// (a team that does not trace its frontend), the spec's `sli` is [`METRICS_SLI_SPEC`].
pub fn metrics_only_sli(seed: u64) -> Scenario {
    let mut s = clean_failover(seed);
    s.name = "metrics_only_sli";
    with_request_counters(&mut s, seed);
    s.events.retain(|e| {
        !(e.kind == cutover_schemas::EventKind::Span as i32
            && e.service == SLI_SERVICE
            && matches!(&e.body, Some(cutover_schemas::Body::Span(b)) if b.kind == 2))
    });
    s.spec = s
        .spec
        .replace("sli: { services: [frontend], span_kinds: [server] }", METRICS_SLI_SPEC);
    s
}

/// The clean failover with both: the frontend's spans and its counters. Analyzed twice (the
/// span SLI of the spec, and [`METRICS_SLI_SPEC`]) so the two RTOs sit side by side.
pub fn spans_and_metrics_sli(seed: u64) -> Scenario {
    let mut s = clean_failover(seed);
    s.name = "spans_and_metrics_sli";
    with_request_counters(&mut s, seed);
    s
}

/// The tracestate of a span kept by 10 % head sampling (OpenTelemetry threshold
/// 0.9 × 2^56: `th:e666666666666`).
pub const TEN_PERCENT: &str = "ot=th:e666666666666";

/// The clean failover with the frontend's traces head-sampled at 10 %: one in ten server spans
/// is kept (chosen by the seed, before the outcome is known), each with [`TEN_PERCENT`] in its
/// tracestate.
pub fn head_sampled_traces(seed: u64) -> Scenario {
    let mut s = clean_failover(seed);
    s.name = "head_sampled_traces";
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed ^ 0x7a11_5a3d);
    s.events.retain_mut(|e| {
        let is_sli = e.kind == cutover_schemas::EventKind::Span as i32 && e.service == SLI_SERVICE;
        match &mut e.body {
            Some(cutover_schemas::Body::Span(b)) if is_sli && b.kind == 2 => {
                b.trace_state = TEN_PERCENT.into();
                rng.random_bool(0.1)
            }
            _ => true,
        }
    });
    s
}

/// The clean failover with tail-sampled traces: every failed request's span is kept, 2 % of
/// the others; the spec says `sampling: { mode: tail }`.
pub fn tail_sampled_traces(seed: u64) -> Scenario {
    let mut s = clean_failover(seed);
    s.name = "tail_sampled_traces";
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed ^ 0x7a11_7a11);
    s.events.retain(|e| match &e.body {
        Some(cutover_schemas::Body::Span(b))
            if e.kind == cutover_schemas::EventKind::Span as i32 && e.service == SLI_SERVICE && b.kind == 2 =>
        {
            b.status_code == 2 || rng.random_bool(0.02)
        }
        _ => true,
    });
    s.spec = s.spec.replace(
        "sli: { services: [frontend], span_kinds: [server] }",
        "sli: { services: [frontend], span_kinds: [server], sampling: { mode: tail } }",
    );
    s
}
