//! The checks every scenario goes through: each report section against the scenario's ground
//! truth, within the tolerances.

use std::collections::BTreeMap;

use cutover_analyzer::measures::gaps::GapClass;
use cutover_analyzer::report::Report;

use crate::demo::scenarios::events::PRIMARY;
use crate::demo::scenarios::{Scenario, budget_truth, flow_truth, telemetry_truth, traffic_truth, truth};
use crate::demo::sim::{Ns, SEC};

/// Every check, in report order.
pub fn all(ctx: &str, s: &Scenario, r: &Report) {
    check_rto(ctx, s, r);
    check_rpo(ctx, s, r);
    check_validity(ctx, s, r);
    check_latency(ctx, s, r);
    check_budget(ctx, s, r);
    check_abort(ctx, s, r);
    check_gaps(ctx, s, r);
    check_alerts(ctx, s, r);
    check_traffic(ctx, s, r);
    check_capacity(ctx, s, r);
    check_messages(ctx, s, r);
    check_traces(ctx, s, r);
}

pub fn ns(ctx: &str, what: &str, t: Option<&cutover_analyzer::time::Time>) -> Ns {
    t.unwrap_or_else(|| panic!("{ctx}: {what} not measured")).ns()
}

pub fn within(ctx: &str, what: &str, got: Ns, want: Ns, tolerance: Ns) {
    assert!(
        (got - want).abs() <= tolerance,
        "{ctx}: {what} {got} vs truth {want} (off by {} ms)",
        (got - want) / 1_000_000
    );
}

/// Fault, recovery, RTO and every phase boundary within ±1 s of the truth.
pub fn check_rto(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    within(
        ctx,
        "fault_at",
        ns(ctx, "fault_at", r.rto.fault_at.as_ref()),
        t.fault_at,
        SEC,
    );
    let want_recovered = t.recovered_at.expect("every scenario recovers");
    within(
        ctx,
        "recovered_at",
        ns(ctx, "recovered_at", r.rto.recovered_at.as_ref()),
        want_recovered,
        SEC,
    );
    let rto = r
        .rto
        .actual_seconds
        .unwrap_or_else(|| panic!("{ctx}: RTO not measured: {:?}", r.rto.reason));
    let want = t.rto_seconds.unwrap();
    assert!((rto - want).abs() <= 1.0, "{ctx}: RTO {rto} vs truth {want}");
    assert_eq!(r.rto.detected_by.as_deref(), t.detected_by, "{ctx}: detected_by");
    let bounds = [
        ("fault", Some(t.fault_at)),
        ("detection", t.detected_at),
        ("declared", t.declared_at),
        ("cutover", t.cutover_at),
        ("first_good_secondary", t.first_good_secondary_at),
        ("recovered", t.recovered_at),
    ];
    assert_eq!(r.rto.phases.len(), bounds.len() - 1, "{ctx}: phases");
    for (phase, w) in r.rto.phases.iter().zip(bounds.windows(2)) {
        let ((from, start), (to, end)) = (w[0], w[1]);
        assert_eq!(phase.name, format!("{from}_to_{to}"), "{ctx}");
        let (start, end) = (start.unwrap(), end.unwrap());
        let what = format!("phase {}", phase.name);
        if end < start {
            let reason = phase.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("came before"), "{ctx}: {what}: {phase:?}");
            continue;
        }
        within(ctx, &what, ns(ctx, &what, phase.started_at.as_ref()), start, SEC);
        within(ctx, &what, ns(ctx, &what, phase.ended_at.as_ref()), end, SEC);
        let secs = phase
            .seconds
            .unwrap_or_else(|| panic!("{ctx}: {what}: {:?}", phase.reason));
        assert!(
            (secs - (end - start) as f64 / 1e9).abs() <= 1.0,
            "{ctx}: {what} lasted {secs} s"
        );
    }
}

/// Lost writes exactly, RPO within 100 ms, split brain with its exact window and counts.
pub fn check_rpo(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    assert_eq!(r.rpo.lost, t.lost_writes, "{ctx}: lost writes");
    let total: usize = t.lost_writes.values().map(Vec::len).sum();
    assert_eq!(r.rpo.lost_writes, Some(total as u64), "{ctx}: lost write count");
    let rpo = r
        .rpo
        .actual_seconds
        .unwrap_or_else(|| panic!("{ctx}: RPO not measured: {:?}", r.rpo.reason));
    assert!(
        (rpo - t.rpo_seconds).abs() <= 0.1,
        "{ctx}: RPO {rpo} vs truth {}",
        t.rpo_seconds
    );
    assert_eq!(
        r.rpo.split_brain.len(),
        t.split_brain.len(),
        "{ctx}: split brain {:?}",
        r.rpo.split_brain
    );
    for (got, want) in r.rpo.split_brain.iter().zip(&t.split_brain) {
        assert_eq!(got.store, want.store, "{ctx}");
        assert_eq!(got.regions, ["us-east-1".to_string(), "us-west-2".to_string()], "{ctx}");
        within(
            ctx,
            "overlap start",
            ns(ctx, "overlap", Some(&got.overlap_start)),
            want.overlap_start,
            0,
        );
        within(
            ctx,
            "overlap end",
            ns(ctx, "overlap", Some(&got.overlap_end)),
            want.overlap_end,
            0,
        );
        assert_eq!(got.writes, want.writes, "{ctx}: writes in the overlap");
    }
}

/// SLI samples per region and phase exactly; the pipeline's lag is the generator's 5 ms.
pub fn check_validity(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let want = truth::samples(&t.generated.requests, t.fault_at, t.recovered_at);
    let got: BTreeMap<(&str, &str), (u64, u64)> = r
        .validity
        .samples
        .iter()
        .map(|x| ((x.region.as_str(), x.phase.as_str()), (x.requests, x.bad)))
        .collect();
    assert_eq!(got, want, "{ctx}: SLI samples per region and phase");
    assert_eq!(r.validity.pipeline.len(), 2, "{ctx}: {:?}", r.validity.pipeline);
    for p in &r.validity.pipeline {
        assert_eq!((p.lag_min_seconds, p.lag_max_seconds), (0.005, 0.005), "{ctx}: {p:?}");
        assert!(!p.lagging, "{ctx}: {p:?}");
    }
}

/// Per region × phase: counts exact, percentiles within HDR's 0.1 %; spike windows exact.
pub fn check_latency(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let want = traffic_truth::latency_phases(&t.generated.requests, t.fault_at, t.recovered_at);
    let got: Vec<_> = r.latency.phases.iter().filter(|p| p.service == "frontend").collect();
    assert_eq!(got.len(), want.len(), "{ctx}: latency phases {:?}", r.latency.phases);
    for p in got {
        let w = &want[&(p.region.as_str(), p.phase.as_str())];
        let what = format!("{ctx}: latency {} {}", p.region, p.phase);
        assert_eq!(
            (p.requests, p.bad_requests, p.skipped),
            (w.requests, w.bad, 0),
            "{what}"
        );
        let q = [p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms];
        for (g, w) in q.iter().zip(w.quantiles) {
            let g = g.unwrap_or_else(|| panic!("{what}: percentile missing"));
            assert!(g <= w + 1e-9 && g >= w * 0.999 - 1e-6, "{what}: {q:?} vs truth {:?}", w);
        }
    }
    let want = traffic_truth::spikes(&t.generated.requests, t.fault_at, &traffic_truth::SpikeRule::default());
    let got: Vec<_> = r
        .latency
        .spikes
        .iter()
        .map(|x| {
            let at = |v: &cutover_analyzer::time::Time| v.ns();
            // The edges lie within a window of the merged windows, and in order.
            let (start, end, ws, we) = (at(&x.start), at(&x.end), at(&x.windows_start), at(&x.windows_end));
            let width = traffic_truth::SpikeRule::default().window;
            assert!(
                ws - width <= start && start < end && end <= we + width,
                "{ctx}: spike edges {x:?}"
            );
            (x.region.clone(), x.service.clone(), ws, we, x.windows)
        })
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|x| (x.region.to_string(), "frontend".to_string(), x.start, x.end, x.windows))
        .collect();
    assert_eq!(got, want, "{ctx}: latency spikes");
    check_latency_comparisons(ctx, s, r);
}

/// Each non-baseline phase against the baseline: sample sizes, exact nearest-rank p99s (the
/// region's baseline, else every region's), validity at 20 samples.
fn check_latency_comparisons(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let reqs = &t.generated.requests;
    let phases = traffic_truth::latency_phases(reqs, t.fault_at, t.recovered_at);
    let base_all = reqs.iter().filter(|q| q.start < t.fault_at).count() as u64;
    let mut all: Vec<f64> = reqs
        .iter()
        .filter(|q| q.start < t.fault_at)
        .map(|q| q.duration as f64 / 1e6)
        .collect();
    all.sort_by(f64::total_cmp);
    let mut seen = 0;
    for c in r.latency.comparisons.iter().filter(|c| c.service == "frontend") {
        let what = format!("{ctx}: comparison {} {}", c.region, c.phase);
        let w = &phases[&(c.region.as_str(), c.phase.as_str())];
        let (base_n, base_p99) = match phases.get(&(c.region.as_str(), "baseline")) {
            Some(b) => (b.requests, b.quantiles[2]),
            None => (base_all, traffic_truth::nearest_rank(&all, 0.99).unwrap()),
        };
        assert_eq!((c.requests, c.baseline_requests), (w.requests, base_n), "{what}");
        assert_eq!(
            (c.p99_ms, c.baseline_p99_ms),
            (Some(w.quantiles[2]), Some(base_p99)),
            "{what}"
        );
        assert_eq!(c.valid, w.requests >= 20 && base_n >= 20, "{what}: {:?}", c.reason);
        seen += 1;
    }
    let non_baseline = phases.keys().filter(|(_, p)| *p != "baseline").count();
    assert_eq!(seen, non_baseline, "{ctx}: one comparison per non-baseline phase");
}

pub fn rel(ctx: &str, what: &str, got: Option<f64>, want: f64, tolerance: f64) {
    let got = got.unwrap_or_else(|| panic!("{ctx}: {what} not measured"));
    assert!(
        (got - want).abs() <= tolerance * want.abs().max(1e-12),
        "{ctx}: {what} {got} vs truth {want}"
    );
}

/// Per SLO: drill counts exact, consumed and period budgets within 0.5 %, each burn-rate alert
/// fired (or not) at the truth's instant.
pub fn check_budget(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let drill = (t.moments.t0 + 2 * SEC, t.moments.end);
    assert_eq!(r.budget.slos.len(), 2, "{ctx}: {:?}", r.budget.reason);
    for (got, slo) in r.budget.slos.iter().zip(budget_truth::slos()) {
        let want = budget_truth::budget(&t.generated.requests, &slo, t.fault_at, drill);
        let what = format!("budget {}", slo.name);
        assert_eq!(got.name, slo.name, "{ctx}");
        assert_eq!(
            (got.drill_requests, got.drill_bad_requests),
            want.drill,
            "{ctx}: {what} drill counts"
        );
        rel(
            ctx,
            &what,
            r.budget.baseline.as_ref().and_then(|b| b.requests_per_second),
            want.baseline_rps,
            1e-6,
        );
        rel(ctx, &what, got.allowed_bad_requests, want.allowed, 0.005);
        rel(ctx, &what, got.consumed_fraction, want.consumed, 0.005);
        rel(ctx, &what, got.period_included_fraction, want.included, 0.005);
        rel(ctx, &what, got.period_excluded_fraction, want.excluded, 0.005);
        let alerts: Vec<_> = got
            .alerts
            .iter()
            .map(|a| (a.name.as_str(), a.fired_at.as_ref().map(|v| ns(ctx, &what, Some(v)))))
            .collect();
        assert_eq!(alerts, want.alerts, "{ctx}: {what} burn-rate alerts");
    }
}

/// Each abort criterion: whether and when it held, with that window's counts.
pub fn check_abort(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let data_start = s.events.iter().map(|e| e.event_time_unix_nano).min().unwrap();
    let rules = budget_truth::abort_rules();
    assert_eq!(r.abort.criteria.len(), rules.len(), "{ctx}: {:?}", r.abort.reason);
    for (got, rule) in r.abort.criteria.iter().zip(&rules) {
        let want = budget_truth::abort_at(&t.generated.requests, rule, t.moments.t0 + 2 * SEC, data_start);
        let at = got.abort_at.as_ref().map(|v| ns(ctx, "abort_at", Some(v)));
        let what = format!("{ctx}: abort {}", rule.name);
        assert_eq!(got.should_have_aborted, want.is_some(), "{what}: {got:?}");
        assert_eq!(at, want.map(|w| w.0), "{what}: abort_at");
        if let Some((at, n, bad)) = want {
            assert_eq!((got.requests, got.bad_requests), (n, bad), "{what}: window counts");
            let after = got
                .drill_ended_after_seconds
                .unwrap_or_else(|| panic!("{what}: {got:?}"));
            let want_after = truth::secs(t.moments.end - at);
            assert!(
                (after - want_after).abs() <= 0.001,
                "{what}: drill ended {after} s after, truth {want_after}"
            );
        }
    }
}

/// Every gap of every stream exactly (no extra, none missing) with its class, and the follow
/// check of every primary stream.
pub fn check_gaps(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let rule = telemetry_truth::GapRule::scenarios();
    let mut want: Vec<_> = telemetry_truth::gaps(&s.events, &rule, PRIMARY, t.fault_at)
        .into_iter()
        .map(|g| (g.key, g.start, g.end, g.expected))
        .collect();
    let mut got: Vec<_> = r
        .gaps
        .gaps
        .iter()
        .map(|g| {
            let signal = g.signal.map_or("?", |x| x.as_str());
            let key = (
                g.region.clone(),
                g.service.clone(),
                signal,
                g.metric.clone().unwrap_or_default(),
            );
            let end = g.end.as_ref().map(|e| ns(ctx, "gap end", Some(e)));
            (
                key,
                ns(ctx, "gap start", Some(&g.start)),
                end,
                g.class == GapClass::Expected,
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{ctx}: gaps (stream, start, end, expected)");
    let unexpected = want.iter().filter(|g| !g.3).count() as u64;
    assert_eq!(r.gaps.unexpected_gaps, unexpected, "{ctx}: unexpected gaps");
    let cutover = t.cutover_at.unwrap();
    let want: Vec<_> = telemetry_truth::followed(&s.events, &rule, PRIMARY, t.fault_at, cutover)
        .into_iter()
        .map(|f| (f.key, f.secondary_first, f.status.to_string()))
        .collect();
    let mut got: Vec<_> = r
        .gaps
        .followed
        .iter()
        .map(|f| {
            let key = (
                f.service.clone(),
                f.signal.map_or("?", |x| x.as_str()),
                f.metric.clone().unwrap_or_default(),
            );
            let first = f.secondary_first_at.as_ref().map(|v| ns(ctx, "follow", Some(v)));
            (
                key,
                first,
                serde_json::to_value(f.status).unwrap().as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "{ctx}: followed the cutover");
}

/// Each expected alert: fired, delay and delivery (ms), resolved, late flags; the unexpected
/// firings and those inside the suppression window.
pub fn check_alerts(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let want = telemetry_truth::alerts(&t.generated.alerts, t.fault_at);
    assert_eq!(r.alerts.expected.len(), want.len(), "{ctx}: {:?}", r.alerts.reason);
    for (g, w) in r.alerts.expected.iter().zip(&want) {
        let what = format!("{ctx}: alert {}", w.name);
        assert_eq!(g.alertname, w.name, "{what}");
        assert_eq!(
            (g.fired, g.resolved, g.late, g.delivery_late),
            (w.fired, w.resolved, w.late, w.delivery_late),
            "{what}"
        );
        for (got, want) in [
            (g.delay_seconds, w.delay_seconds),
            (g.delivery_seconds, w.delivery_seconds),
        ] {
            assert_eq!(got.is_some(), want.is_some(), "{what}");
            if let (Some(a), Some(b)) = (got, want) {
                assert!((a - b).abs() <= 0.001, "{what}: {a} vs truth {b}");
            }
        }
    }
    assert_eq!(
        r.alerts.not_fired,
        want.iter().filter(|w| !w.fired).count() as u64,
        "{ctx}"
    );
    let mut unexpected: Vec<String> = r.alerts.unexpected.iter().map(|f| f.alertname.clone()).collect();
    unexpected.sort();
    assert_eq!(
        unexpected,
        telemetry_truth::unexpected_alerts(&t.generated.alerts, t.fault_at),
        "{ctx}"
    );
    let window = &r.alerts.suppression_windows[0];
    let inside: Vec<String> = window.firing.iter().map(|f| f.alertname.clone()).collect();
    let want = telemetry_truth::suppressed(&t.generated.alerts, t.declared_at.unwrap(), t.completed_at);
    assert_eq!(inside, want, "{ctx}: alerts inside the suppression window");
}

/// Residual requests, when the traffic settled, and 401/403 counts per region.
pub fn check_traffic(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let cutover = t.cutover_at.unwrap();
    let want = traffic_truth::residual(&t.generated.requests, cutover);
    let tr = &r.traffic;
    assert_eq!(
        (tr.residual_requests, tr.residual_failed),
        (want.requests, want.failed),
        "{ctx}: residual"
    );
    let last = tr.last_residual_at.as_ref().map(|v| ns(ctx, "last residual", Some(v)));
    assert_eq!(last, want.last_at, "{ctx}: last residual request");
    let settled = tr.settled_at.as_ref().map(|v| ns(ctx, "settled", Some(v)));
    assert_eq!(settled, want.settled_at, "{ctx}: settled_at {:?}", tr.settle_reason);
    let want = traffic_truth::sessions(&t.generated.requests, t.fault_at, cutover);
    let got: BTreeMap<&str, [(u64, u64); 2]> = tr
        .sessions
        .regions
        .iter()
        .map(|x| {
            let counts = [
                (x.baseline_requests, x.baseline_auth_failures),
                (x.after_requests, x.after_auth_failures),
            ];
            (x.region.as_str(), counts)
        })
        .collect();
    assert_eq!(got, want, "{ctx}: session drops [baseline, after] (requests, 401/403)");
}

/// The secondary's CPU gauge after the cutover: points, peak, seconds above 0.8.
pub fn check_capacity(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let cpu = t
        .generated
        .streams
        .iter()
        .find(|x| x.region == "us-west-2" && x.name == "system.cpu.utilization")
        .unwrap();
    let (points, peak, above) = traffic_truth::capacity(&cpu.times, &cpu.values, t.cutover_at.unwrap(), 0.8);
    let g = &r.capacity.gauges[0];
    assert_eq!((g.points, g.peak), (points, peak), "{ctx}: capacity {g:?}");
    let got = g.seconds_above.unwrap_or_else(|| panic!("{ctx}: {:?}", g.reason));
    assert!(
        (got - above).abs() < 1e-6,
        "{ctx}: seconds above {got} vs truth {above}"
    );
}

/// Per destination and side of the cutover: published, lost, duplicated, deliveries; and the
/// exact ids.
pub fn check_messages(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let (want, lost, dup) = flow_truth::messages(&t.generated.messages, t.cutover_at.unwrap());
    assert_eq!(
        r.messages.destinations.len(),
        want.len(),
        "{ctx}: {:?}",
        r.messages.reason
    );
    for d in &r.messages.destinations {
        let w = &want[d.destination.as_str()];
        for (side, got, want) in [("before", &d.before, &w[0]), ("after", &d.after, &w[1])] {
            let got = (
                got.published,
                got.lost,
                got.duplicated,
                got.duplicated_messages,
                got.deliveries,
            );
            let want = (
                want.published,
                want.lost,
                want.duplicated,
                want.duplicated_messages,
                want.deliveries,
            );
            assert_eq!(
                got, want,
                "{ctx}: messages {} {side} (published, lost, dup, dup msgs, deliveries)",
                d.destination
            );
        }
    }
    let mut got_lost: Vec<String> = r.messages.lost.iter().map(|m| m.message_id.clone()).collect();
    let mut got_dup: Vec<String> = r.messages.duplicated.iter().map(|m| m.message_id.clone()).collect();
    got_lost.sort();
    got_dup.sort();
    assert_eq!((got_lost, got_dup), (lost, dup), "{ctx}: lost and duplicated ids");
}

/// Cross-region traces, no orphans or broken traces, no new edges, skew per region pair.
pub fn check_traces(ctx: &str, s: &Scenario, r: &Report) {
    let t = &s.truth;
    let tr = &r.traces;
    let g = &t.generated;
    assert_eq!(
        tr.cross_region_traces,
        flow_truth::cross_region_traces(&g.calls, &g.messages),
        "{ctx}"
    );
    assert_eq!(
        (tr.orphan_spans, tr.broken_traces),
        (0, Some(0)),
        "{ctx}: orphans, broken"
    );
    assert!(tr.new_edges.is_empty(), "{ctx}: {:?}", tr.new_edges);
    let want = flow_truth::skew(&g.calls, 1.0);
    let got: BTreeMap<(&str, &str), u64> = tr
        .skew
        .iter()
        .map(|x| ((x.parent_region.as_str(), x.child_region.as_str()), x.skewed))
        .collect();
    for ((p, c), (_, skewed)) in &want {
        assert_eq!(
            got.get(&(*p, *c)).copied().unwrap_or(0),
            *skewed,
            "{ctx}: skew {p} -> {c}"
        );
    }
    let total: u64 = got.values().sum();
    assert_eq!(
        total,
        want.values().map(|v| v.1).sum::<u64>(),
        "{ctx}: skew elsewhere {:?}",
        tr.skew
    );
}
