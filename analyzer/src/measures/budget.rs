//! Error budget consumed by the drill, burn rates and multi-window burn-rate alerts.
//!
//! Spec:
//!
//! ```yaml
//! budget:
//!   step_seconds: 10            # evaluation step of the burn rates; must divide 300 (default 10)
//!   slos:
//!     - name: availability
//!       objective: 0.999        # fraction of good requests, in (0, 1)
//!       period_days: 30         # the SLO period (default 30)
//!     - name: fast
//!       objective: 0.99
//!       latency_threshold_ms: 500   # optional: a request slower than this is bad too
//!       max_drill_budget_percent: 5 # optional target: the drill may burn at most 5 % of the budget
//! ```
//!
//! Definitions (all over the `requests` view; times are request start times):
//! - A request is **bad for an SLO** when it is bad (see `docs/conventions.md`) or, when the SLO
//!   has `latency_threshold_ms`, when its `duration_ms` is above the threshold.
//! - **Drill window**: `[drill_start, drill_end]`, both ends included: the `drill_started` and
//!   `drill_ended` markers, else the first and last event of the log ([`Timeline::drill_start`],
//!   [`Timeline::drill_end`]). Baseline errors inside the window count: the window is what the
//!   drill put at risk.
//! - **Baseline rate** (requests per second): over the n requests that start before `fault_at`,
//!   `(n − 1) ÷ (last start − first start)`, the number of gaps between consecutive requests
//!   over their total length (exact for steady traffic). Needs n ≥ 2 and a fault.
//! - **Expected requests in the period** = baseline rate × `period_days` × 86 400.
//! - **Allowed bad requests** = (1 − objective) × expected requests.
//! - **Budget consumed by the drill** = bad requests in the drill window ÷ allowed bad requests
//!   (a fraction; the percent is 100 × that).
//! - **Period budget, included / excluded**: bad requests over all the observed data ÷ allowed
//!   bad requests (included), and the same without the requests of the drill window (excluded:
//!   they are dropped, not replaced by baseline traffic). The difference is the drill's share.
//! - **Burn rate** over a window of length W at instant t: (bad ÷ requests that start in
//!   `[t − W, t)`) ÷ (1 − objective); none when the window has no request. Instants are
//!   `t = drill_start + k × step_seconds` for every integer k from the step after the first
//!   request's step to the step after the last request's (so every request is seen). Windows are
//!   5m, 30m, 1h and 6h; the peak is the highest burn (earliest instant on ties).
//! - **Coverage** of a window: the length of `[t − W, t)` ∩ `[data_start, data_end]` ÷ W. A
//!   window reaching before the log holds only what the log has; coverage says how much.
//! - **Multi-window alerts**: 14.4× over 1h and 5m, 6× over 6h and 30m, 1× over 3d and 6h. An
//!   alert fires at the first instant where both burns are above its factor.
//! - **Series** (for the chart): at `t = drill_start + k × step` for k = 1, 2, … until the
//!   first t past `drill_end`: bad requests of the drill window that start before t ÷ allowed
//!   bad requests, and the 5m burn at t.

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::{int_at, one, ts_at};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `budget_baseline.sql`.
pub const BASELINE: &Query = &queries::BUDGET_BASELINE;
/// `budget_buckets.sql`.
pub const BUCKETS: &Query = &queries::BUDGET_BUCKETS;

const NS: i64 = 1_000_000_000;

/// Burn-rate windows reported: (label, seconds).
pub const WINDOWS: [(&str, u64); 4] = [("5m", 300), ("30m", 1800), ("1h", 3600), ("6h", 21_600)];

/// Multi-window burn-rate alerts: (name, factor, long window seconds, short window seconds).
pub const ALERTS: [(&str, f64, u64, u64); 3] = [
    ("14.4x_1h_5m", 14.4, 3600, 300),
    ("6x_6h_30m", 6.0, 21_600, 1800),
    ("1x_3d_6h", 1.0, 259_200, 21_600),
];

/// The `budget` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Service level objectives; none means the section is not measured.
    #[serde(default)]
    pub slos: Vec<SloSpec>,
    /// Evaluation step of burn rates, alerts and the series, seconds; must divide 300.
    #[serde(default = "default_step")]
    pub step_seconds: u32,
}

fn default_step() -> u32 {
    10
}

impl Default for BudgetSpec {
    fn default() -> Self {
        BudgetSpec {
            slos: Vec::new(),
            step_seconds: default_step(),
        }
    }
}

/// One service level objective.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Name shown in the report.
    pub name: String,
    /// Target fraction of good requests, in (0, 1), e.g. 0.999.
    pub objective: f64,
    /// Length of the SLO period, days.
    #[serde(default = "default_period")]
    pub period_days: f64,
    /// When set, a request slower than this (milliseconds) is bad too.
    #[serde(default)]
    pub latency_threshold_ms: Option<f64>,
    /// Target: the drill may consume at most this percent of the period's budget (optional;
    /// without it the SLO has no verdict).
    #[serde(default)]
    pub max_drill_budget_percent: Option<f64>,
}

fn default_period() -> f64 {
    30.0
}

impl BudgetSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if self.step_seconds == 0 || 300 % self.step_seconds != 0 {
            return Err(format!(
                "step_seconds must divide 300 (the 5m window), got {}",
                self.step_seconds
            ));
        }
        for (i, s) in self.slos.iter().enumerate() {
            if s.name.is_empty() {
                return Err(format!("slos[{i}].name must not be empty"));
            }
            if self.slos[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("slos: name {:?} appears twice", s.name));
            }
            if !(s.objective > 0.0 && s.objective < 1.0) {
                return Err(format!("slos[{i}].objective must be in (0, 1), got {}", s.objective));
            }
            if !(s.period_days > 0.0 && s.period_days.is_finite()) {
                return Err(format!("slos[{i}].period_days must be a positive number"));
            }
            if let Some(l) = s.latency_threshold_ms
                && !(l > 0.0 && l.is_finite())
            {
                return Err(format!("slos[{i}].latency_threshold_ms must be a positive number"));
            }
        }
        Ok(())
    }
}

/// The `budget` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Budget {
    /// Why the section is not measurable.
    pub reason: Option<String>,
    /// Evaluation step, seconds.
    pub step_seconds: u32,
    /// Start of the drill window.
    pub drill_start: Option<Time>,
    /// End of the drill window (included).
    pub drill_end: Option<Time>,
    /// The baseline rate behind every expected-request figure.
    pub baseline: Option<BaselineRate>,
    /// One entry per SLO of the spec.
    pub slos: Vec<SloBudget>,
}

/// SLI traffic before the fault.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BaselineRate {
    /// Requests starting before the fault (the sample size).
    pub requests: u64,
    /// Start of the first of them.
    pub first_start: Option<Time>,
    /// Start of the last of them.
    pub last_start: Option<Time>,
    /// (requests − 1) ÷ (last − first), per second.
    pub requests_per_second: Option<f64>,
    /// Why there is no rate.
    pub reason: Option<String>,
}

/// The budget of one SLO.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SloBudget {
    /// The SLO's name.
    pub name: String,
    /// Its objective.
    pub objective: f64,
    /// Its period, days.
    pub period_days: f64,
    /// Its latency threshold, ms.
    pub latency_threshold_ms: Option<f64>,
    /// Baseline rate × period.
    pub expected_requests: Option<f64>,
    /// (1 − objective) × expected requests.
    pub allowed_bad_requests: Option<f64>,
    /// Requests in the drill window.
    pub drill_requests: u64,
    /// Bad requests (for this SLO) in the drill window.
    pub drill_bad_requests: u64,
    /// Drill bad requests ÷ allowed bad requests.
    pub consumed_fraction: Option<f64>,
    /// 100 × `consumed_fraction`.
    pub consumed_percent: Option<f64>,
    /// The spec's `max_drill_budget_percent`.
    pub max_drill_budget_percent: Option<f64>,
    /// `consumed_percent ≤ max_drill_budget_percent`; null without a target or a figure.
    pub met: Option<bool>,
    /// Requests in the whole log.
    pub observed_requests: u64,
    /// Bad requests in the whole log.
    pub observed_bad_requests: u64,
    /// Observed bad requests ÷ allowed bad requests.
    pub period_included_fraction: Option<f64>,
    /// Observed bad requests outside the drill window ÷ allowed bad requests.
    pub period_excluded_fraction: Option<f64>,
    /// Peak burn per window length.
    pub burn: Vec<BurnPeak>,
    /// The multi-window burn-rate alerts.
    pub alerts: Vec<BurnAlert>,
    /// Cumulative budget and 5m burn per step over the drill.
    pub series: Vec<BudgetPoint>,
    /// Why the budget figures are missing.
    pub reason: Option<String>,
}

/// The highest burn over one window length.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BurnPeak {
    /// `5m`, `30m`, `1h` or `6h`.
    pub window: String,
    /// Window length, seconds.
    pub window_seconds: u64,
    /// The peak burn (none when no window held a request).
    pub peak_burn: Option<f64>,
    /// The instant of the peak (the window's end, excluded).
    pub peak_at: Option<Time>,
    /// Requests in the peak window.
    pub requests: u64,
    /// Bad requests in the peak window.
    pub bad_requests: u64,
    /// Coverage of the peak window (fraction of it inside the log).
    pub coverage: Option<f64>,
    /// Highest coverage any window of this length reached.
    pub max_coverage: f64,
}

/// Whether a multi-window burn-rate alert would have fired.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BurnAlert {
    /// `14.4x_1h_5m`, `6x_6h_30m` or `1x_3d_6h`.
    pub name: String,
    /// Both burns must be above this.
    pub factor: f64,
    /// Long window, seconds.
    pub long_window_seconds: u64,
    /// Short window, seconds.
    pub short_window_seconds: u64,
    /// Fired at some instant.
    pub fired: bool,
    /// The first such instant.
    pub fired_at: Option<Time>,
    /// Long-window burn then.
    pub long_burn: Option<f64>,
    /// Short-window burn then.
    pub short_burn: Option<f64>,
    /// Coverage of the long window then.
    pub long_coverage: Option<f64>,
    /// Coverage of the short window then.
    pub short_coverage: Option<f64>,
}

/// One point of the budget chart.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BudgetPoint {
    /// The instant.
    pub at: Time,
    /// Drill bad requests before `at` ÷ allowed bad requests.
    pub consumed_fraction: Option<f64>,
    /// 5m burn at `at`.
    pub burn_5m: Option<f64>,
}

/// Rounds to `digits` decimals so re-runs print identical figures.
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// Per-step bucket counts with prefix sums, for trailing-window sums in O(1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    /// Instant of bucket 0's start, ns.
    pub origin: i64,
    /// Bucket length, ns.
    pub step: i64,
    /// Index of the first bucket with data.
    pub first: i64,
    /// Per column: `prefix[c][i]` = sum of buckets `first .. first + i`.
    prefix: Vec<Vec<u64>>,
}

impl Grid {
    /// Builds the grid from rows of `bucket` and the count columns `cols`; `None` without rows.
    pub fn from_rows(
        rows: Option<&RecordBatch>,
        cols: &[&str],
        origin: i64,
        step: i64,
    ) -> Result<Option<Grid>, AnalyzeError> {
        let Some(b) = rows else { return Ok(None) };
        let mut buckets = Vec::with_capacity(b.num_rows());
        for r in 0..b.num_rows() {
            buckets.extend(int_at(b, "bucket", r)?);
        }
        let (Some(&first), Some(&last)) = (buckets.first(), buckets.last()) else {
            return Ok(None);
        };
        let len = (last - first + 1) as usize;
        let mut prefix = Vec::with_capacity(cols.len());
        for col in cols {
            let mut dense = vec![0u64; len];
            for r in 0..b.num_rows() {
                if let Some(k) = int_at(b, "bucket", r)? {
                    dense[(k - first) as usize] = int_at(b, col, r)?.unwrap_or(0).max(0) as u64;
                }
            }
            let mut p = Vec::with_capacity(len + 1);
            p.push(0u64);
            for v in dense {
                p.push(p.last().copied().unwrap_or(0) + v);
            }
            prefix.push(p);
        }
        Ok(Some(Grid {
            origin,
            step,
            first,
            prefix,
        }))
    }

    /// Index of the last bucket with data.
    pub fn last(&self) -> i64 {
        self.first + self.prefix[0].len() as i64 - 2
    }

    /// The instants evaluated: the end of the first bucket with data to the end of the last.
    pub fn instants(&self) -> std::ops::RangeInclusive<i64> {
        self.first + 1..=self.last() + 1
    }

    /// Instant `k` in ns.
    pub fn at(&self, k: i64) -> i64 {
        self.origin + k * self.step
    }

    /// Sum of column `col` over buckets `from .. to` (to excluded).
    pub fn sum(&self, col: usize, from: i64, to: i64) -> u64 {
        let p = &self.prefix[col];
        let idx = |k: i64| (k - self.first).clamp(0, p.len() as i64 - 1) as usize;
        p[idx(to)] - p[idx(from).min(idx(to))]
    }

    /// Sum of column `col` over the window of `steps` buckets ending at instant `k`.
    pub fn window(&self, col: usize, k: i64, steps: i64) -> u64 {
        self.sum(col, k - steps, k)
    }
}

/// Fraction of `[t − w, t)` inside `[data_start, data_end]`.
pub(crate) fn coverage(t: i64, w: i64, data_start: i64, data_end: i64) -> f64 {
    let lo = (t - w).max(data_start);
    let hi = t.min(data_end);
    ((hi - lo).max(0) as f64 / w as f64).min(1.0)
}

/// What every SLO's measurement shares.
struct Frame {
    drill_start: i64,
    drill_end: i64,
    data_start: i64,
    data_end: i64,
    step: i64,
    rate: Option<f64>,
}

const REQUESTS: usize = 0;
const BAD: usize = 1;
const DRILL_REQUESTS: usize = 2;
const DRILL_BAD: usize = 3;

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Budget, AnalyzeError> {
    let s = &spec.budget;
    let mut out = Budget {
        step_seconds: s.step_seconds,
        drill_start: timeline.drill_start().map(Time::new),
        drill_end: timeline.drill_end().map(Time::new),
        ..Default::default()
    };
    if s.slos.is_empty() {
        out.reason = Some("the spec names no budget.slos".into());
        return Ok(out);
    }
    if super::tail_sampled(spec) {
        out.reason = Some(super::TAIL_SAMPLED.into());
        return Ok(out);
    }
    let (Some(drill_start), Some(drill_end), Some(data_start), Some(data_end)) = (
        timeline.drill_start(),
        timeline.drill_end(),
        timeline.data_start,
        timeline.data_end,
    ) else {
        out.reason = Some("the log is empty".into());
        return Ok(out);
    };
    let baseline = baseline(analyzer, timeline.fault_at).await?;
    let frame = Frame {
        drill_start,
        drill_end,
        data_start,
        data_end,
        step: i64::from(s.step_seconds) * NS,
        rate: baseline.requests_per_second,
    };
    for slo in &s.slos {
        if spec.sli.metrics.is_some() && slo.latency_threshold_ms.is_some() {
            out.slos.push(SloBudget {
                name: slo.name.clone(),
                objective: slo.objective,
                period_days: slo.period_days,
                latency_threshold_ms: slo.latency_threshold_ms,
                max_drill_budget_percent: slo.max_drill_budget_percent,
                reason: Some(super::NO_DURATIONS.into()),
                ..Default::default()
            });
            continue;
        }
        out.slos.push(measure_slo(analyzer, slo, &frame).await?);
    }
    out.baseline = Some(BaselineRate {
        requests_per_second: baseline.requests_per_second.map(|v| round(v, 6)),
        ..baseline
    });
    Ok(out)
}

/// The baseline rate (`budget_baseline.sql`).
async fn baseline(analyzer: &Analyzer, fault_at: Option<i64>) -> Result<BaselineRate, AnalyzeError> {
    let Some(fault_at) = fault_at else {
        return Ok(BaselineRate {
            reason: Some("no fault_injected marker, so there is no baseline before the fault".into()),
            ..Default::default()
        });
    };
    let sql = queries::fill(BASELINE, &[("fault_at", Param::Time(fault_at))])?;
    let row = one(analyzer.sql(&sql).await?)?;
    let n = row
        .as_ref()
        .map(|b| int_at(b, "requests", 0))
        .transpose()?
        .flatten()
        .unwrap_or(0) as u64;
    let first = row.as_ref().map(|b| ts_at(b, "first_start", 0)).transpose()?.flatten();
    let last = row.as_ref().map(|b| ts_at(b, "last_start", 0)).transpose()?.flatten();
    let (rate, reason) = match (first, last) {
        (Some(f), Some(l)) if n >= 2 && l > f => (Some((n - 1) as f64 / ((l - f) as f64 / NS as f64)), None),
        _ => (
            None,
            Some(format!(
                "{n} SLI request(s) before the fault; the baseline rate needs two at different times"
            )),
        ),
    };
    Ok(BaselineRate {
        requests: n,
        first_start: first.map(Time::new),
        last_start: last.map(Time::new),
        requests_per_second: rate,
        reason,
    })
}

async fn measure_slo(analyzer: &Analyzer, slo: &SloSpec, f: &Frame) -> Result<SloBudget, AnalyzeError> {
    let sql = queries::fill(
        BUCKETS,
        &[
            ("origin_ns", Param::Int(f.drill_start)),
            ("step_ns", Param::Int(f.step)),
            ("has_latency", Param::Int(i64::from(slo.latency_threshold_ms.is_some()))),
            ("latency_ms", Param::Number(slo.latency_threshold_ms.unwrap_or(0.0))),
            ("drill_start", Param::Time(f.drill_start)),
            ("drill_end", Param::Time(f.drill_end)),
        ],
    )?;
    let rows = one(analyzer.sql(&sql).await?)?;
    let grid = Grid::from_rows(
        rows.as_ref(),
        &["requests", "bad", "drill_requests", "drill_bad"],
        f.drill_start,
        f.step,
    )?;
    let mut out = SloBudget {
        name: slo.name.clone(),
        objective: slo.objective,
        period_days: slo.period_days,
        latency_threshold_ms: slo.latency_threshold_ms,
        max_drill_budget_percent: slo.max_drill_budget_percent,
        ..Default::default()
    };
    let Some(grid) = grid else {
        out.reason = Some("no SLI requests in the log".into());
        return Ok(out);
    };
    let all = |col| grid.sum(col, grid.first, grid.last() + 1);
    out.drill_requests = all(DRILL_REQUESTS);
    out.drill_bad_requests = all(DRILL_BAD);
    out.observed_requests = all(REQUESTS);
    out.observed_bad_requests = all(BAD);
    let allowed = f.rate.map(|r| {
        let expected = r * slo.period_days * 86_400.0;
        (expected, (1.0 - slo.objective) * expected)
    });
    match allowed {
        Some((expected, allowed)) => {
            out.expected_requests = Some(round(expected, 3));
            out.allowed_bad_requests = Some(round(allowed, 3));
            let frac = |bad: u64| Some(round(bad as f64 / allowed, 9));
            out.consumed_fraction = frac(out.drill_bad_requests);
            out.consumed_percent = Some(round(100.0 * out.drill_bad_requests as f64 / allowed, 6));
            out.met = slo
                .max_drill_budget_percent
                .zip(out.consumed_percent)
                .map(|(max, used)| used <= max);
            out.period_included_fraction = frac(out.observed_bad_requests);
            out.period_excluded_fraction = frac(out.observed_bad_requests - out.drill_bad_requests);
        }
        None => out.reason = Some("no baseline rate (see budget.baseline.reason)".into()),
    }
    let budget_of = 1.0 - slo.objective;
    out.burn = peaks(&grid, budget_of, f);
    out.alerts = ALERTS.iter().map(|a| alert(&grid, budget_of, f, *a)).collect();
    out.series = series(&grid, budget_of, f, allowed.map(|a| a.1));
    Ok(out)
}

/// Burn over `steps` buckets ending at instant k, with the window's counts.
fn burn_at(grid: &Grid, budget_of: f64, k: i64, steps: i64) -> (Option<f64>, u64, u64) {
    let n = grid.window(REQUESTS, k, steps);
    let bad = grid.window(BAD, k, steps);
    let burn = (n > 0).then(|| bad as f64 / n as f64 / budget_of);
    (burn, n, bad)
}

fn peaks(grid: &Grid, budget_of: f64, f: &Frame) -> Vec<BurnPeak> {
    WINDOWS
        .iter()
        .map(|&(label, secs)| {
            let w = secs as i64 * NS;
            let steps = w / f.step;
            let mut best = BurnPeak {
                window: label.into(),
                window_seconds: secs,
                ..Default::default()
            };
            let mut peak: Option<f64> = None;
            for k in grid.instants() {
                let t = grid.at(k);
                let cov = coverage(t, w, f.data_start, f.data_end);
                best.max_coverage = best.max_coverage.max(cov);
                let (burn, n, bad) = burn_at(grid, budget_of, k, steps);
                if let Some(b) = burn
                    && peak.is_none_or(|p| b > p)
                {
                    peak = Some(b);
                    best.peak_at = Some(Time::new(t));
                    best.requests = n;
                    best.bad_requests = bad;
                    best.coverage = Some(round(cov, 6));
                }
            }
            best.peak_burn = peak.map(|p| round(p, 6));
            best.max_coverage = round(best.max_coverage, 6);
            best
        })
        .collect()
}

fn alert(grid: &Grid, budget_of: f64, f: &Frame, (name, factor, long, short): (&str, f64, u64, u64)) -> BurnAlert {
    let mut out = BurnAlert {
        name: name.into(),
        factor,
        long_window_seconds: long,
        short_window_seconds: short,
        ..Default::default()
    };
    let (lw, sw) = (long as i64 * NS, short as i64 * NS);
    for k in grid.instants() {
        let (Some(lb), _, _) = burn_at(grid, budget_of, k, lw / f.step) else {
            continue;
        };
        let (Some(sb), _, _) = burn_at(grid, budget_of, k, sw / f.step) else {
            continue;
        };
        if lb > factor && sb > factor {
            let t = grid.at(k);
            out.fired = true;
            out.fired_at = Some(Time::new(t));
            out.long_burn = Some(round(lb, 6));
            out.short_burn = Some(round(sb, 6));
            out.long_coverage = Some(round(coverage(t, lw, f.data_start, f.data_end), 6));
            out.short_coverage = Some(round(coverage(t, sw, f.data_start, f.data_end), 6));
            break;
        }
    }
    out
}

fn series(grid: &Grid, budget_of: f64, f: &Frame, allowed: Option<f64>) -> Vec<BudgetPoint> {
    let last = (f.drill_end - f.drill_start) / f.step + 1;
    let steps_5m = 300 * NS / f.step;
    (1..=last)
        .map(|k| BudgetPoint {
            at: Time::new(grid.at(k)),
            consumed_fraction: allowed.map(|a| round(grid.sum(DRILL_BAD, grid.first, k) as f64 / a, 9)),
            burn_5m: burn_at(grid, budget_of, k, steps_5m).0.map(|b| round(b, 6)),
        })
        .collect()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "—".into())
}

/// A coverage fraction as a percent.
fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.2} %", 100.0 * v)).unwrap_or_else(|| "—".into())
}

impl Budget {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Budget\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "Drill window {} to {}; burn evaluated every {} s.\n",
            self.drill_start.as_deref().unwrap_or("?"),
            self.drill_end.as_deref().unwrap_or("?"),
            self.step_seconds
        );
        if let Some(b) = &self.baseline {
            match (b.requests_per_second, &b.reason) {
                (Some(r), _) => out += &format!("Baseline: {r:.3} requests/s from {} requests.\n", b.requests),
                (None, Some(why)) => out += &format!("No baseline rate: {why}.\n"),
                _ => {}
            }
        }
        for s in &self.slos {
            out += &s.markdown();
        }
        out
    }
}

impl SloBudget {
    fn markdown(&self) -> String {
        let mut out = format!(
            "\n### SLO `{}` (objective {}, period {} d)\n\n",
            self.name, self.objective, self.period_days
        );
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n\n");
        }
        out += &format!(
            "Drill: {} bad of {} requests; allowed in the period: {} → **{} % of the budget**.\n",
            self.drill_bad_requests,
            self.drill_requests,
            opt(self.allowed_bad_requests, 1),
            opt(self.consumed_percent, 3)
        );
        if let Some(max) = self.max_drill_budget_percent {
            out += &format!(
                "Target: at most {max} % → {}.\n",
                match self.met {
                    Some(true) => "met",
                    Some(false) => "**missed**",
                    None => "not measurable",
                }
            );
        }
        out += &format!(
            "Period budget over the observed data: {} with the drill, {} without.\n\n",
            opt(self.period_included_fraction, 6),
            opt(self.period_excluded_fraction, 6)
        );
        out += "| window | peak burn | at | bad / requests | coverage |\n|---|---|---|---|---|\n";
        for b in &self.burn {
            out += &format!(
                "| {} | {} | {} | {} / {} | {} |\n",
                b.window,
                opt(b.peak_burn, 2),
                b.peak_at.as_deref().unwrap_or("—"),
                b.bad_requests,
                b.requests,
                pct(b.coverage)
            );
        }
        out += "\n| alert | fired at | long burn | short burn | long coverage |\n|---|---|---|---|---|\n";
        for a in &self.alerts {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                a.name,
                a.fired_at.as_deref().unwrap_or("did not fire"),
                opt(a.long_burn, 2),
                opt(a.short_burn, 2),
                pct(a.long_coverage)
            );
        }
        out
    }
}

impl crate::section::Section for Budget {
    const NAME: &'static str = "budget";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Budget::markdown(self)
    }

    fn holds(&self, verdict: crate::report::FailOn) -> bool {
        use crate::report::FailOn;
        match verdict {
            FailOn::Budget => self.slos.iter().any(|s| s.met == Some(false)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_clips_to_the_data() {
        // Data 100..400; window [0, 300) holds 200 of 300.
        assert_eq!(coverage(300, 300, 100, 400), 200.0 / 300.0);
        assert_eq!(coverage(350, 100, 100, 400), 1.0);
        // Past the end: [450, 550) has none.
        assert_eq!(coverage(550, 100, 100, 400), 0.0);
    }

    #[test]
    fn grid_sums_trailing_windows() {
        use std::sync::Arc;

        use arrow::array::Int64Array;
        use arrow::datatypes::{DataType, Field, Schema};
        // Buckets -1, 0 and 2 (1 is empty) with 4, 5 and 6 requests.
        let schema = Arc::new(Schema::new(vec![
            Field::new("bucket", DataType::Int64, false),
            Field::new("requests", DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![-1, 0, 2])),
                Arc::new(Int64Array::from(vec![4, 5, 6])),
            ],
        )
        .unwrap();
        let g = Grid::from_rows(Some(&b), &["requests"], 1000, 10).unwrap().unwrap();
        assert_eq!((g.first, g.last()), (-1, 2));
        assert_eq!(g.instants(), 0..=3);
        assert_eq!(g.at(3), 1030);
        // Window of 2 buckets ending at instant 1 = buckets -1 and 0.
        assert_eq!(g.window(0, 1, 2), 9);
        assert_eq!(g.window(0, 3, 2), 6);
        assert_eq!(g.window(0, 3, 100), 15);
        // Entirely before or after the data.
        assert_eq!(g.window(0, -5, 2), 0);
        assert_eq!(g.window(0, 9, 2), 0);
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = "step_seconds: 10\nslos:\n  - name: availability\n    objective: 0.999\n    period_days: 30\n  - name: fast\n    objective: 0.99\n    latency_threshold_ms: 500\n";
        let s: BudgetSpec = serde_yaml::from_str(doc).unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.slos[1].latency_threshold_ms, Some(500.0));
        assert_eq!(s.slos[1].period_days, 30.0);
    }

    #[test]
    fn step_must_divide_five_minutes() {
        let mut s = BudgetSpec::default();
        assert!(s.validate().is_ok());
        s.step_seconds = 7;
        assert!(s.validate().unwrap_err().contains("step_seconds"));
        s.step_seconds = 10;
        s.slos.push(SloSpec {
            name: "a".into(),
            objective: 1.0,
            period_days: 30.0,
            latency_threshold_ms: None,
            max_drill_budget_percent: None,
        });
        assert!(s.validate().unwrap_err().contains("objective"));
    }
}
