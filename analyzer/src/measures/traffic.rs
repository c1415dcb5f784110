//! Residual traffic in the old primary after the cutover, and session drops.
//!
//! Definitions:
//! - **Residual traffic**: SLI requests (`requests` view) served by the primary region and
//!   starting at or after `cutover_at`. Per window of `window_seconds` aligned on the cutover
//!   (windows without requests are skipped), the primary's share = primary requests ÷ all
//!   requests. The traffic **settled** at the end of the last window whose share is at least
//!   `residual_threshold` (at the cutover itself when no window is); when that window is the
//!   last one with requests, the traffic never settled within the data. This is how effective
//!   the DNS TTL was.
//! - **Session drops**: the share of SLI requests answered 401 or 403
//!   (`http.response.status_code`) per region after the cutover, against the baseline before
//!   the fault. A region without baseline requests (a passive secondary) is compared with the
//!   baseline of all regions. Flagged when the after-rate exceeds both
//!   `session_drop_factor` × baseline rate and the absolute `session_drop_floor`.
//!
//! Spec (all keys optional):
//!
//! ```yaml
//! traffic:
//!   window_seconds: 10         # width of the residual-share windows
//!   residual_threshold: 0.01   # the primary's share counted as "gone"
//!   session_drop_factor: 2     # after-rate > factor × baseline rate …
//!   session_drop_floor: 0.01   # … and > this rate, to flag session drops
//! ```

use serde::{Deserialize, Serialize};

use crate::queries::{self, Param, Query};
use crate::rows::Rows;
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

const RESIDUAL: &Query = &queries::TRAFFIC_RESIDUAL;
const SESSIONS: &Query = &queries::TRAFFIC_SESSIONS;

/// The `traffic` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSpec {
    /// Width of the windows the primary's share is measured in, seconds (at least 0.001).
    /// Default 10.
    pub window_seconds: f64,
    /// The primary's share of requests below which residual traffic counts as gone, in
    /// (0, 1]. Default 0.01 (1 %).
    pub residual_threshold: f64,
    /// Session drops are flagged when the after-cutover 401/403 rate exceeds this many times
    /// the baseline rate (at least 1) … Default 2.
    pub session_drop_factor: f64,
    /// … and this absolute rate, in [0, 1]. Default 0.01.
    pub session_drop_floor: f64,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            window_seconds: 10.0,
            residual_threshold: 0.01,
            session_drop_factor: 2.0,
            session_drop_floor: 0.01,
        }
    }
}

impl TrafficSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.window_seconds >= 0.001 && self.window_seconds <= 86_400.0) {
            return Err("window_seconds must be between 0.001 and 86400".into());
        }
        if !(self.residual_threshold > 0.0 && self.residual_threshold <= 1.0) {
            return Err("residual_threshold must be in (0, 1]".into());
        }
        if !(self.session_drop_factor >= 1.0 && self.session_drop_factor.is_finite()) {
            return Err("session_drop_factor must be a number of at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.session_drop_floor) {
            return Err("session_drop_floor must be in [0, 1]".into());
        }
        Ok(())
    }
}

/// The `traffic` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Traffic {
    /// Why residual traffic is not measurable (no SLI requests, no cutover).
    pub reason: Option<String>,
    /// The cutover residual traffic is counted from.
    pub cutover_at: Option<Time>,
    /// The old primary region.
    pub primary: String,
    /// The spec's window, seconds.
    pub window_seconds: f64,
    /// The spec's threshold on the primary's share.
    pub residual_threshold: f64,
    /// SLI requests served by the primary at or after the cutover.
    pub residual_requests: u64,
    /// Of those, the bad ones.
    pub residual_failed: u64,
    /// Start of the last residual request.
    pub last_residual_at: Option<Time>,
    /// End of the last window with a primary share ≥ threshold (the cutover when none).
    pub settled_at: Option<Time>,
    /// `settled_at` − cutover, seconds; null when the traffic never settled within the data
    /// or there were no requests after the cutover.
    pub settle_seconds: Option<f64>,
    /// Why `settle_seconds` is null.
    pub settle_reason: Option<String>,
    /// Every window with requests after the cutover.
    pub windows: Vec<TrafficWindow>,
    /// 401/403 rates per region, after the cutover against the baseline.
    pub sessions: SessionDrops,
}

/// One window after the cutover.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrafficWindow {
    /// Window start (inclusive); the window is `window_seconds` long.
    pub start: Time,
    /// SLI requests starting in the window.
    pub requests: u64,
    /// Of those, served by the primary.
    pub primary_requests: u64,
    /// Of those, bad.
    pub primary_failed: u64,
    /// primary_requests ÷ requests.
    pub primary_share: f64,
}

/// Session drops.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SessionDrops {
    /// Why session drops are not measurable (no fault, no cutover, no baseline requests).
    pub reason: Option<String>,
    /// The spec's factor.
    pub factor: f64,
    /// The spec's floor.
    pub floor: f64,
    /// Baseline over all regions: requests.
    pub baseline_requests: u64,
    /// Baseline over all regions: 401/403 answers.
    pub baseline_auth_failures: u64,
    /// Per region, by name.
    pub regions: Vec<RegionSessions>,
}

/// One region's 401/403 rates.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegionSessions {
    /// Region.
    pub region: String,
    /// `region` when the region had baseline requests, else `all_regions`.
    pub baseline_scope: String,
    /// Baseline requests (of `baseline_scope`).
    pub baseline_requests: u64,
    /// Baseline 401/403 answers (of `baseline_scope`).
    pub baseline_auth_failures: u64,
    /// baseline_auth_failures ÷ baseline_requests; null without baseline requests.
    pub baseline_rate: Option<f64>,
    /// Requests in the region at or after the cutover.
    pub after_requests: u64,
    /// Of those, answered 401 or 403.
    pub after_auth_failures: u64,
    /// after_auth_failures ÷ after_requests; null without requests.
    pub after_rate: Option<f64>,
    /// after_rate > factor × baseline_rate and > floor; null when a rate is missing.
    pub flagged: Option<bool>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Traffic, AnalyzeError> {
    let s = &spec.traffic;
    let mut out = Traffic {
        primary: spec.regions.primary.clone(),
        window_seconds: s.window_seconds,
        residual_threshold: s.residual_threshold,
        sessions: SessionDrops {
            factor: s.session_drop_factor,
            floor: s.session_drop_floor,
            ..Default::default()
        },
        ..Default::default()
    };
    let requests = Rows::query(analyzer, "SELECT COUNT(*) AS n FROM requests").await?;
    if requests.u64s("n")?.first().copied().unwrap_or(0) == 0 {
        let why = "no SLI requests in the log";
        out.reason = Some(why.into());
        out.sessions.reason = Some(why.into());
        return Ok(out);
    }
    let Some(cutover_at) = timeline.cutover_at else {
        let why = "no dns_cutover or traffic_shifted marker after the fault";
        out.reason = Some(why.into());
        out.sessions.reason = Some(why.into());
        return Ok(out);
    };
    out.cutover_at = Some(Time::new(cutover_at));
    residual(analyzer, spec, cutover_at, &mut out).await?;
    match timeline.fault_at {
        Some(fault_at) => sessions(analyzer, fault_at, cutover_at, &mut out.sessions).await?,
        None => out.sessions.reason = Some("no fault: there is no baseline before it".into()),
    }
    Ok(out)
}

/// Residual requests per window and when the primary's share settled under the threshold.
async fn residual(
    analyzer: &Analyzer,
    spec: &DrillSpec,
    cutover_at: i64,
    out: &mut Traffic,
) -> Result<(), AnalyzeError> {
    let window_ms = (spec.traffic.window_seconds * 1000.0).round() as i64;
    let sql = queries::fill(
        RESIDUAL,
        &[
            ("window_ms", Param::Int(window_ms)),
            ("cutover_at", Param::Time(cutover_at)),
            ("primary", Param::Literal(spec.regions.primary.clone())),
        ],
    )?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (starts, requests) = (rows.i64s("window_start")?, rows.u64s("requests")?);
    let (primary, bad, last) = (
        rows.u64s("primary_requests")?,
        rows.u64s("primary_bad")?,
        rows.i64s("last_primary_at")?,
    );
    out.residual_requests = primary.iter().sum();
    out.residual_failed = bad.iter().sum();
    out.last_residual_at = last.iter().flatten().max().copied().map(Time::new);
    out.windows = (0..rows.len())
        .map(|i| TrafficWindow {
            start: starts[i].map(Time::new).unwrap_or_default(),
            requests: requests[i],
            primary_requests: primary[i],
            primary_failed: bad[i],
            primary_share: ratio(primary[i], requests[i]).unwrap_or(0.0),
        })
        .collect();
    if out.windows.is_empty() {
        out.settle_reason = Some("no SLI requests at or after the cutover".into());
        return Ok(());
    }
    let shares: Vec<f64> = out.windows.iter().map(|w| w.primary_share).collect();
    match settle(&shares, spec.traffic.residual_threshold) {
        Settle::At(None) => {
            out.settled_at = Some(Time::new(cutover_at));
            out.settle_seconds = Some(0.0);
        }
        Settle::At(Some(i)) => {
            let end = starts[i].unwrap_or(cutover_at) + window_ms * 1_000_000;
            out.settled_at = Some(Time::new(end));
            out.settle_seconds = Some(((end - cutover_at) as f64 / 1e6).round() / 1e3);
        }
        Settle::Never(i) => {
            out.settle_reason = Some(format!(
                "the primary still served {:.4} of the requests in the last window with requests (from {})",
                out.windows[i].primary_share, out.windows[i].start
            ));
        }
    }
    Ok(())
}

/// When the primary's share settled under the threshold, from the shares of consecutive
/// windows with requests.
#[derive(Debug, PartialEq)]
enum Settle {
    /// At the end of this window (the last one at or above the threshold); `None`: at the
    /// cutover, no window was.
    At(Option<usize>),
    /// Never: this window, the last one, is still at or above the threshold.
    Never(usize),
}

fn settle(shares: &[f64], threshold: f64) -> Settle {
    match shares.iter().rposition(|&s| s >= threshold) {
        None => Settle::At(None),
        Some(i) if i + 1 == shares.len() => Settle::Never(i),
        Some(i) => Settle::At(Some(i)),
    }
}

/// 401/403 rates per region after the cutover against the baseline.
async fn sessions(
    analyzer: &Analyzer,
    fault_at: i64,
    cutover_at: i64,
    out: &mut SessionDrops,
) -> Result<(), AnalyzeError> {
    let sql = queries::fill(
        SESSIONS,
        &[
            ("fault_at", Param::Time(fault_at)),
            ("cutover_at", Param::Time(cutover_at)),
        ],
    )?;
    let rows = Rows::query(analyzer, &sql).await?;
    let (region, period) = (rows.strs("region")?, rows.strs("period")?);
    let (requests, failures) = (rows.u64s("requests")?, rows.u64s("auth_failures")?);
    // (baseline requests, baseline failures, after requests, after failures) per region.
    let mut per: std::collections::BTreeMap<String, [u64; 4]> = Default::default();
    for i in 0..rows.len() {
        let e = per.entry(region[i].clone().unwrap_or_default()).or_default();
        let at = if period[i].as_deref() == Some("baseline") { 0 } else { 2 };
        e[at] += requests[i];
        e[at + 1] += failures[i];
    }
    out.baseline_requests = per.values().map(|e| e[0]).sum();
    out.baseline_auth_failures = per.values().map(|e| e[1]).sum();
    if out.baseline_requests == 0 {
        out.reason = Some("no SLI requests before the fault: no baseline rate".into());
    }
    out.regions = per
        .into_iter()
        .map(|(region, [b_req, b_fail, a_req, a_fail])| {
            let (scope, b_req, b_fail) = if b_req > 0 {
                ("region", b_req, b_fail)
            } else {
                ("all_regions", out.baseline_requests, out.baseline_auth_failures)
            };
            let (baseline_rate, after_rate) = (ratio(b_fail, b_req), ratio(a_fail, a_req));
            RegionSessions {
                region,
                baseline_scope: scope.into(),
                baseline_requests: b_req,
                baseline_auth_failures: b_fail,
                baseline_rate,
                after_requests: a_req,
                after_auth_failures: a_fail,
                after_rate,
                flagged: baseline_rate
                    .zip(after_rate)
                    .map(|(b, a)| a > out.factor * b && a > out.floor),
            }
        })
        .collect();
    Ok(())
}

impl Traffic {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Traffic\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
            return out;
        }
        out += &format!(
            "After the cutover ({}), the old primary `{}` served {} SLI request(s), {} of them failed; last at {}.\n",
            self.cutover_at.as_deref().unwrap_or("?"),
            self.primary,
            self.residual_requests,
            self.residual_failed,
            self.last_residual_at.as_deref().unwrap_or("—")
        );
        match (self.settle_seconds, &self.settle_reason) {
            (Some(s), _) => {
                out += &format!(
                    "Its share stayed under {} from {} on: {s:.3} s after the cutover.\n",
                    self.residual_threshold,
                    self.settled_at.as_deref().unwrap_or("?")
                )
            }
            (None, Some(r)) => out += &format!("Its share never stayed under {}: {r}.\n", self.residual_threshold),
            _ => {}
        }
        out += &format!(
            "\n| window ({} s) from | requests | primary | primary failed | primary share |\n|---|---|---|---|---|\n",
            self.window_seconds
        );
        for w in &self.windows {
            out += &format!(
                "| {} | {} | {} | {} | {:.4} |\n",
                w.start, w.requests, w.primary_requests, w.primary_failed, w.primary_share
            );
        }
        out += &self.sessions.markdown();
        out
    }
}

impl SessionDrops {
    fn markdown(&self) -> String {
        let mut out = String::from("\nSession drops (401/403 rate after the cutover against the baseline):\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}.\n");
            if self.regions.is_empty() {
                return out;
            }
        }
        let rate = |r: Option<f64>| r.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into());
        out += "| region | baseline | baseline rate | after | after rate | flagged |\n|---|---|---|---|---|---|\n";
        for r in &self.regions {
            out += &format!(
                "| {} | {}/{} ({}) | {} | {}/{} | {} | {} |\n",
                r.region,
                r.baseline_auth_failures,
                r.baseline_requests,
                r.baseline_scope.replace('_', " "),
                rate(r.baseline_rate),
                r.after_auth_failures,
                r.after_requests,
                rate(r.after_rate),
                match r.flagged {
                    Some(true) => "**yes**",
                    Some(false) => "no",
                    None => "—",
                }
            );
        }
        out
    }
}

impl crate::section::Section for Traffic {
    const NAME: &'static str = "traffic";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Traffic::markdown(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_settles_after_the_last_window_at_or_above_the_threshold() {
        assert_eq!(settle(&[0.5, 0.01, 0.2, 0.0, 0.009], 0.01), Settle::At(Some(2)));
        assert_eq!(settle(&[0.005, 0.0], 0.01), Settle::At(None));
        assert_eq!(settle(&[], 0.01), Settle::At(None));
        assert_eq!(settle(&[0.0, 0.3], 0.01), Settle::Never(1));
    }

    #[test]
    fn rates_need_a_denominator() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
    }
}
