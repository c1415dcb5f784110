//! Truth of the request-based sections (latency, error budget, residual traffic), from the
//! generated requests, by the definitions in the sections' module docs. Every request here is
//! a `frontend` request (the SLI service).

use std::collections::BTreeMap;

use super::events::region;
use crate::sim::{Ns, Request};

/// Nearest-rank quantile of an ascending sample: the value of rank `ceil(q n)`.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
}

fn duration_ms(r: &Request) -> f64 {
    r.duration as f64 / 1e6
}

/// Latency of one region in one phase (percentiles exact, ms).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseLatencyTruth {
    /// Requests.
    pub requests: u64,
    /// Bad requests.
    pub bad: u64,
    /// p50, p90, p99, p99.9 and max, ms.
    pub quantiles: [f64; 5],
}

/// Phase of a request start: baseline before the fault, outage until recovery, recovered.
pub fn phase(start: Ns, fault: Ns, recovered: Option<Ns>) -> &'static str {
    if start < fault {
        "baseline"
    } else if recovered.is_none_or(|r| start < r) {
        "outage"
    } else {
        "recovered"
    }
}

/// Per (region, phase).
pub fn latency_phases(
    requests: &[Request],
    fault: Ns,
    recovered: Option<Ns>,
) -> BTreeMap<(&'static str, &'static str), PhaseLatencyTruth> {
    let mut groups: BTreeMap<(&'static str, &'static str), Vec<&Request>> = BTreeMap::new();
    for r in requests {
        groups
            .entry((region(r.primary), phase(r.start, fault, recovered)))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let mut d: Vec<f64> = rs.iter().map(|r| duration_ms(r)).collect();
            d.sort_by(f64::total_cmp);
            let q = |p| nearest_rank(&d, p).unwrap_or(f64::NAN);
            let t = PhaseLatencyTruth {
                requests: rs.len() as u64,
                bad: rs.iter().filter(|r| r.bad()).count() as u64,
                quantiles: [q(0.5), q(0.9), q(0.99), q(0.999), d[d.len() - 1]],
            };
            (k, t)
        })
        .collect()
}

/// The latency rule of the scenarios' spec (the section's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeRule {
    /// Tumbling window, ns (one bound on the fault).
    pub window: Ns,
    /// p99 above this × baseline p99 …
    pub factor: f64,
    /// … and above this many ms …
    pub floor_ms: f64,
    /// … with at least this many requests.
    pub min_samples: usize,
}

impl Default for SpikeRule {
    fn default() -> Self {
        SpikeRule {
            window: 10_000_000_000,
            factor: 3.0,
            floor_ms: 100.0,
            min_samples: 20,
        }
    }
}

/// A merged run of spike windows of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeTruth {
    /// Region.
    pub region: &'static str,
    /// Start of the first spike window.
    pub start: Ns,
    /// End of the last one.
    pub end: Ns,
    /// Windows merged.
    pub windows: u64,
}

/// Spike windows per region, merged when adjacent. The baseline p99 is the region's before
/// the fault, else the service's over all regions.
pub fn spikes(requests: &[Request], fault: Ns, rule: &SpikeRule) -> Vec<SpikeTruth> {
    let sorted = |it: &mut dyn Iterator<Item = &Request>| {
        let mut d: Vec<f64> = it.map(duration_ms).collect();
        d.sort_by(f64::total_cmp);
        d
    };
    let all_base = sorted(&mut requests.iter().filter(|r| r.start < fault));
    let mut out = Vec::new();
    for primary in [true, false] {
        let base = sorted(&mut requests.iter().filter(|r| r.primary == primary && r.start < fault));
        let Some(base_p99) = nearest_rank(&base, 0.99).or_else(|| nearest_rank(&all_base, 0.99)) else {
            continue;
        };
        let mut windows: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for r in requests.iter().filter(|r| r.primary == primary) {
            windows
                .entry((r.start - fault).div_euclid(rule.window))
                .or_default()
                .push(duration_ms(r));
        }
        let mut run: Option<SpikeTruth> = None;
        for (i, mut d) in windows {
            d.sort_by(f64::total_cmp);
            let p99 = nearest_rank(&d, 0.99).unwrap_or(0.0);
            let spike = p99 > rule.factor * base_p99 && p99 > rule.floor_ms && d.len() >= rule.min_samples;
            let start = fault + i * rule.window;
            match (&mut run, spike) {
                (Some(s), true) if s.end == start => {
                    s.end += rule.window;
                    s.windows += 1;
                }
                (_, true) => {
                    out.extend(run.take());
                    run = Some(SpikeTruth {
                        region: region(primary),
                        start,
                        end: start + rule.window,
                        windows: 1,
                    });
                }
                (_, false) => out.extend(run.take()),
            }
        }
        out.extend(run);
    }
    out
}

/// The residual-traffic rule (the section's defaults).
pub const RESIDUAL_WINDOW: Ns = 10_000_000_000;
/// The primary's share under which residual traffic counts as gone.
pub const RESIDUAL_THRESHOLD: f64 = 0.01;

/// What the traffic section must report.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualTruth {
    /// Primary requests starting at or after the cutover.
    pub requests: u64,
    /// Of them, bad.
    pub failed: u64,
    /// The last of them.
    pub last_at: Option<Ns>,
    /// End of the last window (aligned on the cutover) whose primary share is at least the
    /// threshold, the cutover itself when none is; `None` when that window is the last one with
    /// requests (never settled within the data).
    pub settled_at: Option<Ns>,
}

/// Residual traffic in the primary after `cutover`.
pub fn residual(requests: &[Request], cutover: Ns) -> ResidualTruth {
    let after: Vec<&Request> = requests.iter().filter(|r| r.start >= cutover).collect();
    let mut windows: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for r in &after {
        let w = windows.entry((r.start - cutover) / RESIDUAL_WINDOW).or_default();
        w.0 += 1;
        w.1 += u64::from(r.primary);
    }
    let last_with_share = windows
        .iter()
        .filter(|(_, (n, p))| *p as f64 / *n as f64 >= RESIDUAL_THRESHOLD)
        .map(|(k, _)| *k)
        .max();
    let last_window = windows.keys().max().copied();
    let settled_at = match last_with_share {
        None => Some(cutover),
        Some(k) if Some(k) == last_window => None,
        Some(k) => Some(cutover + (k + 1) * RESIDUAL_WINDOW),
    };
    let primary: Vec<&&Request> = after.iter().filter(|r| r.primary).collect();
    ResidualTruth {
        requests: primary.len() as u64,
        failed: primary.iter().filter(|r| r.bad()).count() as u64,
        last_at: primary.iter().map(|r| r.start).max(),
        settled_at,
    }
}

/// 401/403 answers per region with requests before the fault or after the cutover:
/// [baseline, after] as (requests, auth failures); the baseline (before the fault) is the
/// region's, or that of all regions when it had none.
pub fn sessions(requests: &[Request], fault: Ns, cutover: Ns) -> BTreeMap<&'static str, [(u64, u64); 2]> {
    let count = |f: &dyn Fn(&Request) -> bool| {
        requests.iter().filter(|r| f(r)).fold((0, 0), |(n, a), r| {
            (n + 1, a + u64::from(matches!(r.status, 401 | 403)))
        })
    };
    let mut out = BTreeMap::new();
    for primary in [true, false] {
        let after = count(&|r| r.primary == primary && r.start >= cutover);
        let mut base = count(&|r| r.primary == primary && r.start < fault);
        if base.0 == 0 && after.0 == 0 {
            continue;
        }
        if base.0 == 0 {
            base = count(&|r| r.start < fault);
        }
        out.insert(region(primary), [base, after]);
    }
    out
}

/// Capacity of one gauge series: points, peak and seconds above `threshold` (step rule: a
/// point above holds until the next point; the last point adds nothing).
pub fn capacity(times: &[Ns], values: &[f64], from: Ns, threshold: f64) -> (u64, Option<f64>, f64) {
    let pts: Vec<(Ns, f64)> = times
        .iter()
        .zip(values)
        .filter(|(t, _)| **t >= from)
        .map(|(t, v)| (*t, *v))
        .collect();
    let peak = pts
        .iter()
        .map(|p| p.1)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let above: Ns = pts
        .windows(2)
        .filter(|w| w[0].1 > threshold)
        .map(|w| w[1].0 - w[0].0)
        .sum();
    (pts.len() as u64, peak, above as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SEC;

    fn req(primary: bool, s: i64, status: u16, ms: i64) -> Request {
        Request {
            primary,
            start: s * SEC,
            duration: ms * 1_000_000,
            status,
        }
    }

    #[test]
    fn nearest_rank_takes_the_ceil_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.99), Some(198.0));
        assert_eq!(nearest_rank(&v, 0.5), Some(100.0));
        assert_eq!(nearest_rank(&[7.0], 0.999), Some(7.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn residual_settles_after_the_last_window_above_the_threshold() {
        // Cutover at 100 s. Window 0 [100, 110): 1 primary of 2; window 1: 0 of 1; window 2:
        // 0 of 1. Settled at the end of window 0.
        let r = vec![
            req(true, 101, 503, 5),
            req(false, 102, 200, 5),
            req(false, 115, 200, 5),
            req(false, 125, 200, 5),
        ];
        let t = residual(&r, 100 * SEC);
        assert_eq!(
            (t.requests, t.failed, t.last_at, t.settled_at),
            (1, 1, Some(101 * SEC), Some(110 * SEC))
        );
        // The primary still has a share in the last window: never settled.
        let r = vec![req(false, 101, 200, 5), req(true, 125, 503, 5)];
        assert_eq!(residual(&r, 100 * SEC).settled_at, None);
        // No primary request after the cutover: settled at the cutover.
        assert_eq!(residual(&r[..1], 100 * SEC).settled_at, Some(100 * SEC));
    }

    #[test]
    fn capacity_holds_each_value_until_the_next_point() {
        let t = [0, 10 * SEC, 20 * SEC, 30 * SEC, 40 * SEC];
        let v = [0.9, 0.5, 0.85, 0.95, 0.99];
        // From 10 s: 0.5 (no), 0.85 (10 s), 0.95 (10 s), 0.99 is the last point (adds nothing).
        assert_eq!(capacity(&t, &v, 10 * SEC, 0.8), (4, Some(0.99), 20.0));
    }

    #[test]
    fn adjacent_spike_windows_merge() {
        // Baseline (before 100 s): p99 5 ms. Windows from the fault: [100, 110) slow, [110, 120)
        // slow, [120, 130) fast, [130, 140) slow.
        let mut r: Vec<Request> = (0..50).map(|i| req(false, 50 + i, 200, 5)).collect();
        for (w, ms) in [(100, 500), (110, 500), (120, 5), (130, 500)] {
            r.extend((0..20).map(|i| req(false, w, 200, ms + i)));
        }
        let s = spikes(&r, 100 * SEC, &SpikeRule::default());
        let got: Vec<_> = s.iter().map(|x| (x.start / SEC, x.end / SEC, x.windows)).collect();
        assert_eq!(got, [(100, 120, 2), (130, 140, 1)]);
    }
}
