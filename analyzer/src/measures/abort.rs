//! Abort criteria: when the drill should have been aborted.
//!
//! Spec:
//!
//! ```yaml
//! abort:
//!   step_seconds: 1             # evaluation step (default 1)
//!   criteria:
//!     - name: checkout down
//!       error_ratio_above: 0.5  # optional, in [0, 1)
//!       for_seconds: 60         # a multiple of step_seconds
//!       region: us-west-2       # optional: only this region's requests
//!     - name: slow
//!       latency_p99_above_ms: 800   # optional; a criterion needs at least one condition
//!       for_seconds: 120
//! ```
//!
//! Definition: instants are `t = drill_start + k × step_seconds` for every integer k from the
//! step after the first request's step to the step after the last request's. A criterion
//! **holds at t** when the window `[t − for_seconds, t)` lies inside the log (`t − for_seconds ≥
//! data_start`), holds at least one SLI request (of the region, when given), and every condition
//! it names is met by the requests starting in the window: the error ratio (bad ÷ requests)
//! above `error_ratio_above`; the exact p99 of `duration_ms` (nearest rank: the ⌈0.99 × n⌉-th
//! smallest of n) above `latency_p99_above_ms`. Write two criteria to abort on either. The
//! first such t is when the drill should have been aborted; the report gives that window's
//! counts and how the `drill_ended` marker relates to it (seconds after t; negative when the
//! drill ended before).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};

use super::budget::{Grid, round};
use crate::queries::{self, Param, Query};
use crate::rows::{int_at, one};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `abort_buckets.sql`.
pub const BUCKETS: &Query = &queries::ABORT_BUCKETS;

/// `abort_latency.sql`.
pub const LATENCY: &Query = &queries::ABORT_LATENCY;

const NS: i64 = 1_000_000_000;

/// The `abort` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AbortSpec {
    /// Abort criteria; none means the section is not measured.
    #[serde(default)]
    pub criteria: Vec<CriterionSpec>,
    /// Evaluation step, seconds (at least 1).
    #[serde(default = "default_step")]
    pub step_seconds: u32,
}

fn default_step() -> u32 {
    1
}

impl Default for AbortSpec {
    fn default() -> Self {
        AbortSpec {
            criteria: Vec::new(),
            step_seconds: default_step(),
        }
    }
}

/// One abort criterion.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CriterionSpec {
    /// Name shown in the report.
    pub name: String,
    /// The error ratio (bad ÷ requests) must be above this, in [0, 1).
    #[serde(default)]
    pub error_ratio_above: Option<f64>,
    /// The window's exact p99 duration (nearest rank) must be above this, ms.
    #[serde(default)]
    pub latency_p99_above_ms: Option<f64>,
    /// Over a trailing window of this many seconds (a multiple of `step_seconds`).
    pub for_seconds: u32,
    /// Only requests served by this region; all regions when absent.
    #[serde(default)]
    pub region: Option<String>,
}

impl AbortSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if self.step_seconds == 0 {
            return Err("step_seconds must be at least 1".into());
        }
        for (i, c) in self.criteria.iter().enumerate() {
            if c.name.is_empty() {
                return Err(format!("criteria[{i}].name must not be empty"));
            }
            if self.criteria[..i].iter().any(|o| o.name == c.name) {
                return Err(format!("criteria: name {:?} appears twice", c.name));
            }
            if c.error_ratio_above.is_none() && c.latency_p99_above_ms.is_none() {
                return Err(format!("criteria[{i}] needs error_ratio_above or latency_p99_above_ms"));
            }
            if let Some(r) = c.error_ratio_above
                && !(0.0..1.0).contains(&r)
            {
                return Err(format!("criteria[{i}].error_ratio_above must be in [0, 1), got {r}"));
            }
            if let Some(l) = c.latency_p99_above_ms
                && !(l >= 0.0 && l.is_finite())
            {
                return Err(format!(
                    "criteria[{i}].latency_p99_above_ms must be a non-negative number"
                ));
            }
            if c.for_seconds == 0 || c.for_seconds % self.step_seconds != 0 {
                return Err(format!(
                    "criteria[{i}].for_seconds must be a positive multiple of step_seconds ({})",
                    self.step_seconds
                ));
            }
        }
        Ok(())
    }
}

/// The `abort` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Abort {
    /// Why the section is not measurable.
    pub reason: Option<String>,
    /// Evaluation step, seconds.
    pub step_seconds: u32,
    /// The `drill_ended` marker.
    pub drill_ended_at: Option<Time>,
    /// The earliest `abort_at` over all criteria.
    pub first_abort_at: Option<Time>,
    /// One entry per criterion of the spec.
    pub criteria: Vec<CriterionResult>,
}

/// The evaluation of one criterion.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CriterionResult {
    /// The criterion's name.
    pub name: String,
    /// Its error-ratio threshold.
    pub error_ratio_above: Option<f64>,
    /// Its p99 threshold, ms.
    pub latency_p99_above_ms: Option<f64>,
    /// Its window, seconds.
    pub for_seconds: u32,
    /// Its region, if any.
    pub region: Option<String>,
    /// The criterion held at some instant.
    pub should_have_aborted: bool,
    /// The first instant it held: "the drill should have been aborted at".
    pub abort_at: Option<Time>,
    /// Start of that window (`abort_at − for_seconds`).
    pub window_start: Option<Time>,
    /// Requests in that window.
    pub requests: u64,
    /// Bad requests in that window.
    pub bad_requests: u64,
    /// Their ratio.
    pub error_ratio: Option<f64>,
    /// That window's exact p99 duration, ms (criteria with a latency condition).
    pub p99_ms: Option<f64>,
    /// `drill_ended` − `abort_at`, seconds (negative: the drill ended before).
    pub drill_ended_after_seconds: Option<f64>,
    /// The highest error ratio of any full window (evidence when it never held).
    pub peak_error_ratio: Option<f64>,
    /// The instant of that window (first on ties).
    pub peak_at: Option<Time>,
    /// The highest p99 of any full window, ms (criteria with a latency condition).
    pub peak_p99_ms: Option<f64>,
    /// The instant of that window (first on ties).
    pub peak_p99_at: Option<Time>,
    /// Why the criterion could not be evaluated.
    pub reason: Option<String>,
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Abort, AnalyzeError> {
    let s = &spec.abort;
    let mut out = Abort {
        step_seconds: s.step_seconds,
        drill_ended_at: timeline.drill_ended_at.map(Time::new),
        ..Default::default()
    };
    if s.criteria.is_empty() {
        out.reason = Some("the spec names no abort.criteria".into());
        return Ok(out);
    }
    if super::tail_sampled(spec) {
        out.reason = Some(super::TAIL_SAMPLED.into());
        return Ok(out);
    }
    let (Some(origin), Some(data_start)) = (timeline.drill_start(), timeline.data_start) else {
        out.reason = Some("the log is empty".into());
        return Ok(out);
    };
    let step = i64::from(s.step_seconds) * NS;
    let mut first: Option<i64> = None;
    for c in &s.criteria {
        if spec.sli.metrics.is_some() && c.latency_p99_above_ms.is_some() {
            out.criteria.push(CriterionResult {
                name: c.name.clone(),
                error_ratio_above: c.error_ratio_above,
                latency_p99_above_ms: c.latency_p99_above_ms,
                for_seconds: c.for_seconds,
                region: c.region.clone(),
                reason: Some(super::NO_DURATIONS.into()),
                ..Default::default()
            });
            continue;
        }
        let params = [
            ("origin_ns", Param::Int(origin)),
            ("step_ns", Param::Int(step)),
            ("any_region", Param::Int(i64::from(c.region.is_none()))),
            ("region", Param::Literal(c.region.clone().unwrap_or_default())),
        ];
        let rows = one(analyzer.sql(&queries::fill(BUCKETS, &params)?).await?)?;
        let grid = Grid::from_rows(rows.as_ref(), &["requests", "bad"], origin, step)?;
        let durations = match c.latency_p99_above_ms {
            Some(_) => {
                let rows = one(analyzer.sql(&queries::fill(LATENCY, &params)?).await?)?;
                Some(Durations::from_rows(rows.as_ref())?)
            }
            None => None,
        };
        let (result, at) = evaluate(
            c,
            grid.as_ref(),
            durations.as_ref(),
            data_start,
            timeline.drill_ended_at,
        );
        if let Some(at) = at {
            first = Some(first.map_or(at, |f| f.min(at)));
        }
        out.criteria.push(result);
    }
    out.first_abort_at = first.map(Time::new);
    Ok(out)
}

/// Request durations per bucket (`abort_latency.sql`), ascending within a bucket.
#[derive(Debug, Default)]
struct Durations {
    first: i64,
    per_bucket: Vec<Vec<f64>>,
}

impl Durations {
    fn from_rows(rows: Option<&RecordBatch>) -> Result<Durations, AnalyzeError> {
        let mut out = Durations::default();
        let Some(b) = rows else {
            return Ok(out);
        };
        let lists = b
            .column_by_name("durations_ms")
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or_else(|| AnalyzeError::Internal("abort_latency: durations_ms is not a list".into()))?;
        for r in 0..b.num_rows() {
            let Some(k) = int_at(b, "bucket", r)? else { continue };
            if out.per_bucket.is_empty() {
                out.first = k;
            }
            let idx = (k - out.first) as usize;
            out.per_bucket.resize(idx + 1, Vec::new());
            let v = lists.value(r);
            if let Some(f) = v.as_primitive_opt::<Float64Type>() {
                out.per_bucket[idx] = (0..f.len()).filter(|&i| !f.is_null(i)).map(|i| f.value(i)).collect();
            }
        }
        Ok(out)
    }

    /// Exact p99 (nearest rank) of the durations in buckets `k − steps .. k`.
    fn p99(&self, k: i64, steps: i64) -> Option<f64> {
        let lo = (k - steps - self.first).clamp(0, self.per_bucket.len() as i64) as usize;
        let hi = (k - self.first).clamp(0, self.per_bucket.len() as i64) as usize;
        let mut all: Vec<f64> = self.per_bucket[lo..hi].iter().flatten().copied().collect();
        nearest_rank(&mut all, 0.99)
    }
}

/// The ⌈q × n⌉-th smallest of `values` (reordered in place); none when empty.
fn nearest_rank(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    let (_, v, _) = values.select_nth_unstable_by(rank - 1, f64::total_cmp);
    Some(*v)
}

/// Walks the instants of `grid`; returns the result and the abort instant in ns.
fn evaluate(
    c: &CriterionSpec,
    grid: Option<&Grid>,
    durations: Option<&Durations>,
    data_start: i64,
    drill_ended: Option<i64>,
) -> (CriterionResult, Option<i64>) {
    let mut out = CriterionResult {
        name: c.name.clone(),
        error_ratio_above: c.error_ratio_above,
        latency_p99_above_ms: c.latency_p99_above_ms,
        for_seconds: c.for_seconds,
        region: c.region.clone(),
        ..Default::default()
    };
    let Some(grid) = grid else {
        out.reason = Some(match &c.region {
            Some(r) => format!("no SLI requests in region {r}"),
            None => "no SLI requests in the log".into(),
        });
        return (out, None);
    };
    let w = i64::from(c.for_seconds) * NS;
    let steps = w / grid.step;
    let (mut peak, mut peak_p99): (Option<f64>, Option<f64>) = (None, None);
    let mut abort_ns = None;
    for k in grid.instants() {
        let t = grid.at(k);
        let n = grid.window(0, k, steps);
        if t - w < data_start || n == 0 {
            continue;
        }
        let bad = grid.window(1, k, steps);
        let ratio = bad as f64 / n as f64;
        if peak.is_none_or(|p| ratio > p) {
            peak = Some(ratio);
            out.peak_at = Some(Time::new(t));
        }
        let p99 = durations.and_then(|d| d.p99(k, steps));
        if let Some(p) = p99
            && peak_p99.is_none_or(|q| p > q)
        {
            peak_p99 = Some(p);
            out.peak_p99_at = Some(Time::new(t));
        }
        let held = c.error_ratio_above.is_none_or(|x| ratio > x)
            && c.latency_p99_above_ms.is_none_or(|x| p99.is_some_and(|p| p > x));
        if held && abort_ns.is_none() {
            abort_ns = Some(t);
            out.should_have_aborted = true;
            out.abort_at = Some(Time::new(t));
            out.window_start = Some(Time::new(t - w));
            out.requests = n;
            out.bad_requests = bad;
            out.error_ratio = Some(round(ratio, 6));
            out.p99_ms = p99.map(|p| round(p, 3));
            out.drill_ended_after_seconds = drill_ended.map(|e| round((e - t) as f64 / NS as f64, 3));
        }
    }
    out.peak_error_ratio = peak.map(|p| round(p, 6));
    out.peak_p99_ms = peak_p99.map(|p| round(p, 3));
    if peak.is_none() {
        out.reason = Some(format!("no {} s window inside the log holds a request", c.for_seconds));
    }
    (out, abort_ns)
}

impl Abort {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Abort\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        match &self.first_abort_at {
            Some(t) => out += &format!("**The drill should have been aborted at {t}.**\n\n"),
            None => out += "No abort criterion held.\n\n",
        }
        out += "| criterion | abort at | bad / requests in window | p99 in window | drill ended | peak ratio | peak p99 |\n";
        out += "|---|---|---|---|---|---|---|\n";
        for c in &self.criteria {
            let ended = match (c.drill_ended_after_seconds, &self.drill_ended_at) {
                (Some(s), _) if s >= 0.0 => format!("{s:.3} s after"),
                (Some(s), _) => format!("{:.3} s before", -s),
                (None, None) => "no drill_ended marker".into(),
                (None, Some(_)) => "—".into(),
            };
            let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "—".into());
            let counts = match c.should_have_aborted {
                true => format!("{} / {}", c.bad_requests, c.requests),
                false => "—".into(),
            };
            out += &format!(
                "| {} ({}) | {} | {} | {} | {} | {} | {} |\n",
                c.name,
                c.condition(),
                c.abort_at.as_deref().or(c.reason.as_deref()).unwrap_or("did not hold"),
                counts,
                ms(c.p99_ms),
                ended,
                c.peak_error_ratio
                    .map(|p| format!("{p:.3}"))
                    .unwrap_or_else(|| "—".into()),
                ms(c.peak_p99_ms),
            );
        }
        out
    }
}

impl CriterionResult {
    /// `errors > 0.5 and p99 > 800 ms for 60 s, us-west-2`.
    fn condition(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.error_ratio_above {
            parts.push(format!("errors > {r}"));
        }
        if let Some(l) = self.latency_p99_above_ms {
            parts.push(format!("p99 > {l} ms"));
        }
        let region = self.region.as_deref().map(|r| format!(", {r}")).unwrap_or_default();
        format!("{} for {} s{region}", parts.join(" and "), self.for_seconds)
    }
}

impl crate::section::Section for Abort {
    const NAME: &'static str = "abort";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Abort::markdown(self)
    }

    fn holds(&self, verdict: crate::report::FailOn) -> bool {
        use crate::report::FailOn;
        match verdict {
            FailOn::Abort => self.criteria.iter().any(|c| c.should_have_aborted),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_seconds_must_be_a_multiple_of_the_step() {
        let mut s = AbortSpec {
            step_seconds: 5,
            criteria: vec![CriterionSpec {
                name: "x".into(),
                error_ratio_above: Some(0.5),
                latency_p99_above_ms: None,
                for_seconds: 12,
                region: None,
            }],
        };
        assert!(s.validate().unwrap_err().contains("multiple"));
        s.criteria[0].for_seconds = 15;
        assert!(s.validate().is_ok());
        s.criteria[0].error_ratio_above = Some(1.0);
        assert!(s.validate().unwrap_err().contains("error_ratio_above"));
        s.criteria[0].error_ratio_above = None;
        assert!(
            s.validate()
                .unwrap_err()
                .contains("needs error_ratio_above or latency_p99_above_ms")
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = "step_seconds: 1\ncriteria:\n  - name: checkout down\n    error_ratio_above: 0.5\n    for_seconds: 60\n    region: us-west-2\n  - name: slow\n    latency_p99_above_ms: 800\n    for_seconds: 120\n";
        let s: AbortSpec = serde_yaml::from_str(doc).unwrap();
        assert!(s.validate().is_ok());
        assert_eq!(s.criteria[1].error_ratio_above, None);
        assert_eq!(s.criteria[1].latency_p99_above_ms, Some(800.0));
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        // n = 100: the 99th smallest; n = 20: ⌈19.8⌉ = 20th, the largest; n = 1: itself.
        let mut hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(nearest_rank(&mut hundred, 0.99), Some(99.0));
        let mut twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut twenty, 0.99), Some(20.0));
        assert_eq!(nearest_rank(&mut [7.0], 0.99), Some(7.0));
        assert_eq!(nearest_rank(&mut [], 0.99), None);
        // Buckets 3 and 4 (of 3..=5); a window reaching outside the data is clipped.
        let d = Durations {
            first: 3,
            per_bucket: vec![vec![1.0, 2.0], vec![50.0], vec![9.0]],
        };
        assert_eq!(d.p99(5, 2), Some(50.0));
        assert_eq!(d.p99(4, 10), Some(2.0));
        assert_eq!(d.p99(20, 2), None);
    }
}
