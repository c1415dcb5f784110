//! Truth of the error budget and the abort criteria, from the generated requests, by the
//! definitions in `analyzer/src/measures/budget.rs` and `abort.rs` (module docs).

use super::traffic_truth::nearest_rank;
use super::truth::secs;
use crate::sim::{Ns, Request, SEC};

/// The budget and abort parts of every scenario's spec.
pub const BUDGET_SPEC: &str = "\
budget:
  slos:
    - { name: availability, objective: 0.999, period_days: 30 }
    - { name: fast, objective: 0.99, period_days: 30, latency_threshold_ms: 500 }
abort:
  criteria:
    - { name: checkout down, error_ratio_above: 0.5, for_seconds: 30 }
    - { name: slow secondary, latency_p99_above_ms: 500, for_seconds: 10, region: us-west-2 }";

/// The budget's evaluation step (the spec's default).
pub const BUDGET_STEP: Ns = 10 * SEC;
/// The abort step (the spec's default).
pub const ABORT_STEP: Ns = SEC;

/// An SLO of [`BUDGET_SPEC`].
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Name.
    pub name: &'static str,
    /// Objective.
    pub objective: f64,
    /// Period, days.
    pub period_days: f64,
    /// A request slower than this is bad too.
    pub latency_threshold_ms: Option<f64>,
}

/// The SLOs of [`BUDGET_SPEC`].
pub fn slos() -> [Slo; 2] {
    [
        Slo {
            name: "availability",
            objective: 0.999,
            period_days: 30.0,
            latency_threshold_ms: None,
        },
        Slo {
            name: "fast",
            objective: 0.99,
            period_days: 30.0,
            latency_threshold_ms: Some(500.0),
        },
    ]
}

/// The multi-window alerts: (name, factor, long window, short window).
pub const BURN_ALERTS: [(&str, f64, Ns, Ns); 3] = [
    ("14.4x_1h_5m", 14.4, 3600 * SEC, 300 * SEC),
    ("6x_6h_30m", 6.0, 21_600 * SEC, 1800 * SEC),
    ("1x_3d_6h", 1.0, 259_200 * SEC, 21_600 * SEC),
];

/// What the budget section must report for one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetTruth {
    /// SLO name.
    pub name: &'static str,
    /// Baseline requests per second.
    pub baseline_rps: f64,
    /// Allowed bad requests in the period.
    pub allowed: f64,
    /// Requests and bad requests in the drill window.
    pub drill: (u64, u64),
    /// Drill bad ÷ allowed.
    pub consumed: f64,
    /// All observed bad ÷ allowed.
    pub included: f64,
    /// Observed bad outside the drill window ÷ allowed.
    pub excluded: f64,
    /// Each burn-rate alert: name and when it fired.
    pub alerts: Vec<(&'static str, Option<Ns>)>,
}

fn bad_for(r: &Request, slo: &Slo) -> bool {
    r.bad() || slo.latency_threshold_ms.is_some_and(|t| r.duration as f64 / 1e6 > t)
}

/// The instants `origin + k × step` from the step after the first request's step to the step
/// after the last one's.
fn instants(starts: impl Iterator<Item = Ns> + Clone, origin: Ns, step: Ns) -> Vec<Ns> {
    let k = |t: Ns| (t - origin).div_euclid(step);
    let (Some(first), Some(last)) = (starts.clone().min(), starts.max()) else {
        return Vec::new();
    };
    (k(first) + 1..=k(last) + 1).map(|k| origin + k * step).collect()
}

/// The budget of `slo` over `requests` (in start order).
pub fn budget(requests: &[Request], slo: &Slo, fault: Ns, drill: (Ns, Ns)) -> BudgetTruth {
    let base: Vec<Ns> = requests.iter().filter(|r| r.start < fault).map(|r| r.start).collect();
    let rps = (base.len() - 1) as f64 / secs(base[base.len() - 1] - base[0]);
    let allowed = (1.0 - slo.objective) * rps * slo.period_days * 86_400.0;
    let in_drill = |r: &&Request| r.start >= drill.0 && r.start <= drill.1;
    let drill_n = requests.iter().filter(in_drill).count() as u64;
    let drill_bad = requests.iter().filter(in_drill).filter(|r| bad_for(r, slo)).count() as u64;
    let all_bad = requests.iter().filter(|r| bad_for(r, slo)).count() as u64;
    let burn = |t: Ns, w: Ns| {
        let (n, bad) = requests
            .iter()
            .filter(|r| r.start >= t - w && r.start < t)
            .fold((0u64, 0u64), |(n, b), r| (n + 1, b + u64::from(bad_for(r, slo))));
        (n > 0).then(|| bad as f64 / n as f64 / (1.0 - slo.objective))
    };
    let times = instants(requests.iter().map(|r| r.start), drill.0, BUDGET_STEP);
    let alerts = BURN_ALERTS
        .iter()
        .map(|(name, factor, long, short)| {
            let fired = times.iter().copied().find(|t| {
                burn(*t, *long).is_some_and(|b| b > *factor) && burn(*t, *short).is_some_and(|b| b > *factor)
            });
            (*name, fired)
        })
        .collect();
    BudgetTruth {
        name: slo.name,
        baseline_rps: rps,
        allowed,
        drill: (drill_n, drill_bad),
        consumed: drill_bad as f64 / allowed,
        included: all_bad as f64 / allowed,
        excluded: (all_bad - drill_bad) as f64 / allowed,
        alerts,
    }
}

/// An abort criterion of [`BUDGET_SPEC`].
#[derive(Debug, Clone, PartialEq)]
pub struct AbortRule {
    /// Name.
    pub name: &'static str,
    /// Error ratio above which it holds.
    pub error_ratio_above: Option<f64>,
    /// p99 above which it holds, ms.
    pub latency_p99_above_ms: Option<f64>,
    /// Window length.
    pub window: Ns,
    /// Only requests of this side (`Some(false)` = secondary).
    pub primary: Option<bool>,
}

/// The criteria of [`BUDGET_SPEC`].
pub fn abort_rules() -> [AbortRule; 2] {
    [
        AbortRule {
            name: "checkout down",
            error_ratio_above: Some(0.5),
            latency_p99_above_ms: None,
            window: 30 * SEC,
            primary: None,
        },
        AbortRule {
            name: "slow secondary",
            error_ratio_above: None,
            latency_p99_above_ms: Some(500.0),
            window: 10 * SEC,
            primary: Some(false),
        },
    ]
}

/// The first instant the criterion holds, with the window's requests and bad requests.
pub fn abort_at(requests: &[Request], rule: &AbortRule, drill_start: Ns, data_start: Ns) -> Option<(Ns, u64, u64)> {
    let mine: Vec<&Request> = requests
        .iter()
        .filter(|r| rule.primary.is_none_or(|p| r.primary == p))
        .collect();
    let times = instants(mine.iter().map(|r| r.start), drill_start, ABORT_STEP);
    times.into_iter().find_map(|t| {
        if t - rule.window < data_start {
            return None;
        }
        let w: Vec<&&Request> = mine
            .iter()
            .filter(|r| r.start >= t - rule.window && r.start < t)
            .collect();
        if w.is_empty() {
            return None;
        }
        let bad = w.iter().filter(|r| r.bad()).count() as u64;
        let ratio_ok = rule.error_ratio_above.is_none_or(|x| bad as f64 / w.len() as f64 > x);
        let mut d: Vec<f64> = w.iter().map(|r| r.duration as f64 / 1e6).collect();
        d.sort_by(f64::total_cmp);
        let p99_ok = rule
            .latency_p99_above_ms
            .is_none_or(|x| nearest_rank(&d, 0.99).is_some_and(|p| p > x));
        (ratio_ok && p99_ok).then_some((t, w.len() as u64, bad))
    })
}
