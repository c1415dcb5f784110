//! Abort criteria: when the drill should have been aborted.
//!
//! Spec:
//!
//! ```yaml
//! abort:
//!   step_seconds: 1             # evaluation step (default 1)
//!   criteria:
//!     - name: checkout down
//!       error_ratio_above: 0.5  # in [0, 1)
//!       for_seconds: 60         # a multiple of step_seconds
//!       region: us-west-2       # optional: only this region's requests
//! ```
//!
//! Definition: instants are `t = drill_start + k × step_seconds` for every integer k from the
//! step after the first request's step to the step after the last request's. A criterion
//! **holds at t** when the window `[t − for_seconds, t)` lies inside the log (`t − for_seconds ≥
//! data_start`), holds at least one SLI request (of the region, when given), and its error ratio
//! (bad ÷ requests starting in the window) is above `error_ratio_above`. The first such t is
//! when the drill should have been aborted; the report gives that window's counts and how the
//! `drill_ended` marker relates to it (seconds after t; negative when the drill ended before).

use serde::{Deserialize, Serialize};

use super::budget::{Grid, round};
use super::one;
use crate::queries::{self, Param};
use crate::report::rfc3339;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `abort_buckets.sql`.
pub const BUCKETS: &str = include_str!("../../../queries/abort_buckets.sql");

/// The SQL files of this section: (file stem, SQL). Each has a golden file in
/// `queries/golden/`.
pub const QUERIES: &[(&str, &str)] = &[("abort_buckets", BUCKETS)];

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
    pub error_ratio_above: f64,
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
            if !(c.error_ratio_above >= 0.0 && c.error_ratio_above < 1.0) {
                return Err(format!(
                    "criteria[{i}].error_ratio_above must be in [0, 1), got {}",
                    c.error_ratio_above
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
    pub drill_ended_at: Option<String>,
    /// The earliest `abort_at` over all criteria.
    pub first_abort_at: Option<String>,
    /// One entry per criterion of the spec.
    pub criteria: Vec<CriterionResult>,
}

/// The evaluation of one criterion.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CriterionResult {
    /// The criterion's name.
    pub name: String,
    /// Its threshold.
    pub error_ratio_above: f64,
    /// Its window, seconds.
    pub for_seconds: u32,
    /// Its region, if any.
    pub region: Option<String>,
    /// The criterion held at some instant.
    pub should_have_aborted: bool,
    /// The first instant it held: "the drill should have been aborted at".
    pub abort_at: Option<String>,
    /// Start of that window (`abort_at − for_seconds`).
    pub window_start: Option<String>,
    /// Requests in that window.
    pub requests: u64,
    /// Bad requests in that window.
    pub bad_requests: u64,
    /// Their ratio.
    pub error_ratio: Option<f64>,
    /// `drill_ended` − `abort_at`, seconds (negative: the drill ended before).
    pub drill_ended_after_seconds: Option<f64>,
    /// The highest error ratio of any full window (evidence when it never held).
    pub peak_error_ratio: Option<f64>,
    /// The instant of that window (first on ties).
    pub peak_at: Option<String>,
    /// Why the criterion could not be evaluated.
    pub reason: Option<String>,
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Abort, AnalyzeError> {
    let s = &spec.abort;
    let mut out = Abort {
        step_seconds: s.step_seconds,
        drill_ended_at: timeline.drill_ended_at.map(rfc3339),
        ..Default::default()
    };
    if s.criteria.is_empty() {
        out.reason = Some("the spec names no abort.criteria".into());
        return Ok(out);
    }
    let (Some(origin), Some(data_start)) = (timeline.drill_start(), timeline.data_start) else {
        out.reason = Some("the log is empty".into());
        return Ok(out);
    };
    let step = i64::from(s.step_seconds) * NS;
    let mut first: Option<i64> = None;
    for c in &s.criteria {
        let sql = queries::fill(
            BUCKETS,
            &[
                ("origin_ns", Param::Int(origin)),
                ("step_ns", Param::Int(step)),
                ("any_region", Param::Int(i64::from(c.region.is_none()))),
                ("region", Param::Literal(c.region.clone().unwrap_or_default())),
            ],
        )?;
        let rows = one(analyzer.sql(&sql).await?)?;
        let grid = Grid::from_rows(rows.as_ref(), &["requests", "bad"], origin, step);
        let (result, at) = evaluate(c, grid.as_ref(), data_start, timeline.drill_ended_at);
        if let Some(at) = at {
            first = Some(first.map_or(at, |f| f.min(at)));
        }
        out.criteria.push(result);
    }
    out.first_abort_at = first.map(rfc3339);
    Ok(out)
}

/// Walks the instants of `grid`; returns the result and the abort instant in ns.
fn evaluate(
    c: &CriterionSpec,
    grid: Option<&Grid>,
    data_start: i64,
    drill_ended: Option<i64>,
) -> (CriterionResult, Option<i64>) {
    let mut out = CriterionResult {
        name: c.name.clone(),
        error_ratio_above: c.error_ratio_above,
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
    let mut peak: Option<f64> = None;
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
            out.peak_at = Some(rfc3339(t));
        }
        if ratio > c.error_ratio_above && abort_ns.is_none() {
            abort_ns = Some(t);
            out.should_have_aborted = true;
            out.abort_at = Some(rfc3339(t));
            out.window_start = Some(rfc3339(t - w));
            out.requests = n;
            out.bad_requests = bad;
            out.error_ratio = Some(round(ratio, 6));
            out.drill_ended_after_seconds = drill_ended.map(|e| round((e - t) as f64 / NS as f64, 3));
        }
    }
    out.peak_error_ratio = peak.map(|p| round(p, 6));
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
        out +=
            "| criterion | abort at | bad / requests in window | drill ended | peak ratio |\n|---|---|---|---|---|\n";
        for c in &self.criteria {
            let ended = match (c.drill_ended_after_seconds, &self.drill_ended_at) {
                (Some(s), _) if s >= 0.0 => format!("{s:.3} s after"),
                (Some(s), _) => format!("{:.3} s before", -s),
                (None, None) => "no drill_ended marker".into(),
                (None, Some(_)) => "—".into(),
            };
            out += &format!(
                "| {} (> {} for {} s{}) | {} | {} / {} | {} | {} |\n",
                c.name,
                c.error_ratio_above,
                c.for_seconds,
                c.region.as_deref().map(|r| format!(", {r}")).unwrap_or_default(),
                c.abort_at.as_deref().or(c.reason.as_deref()).unwrap_or("did not hold"),
                c.bad_requests,
                c.requests,
                ended,
                c.peak_error_ratio
                    .map(|p| format!("{p:.3}"))
                    .unwrap_or_else(|| "—".into())
            );
        }
        out
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
                error_ratio_above: 0.5,
                for_seconds: 12,
                region: None,
            }],
        };
        assert!(s.validate().unwrap_err().contains("multiple"));
        s.criteria[0].for_seconds = 15;
        assert!(s.validate().is_ok());
        s.criteria[0].error_ratio_above = 1.0;
        assert!(s.validate().unwrap_err().contains("error_ratio_above"));
    }
}
