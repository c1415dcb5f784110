//! Alert audit: expected alerts, delivery delay, suppression windows, silences.
//!
//! Spec (all keys optional):
//!
//! ```yaml
//! alerts:
//!   expected:                       # alerts the drill must raise
//!     - { alertname: HighErrorRate, service: frontend, max_delay_seconds: 120 }
//!     - { alertname: ReplicationLag, max_delivery_seconds: 30 }  # any service; max delay 300
//!   suppression_windows:            # no alert (or only `alertname`) may fire in these
//!     - { from_marker: failover_declared, to_marker: failover_completed, alertname: InstanceDown }
//!     - { from_marker: failover_completed }   # every alert, to the end of the data
//! ```
//!
//! Definitions (the SQL is in `queries/alerts_*.sql`; alerts are Alertmanager webhook
//! notifications, `time` = receipt):
//! - A **firing** is one alert instance (fingerprint) with one `startsAt` (the receipt time
//!   when `startsAt` is missing); it counts for the drill when `startsAt` ≥ `fault_at`.
//!   received = first receipt of a firing notification for it; resolved = the earliest
//!   `endsAt` (else receipt) of a resolved notification of the same fingerprint at or after
//!   its `startsAt`.
//! - An **expected** alert (alertname, and service when given) is matched by the drill's
//!   firing of that alertname (and service) with the earliest `startsAt` (then receipt,
//!   fingerprint). delay = `startsAt` − `fault_at`; delivery = receipt − `startsAt` (clock
//!   skew between Alertmanager and us can make it negative; it is reported as is); late when
//!   delay > `max_delay_seconds`; delivered late when delivery > `max_delivery_seconds`
//!   (only when the spec sets it).
//! - **Unexpected** firings: the drill's firings that match no expected entry.
//! - A **suppression window** runs from the first `from_marker` marker to the first `to_marker`
//!   marker at or after it; without `to_marker` (or when the log has none) to the end of the
//!   data. Both ends are included. An alert **fires inside** it when a firing notification (of
//!   `alertname`, when given; else of any alert) was received in it.
//! - **Silences** still active after `drill_ended`: not measurable. The Alertmanager webhook
//!   does not carry silences and cutover does not ingest them.

use arrow::array::{AsArray, RecordBatch};
use serde::{Deserialize, Serialize};

use super::seconds;
use crate::queries::{self, Param, Query};
use crate::rows::{int_at, one, str_at, ts_at};
use crate::time::Time;
use crate::timeline::Timeline;
use crate::{AnalyzeError, Analyzer, DrillSpec};

/// `alerts_firings.sql`.
pub const FIRINGS: &Query = &queries::ALERTS_FIRINGS;
/// `alerts_window.sql`.
pub const WINDOW: &Query = &queries::ALERTS_WINDOW;
/// `alerts_suppressed.sql`.
pub const SUPPRESSED: &Query = &queries::ALERTS_SUPPRESSED;
/// `alerts_truncated.sql`.
pub const TRUNCATED: &Query = &queries::ALERTS_TRUNCATED;

/// Why silences are not audited.
pub const SILENCES_REASON: &str = "the Alertmanager webhook does not carry silences and cutover does not ingest them, so silences still active after drill_ended cannot be seen";

/// The `alerts` section of the drill spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// Alerts the drill must raise (none by default).
    #[serde(default)]
    pub expected: Vec<ExpectedAlert>,
    /// Windows in which alerts must not fire (none by default).
    #[serde(default)]
    pub suppression_windows: Vec<SuppressionWindow>,
}

/// An alert the drill must raise.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// The `alertname` label.
    pub alertname: String,
    /// Only firings of this service count (any service when absent).
    #[serde(default)]
    pub service: Option<String>,
    /// Longest allowed delay from the fault to `startsAt`, seconds (default 300).
    #[serde(default = "default_max_delay")]
    pub max_delay_seconds: f64,
    /// Longest allowed delivery delay, from `startsAt` to receipt, seconds (not checked when
    /// absent).
    #[serde(default)]
    pub max_delivery_seconds: Option<f64>,
}

fn default_max_delay() -> f64 {
    300.0
}

/// A window, between two drill markers, in which alerts must not fire.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuppressionWindow {
    /// Marker kind opening the window (its first occurrence).
    pub from_marker: String,
    /// Marker kind closing it (its first occurrence at or after the opening); the end of the
    /// data when absent.
    #[serde(default)]
    pub to_marker: Option<String>,
    /// Only this alert is suppressed (every alert when absent).
    #[serde(default)]
    pub alertname: Option<String>,
}

fn check_marker(field: &str, kind: &str) -> Result<(), String> {
    if cutover_schemas::MARKER_KINDS.contains(&kind) {
        return Ok(());
    }
    Err(format!(
        "{field}: unknown marker kind {kind:?}; expected one of {}",
        cutover_schemas::MARKER_KINDS.join(", ")
    ))
}

impl AlertsSpec {
    /// Checks values that parse but mean nothing (no I/O).
    pub fn validate(&self) -> Result<(), String> {
        for (i, e) in self.expected.iter().enumerate() {
            if e.alertname.is_empty() {
                return Err(format!("expected[{i}].alertname must not be empty"));
            }
            if e.service.as_deref() == Some("") {
                return Err(format!(
                    "expected[{i}].service must not be empty (leave it out for any)"
                ));
            }
            if !(e.max_delay_seconds >= 0.0 && e.max_delay_seconds.is_finite()) {
                return Err(format!("expected[{i}].max_delay_seconds must be a non-negative number"));
            }
            if e.max_delivery_seconds.is_some_and(|d| !(d >= 0.0 && d.is_finite())) {
                return Err(format!(
                    "expected[{i}].max_delivery_seconds must be a non-negative number"
                ));
            }
            if self.expected[..i]
                .iter()
                .any(|o| o.alertname == e.alertname && o.service == e.service)
            {
                return Err(format!("expected[{i}] repeats alert {}", e.alertname));
            }
        }
        for (i, w) in self.suppression_windows.iter().enumerate() {
            check_marker(&format!("suppression_windows[{i}].from_marker"), &w.from_marker)?;
            if let Some(t) = &w.to_marker {
                check_marker(&format!("suppression_windows[{i}].to_marker"), t)?;
            }
            if w.alertname.as_deref() == Some("") {
                return Err(format!(
                    "suppression_windows[{i}].alertname must not be empty (leave it out for every alert)"
                ));
            }
        }
        Ok(())
    }
}

/// One firing of an alert (an instance and its `startsAt`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Firing {
    /// The `alertname` label.
    pub alertname: String,
    /// Service of the alert event.
    pub service: String,
    /// Region of the alert event.
    pub region: String,
    /// Alertmanager's fingerprint.
    pub fingerprint: String,
    /// `startsAt`.
    pub starts_at: Time,
    /// First receipt of a firing notification.
    pub received_at: Time,
    /// Firing notifications received.
    pub notifications: u64,
    /// When it was resolved (null: still firing at the end of the data).
    pub resolved_at: Option<Time>,
}

/// The audit of one expected alert.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ExpectedResult {
    /// The spec's `alertname`.
    pub alertname: String,
    /// The spec's `service`.
    pub service: Option<String>,
    /// The spec's `max_delay_seconds`.
    pub max_delay_seconds: f64,
    /// Whether it fired at or after the fault.
    pub fired: bool,
    /// The matching firing (the first).
    pub firing: Option<Firing>,
    /// `startsAt` − `fault_at`, seconds (ms resolution).
    pub delay_seconds: Option<f64>,
    /// Receipt − `startsAt`, seconds (ms resolution).
    pub delivery_seconds: Option<f64>,
    /// Whether the firing was resolved within the data.
    pub resolved: bool,
    /// delay > `max_delay_seconds` (null when it never fired).
    pub late: Option<bool>,
    /// The spec's `max_delivery_seconds`.
    pub max_delivery_seconds: Option<f64>,
    /// delivery > `max_delivery_seconds` (null when it never fired or the spec sets no limit).
    pub delivery_late: Option<bool>,
}

/// An alert instance firing inside a suppression window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Suppressed {
    /// The `alertname` label.
    pub alertname: String,
    /// Service of the alert event.
    pub service: String,
    /// Region of the alert event.
    pub region: String,
    /// Alertmanager's fingerprint.
    pub fingerprint: String,
    /// `startsAt`.
    pub starts_at: Time,
    /// First firing notification received in the window.
    pub first_received_at: Time,
    /// Firing notifications received in the window.
    pub notifications: u64,
}

/// The audit of one suppression window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowResult {
    /// The spec's `from_marker`.
    pub from_marker: String,
    /// The spec's `to_marker`.
    pub to_marker: Option<String>,
    /// The spec's `alertname` (null: every alert).
    pub alertname: Option<String>,
    /// Window start.
    pub from_at: Option<Time>,
    /// Window end.
    pub to_at: Option<Time>,
    /// `true` when the window ends at the end of the data (no `to_marker`, or none in the log).
    pub to_data_end: bool,
    /// Why the window is not measurable, or a note on its end.
    pub reason: Option<String>,
    /// Alerts firing inside it.
    pub firing: Vec<Suppressed>,
}

/// The `alerts` section of the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Alerts {
    /// Why the section is not measurable.
    pub reason: Option<String>,
    /// The fault the delays are measured from.
    pub fault_at: Option<Time>,
    /// One entry per expected alert of the spec.
    pub expected: Vec<ExpectedResult>,
    /// Why the expected alerts are not measurable.
    pub expected_reason: Option<String>,
    /// Expected alerts that never fired.
    pub not_fired: u64,
    /// Expected alerts that fired late.
    pub late: u64,
    /// Expected alerts delivered later than their `max_delivery_seconds`.
    pub delivered_late: u64,
    /// Firings at or after the fault that no expected entry matches.
    pub unexpected: Vec<Firing>,
    /// One entry per suppression window of the spec.
    pub suppression_windows: Vec<WindowResult>,
    /// Alert instances firing inside suppression windows (summed over windows).
    pub suppressed_firing: u64,
    /// Silences still active after `drill_ended`: always null (see `silences_reason`).
    pub silences_after_drill_end: Option<u64>,
    /// Why silences are not measurable.
    pub silences_reason: Option<String>,
    /// Notifications received at or after the fault from which Alertmanager left alerts out
    /// (`truncatedAlerts` > 0, webhook `max_alerts`).
    pub truncated_notifications: u64,
    /// Alerts those notifications left out: they never reached cutover.
    pub truncated_alerts: u64,
    /// What truncation means for this audit (null when nothing was truncated).
    pub truncated_reason: Option<String>,
}

fn firings_of(b: &RecordBatch) -> Result<Vec<(Firing, i64, i64)>, AnalyzeError> {
    (0..b.num_rows())
        .map(|row| {
            let starts = ts_at(b, "starts_at", row)?.unwrap_or_default();
            let received = ts_at(b, "received_at", row)?.unwrap_or_default();
            let f = Firing {
                alertname: str_at(b, "alertname", row)?.unwrap_or_default(),
                service: str_at(b, "service", row)?.unwrap_or_default(),
                region: str_at(b, "region", row)?.unwrap_or_default(),
                fingerprint: str_at(b, "fingerprint", row)?.unwrap_or_default(),
                starts_at: Time::new(starts),
                received_at: Time::new(received),
                notifications: int_at(b, "notifications", row)?.unwrap_or(0) as u64,
                resolved_at: ts_at(b, "resolved_at", row)?.map(Time::new),
            };
            Ok((f, starts, received))
        })
        .collect()
}

fn matches(e: &ExpectedAlert, f: &Firing) -> bool {
    e.alertname == f.alertname && e.service.as_ref().is_none_or(|s| *s == f.service)
}

/// The expected alerts against the drill's firings (ordered by startsAt, receipt, …).
pub fn audit_expected(
    expected: &[ExpectedAlert],
    firings: &[(Firing, i64, i64)],
    fault_at: i64,
) -> Vec<ExpectedResult> {
    expected
        .iter()
        .map(|e| {
            let first = firings.iter().find(|(f, _, _)| matches(e, f));
            let delay = first.map(|(_, s, _)| seconds(s - fault_at));
            let delivery = first.map(|(_, s, r)| seconds(r - s));
            ExpectedResult {
                alertname: e.alertname.clone(),
                service: e.service.clone(),
                max_delay_seconds: e.max_delay_seconds,
                fired: first.is_some(),
                delay_seconds: delay,
                delivery_seconds: delivery,
                resolved: first.is_some_and(|(f, _, _)| f.resolved_at.is_some()),
                late: delay.map(|d| d > e.max_delay_seconds),
                max_delivery_seconds: e.max_delivery_seconds,
                delivery_late: delivery.zip(e.max_delivery_seconds).map(|(d, max)| d > max),
                firing: first.map(|(f, _, _)| f.clone()),
            }
        })
        .collect()
}

async fn window(
    analyzer: &Analyzer,
    w: &SuppressionWindow,
    data_end: Option<i64>,
) -> Result<WindowResult, AnalyzeError> {
    let mut out = WindowResult {
        from_marker: w.from_marker.clone(),
        to_marker: w.to_marker.clone(),
        alertname: w.alertname.clone(),
        ..Default::default()
    };
    let sql = queries::fill(
        WINDOW,
        &[
            ("from_marker", Param::Literal(w.from_marker.clone())),
            ("to_marker", Param::Literal(w.to_marker.clone().unwrap_or_default())),
        ],
    )?;
    let row = one(analyzer.sql(&sql).await?)?;
    let at = |col: &str| -> Result<Option<i64>, AnalyzeError> {
        Ok(row.as_ref().map(|b| ts_at(b, col, 0)).transpose()?.flatten())
    };
    let Some(from) = at("from_at")? else {
        out.reason = Some(format!("no {} marker in the log", w.from_marker));
        return Ok(out);
    };
    out.from_at = Some(Time::new(from));
    let to = match (at("to_at")?, data_end) {
        (Some(t), _) => t,
        (None, Some(end)) => {
            out.to_data_end = true;
            if let Some(t) = &w.to_marker {
                out.reason = Some(format!(
                    "no {t} marker at or after {}: the window runs to the end of the data",
                    w.from_marker
                ));
            }
            end
        }
        (None, None) => return Err(AnalyzeError::Internal("a marker exists but the data has no end".into())),
    };
    out.to_at = Some(Time::new(to));
    let sql = queries::fill(
        SUPPRESSED,
        &[
            ("from_at", Param::Time(from)),
            ("to_at", Param::Time(to)),
            ("alertname", Param::Literal(w.alertname.clone().unwrap_or_default())),
        ],
    )?;
    if let Some(b) = one(analyzer.sql(&sql).await?)? {
        out.firing = (0..b.num_rows())
            .map(|row| -> Result<_, AnalyzeError> {
                Ok(Suppressed {
                    alertname: str_at(&b, "alertname", row)?.unwrap_or_default(),
                    service: str_at(&b, "service", row)?.unwrap_or_default(),
                    region: str_at(&b, "region", row)?.unwrap_or_default(),
                    fingerprint: str_at(&b, "fingerprint", row)?.unwrap_or_default(),
                    starts_at: ts_at(&b, "starts_at", row)?.map(Time::new).unwrap_or_default(),
                    first_received_at: ts_at(&b, "first_received_at", row)?.map(Time::new).unwrap_or_default(),
                    notifications: int_at(&b, "notifications", row)?.unwrap_or(0) as u64,
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// Measures the section.
pub async fn measure(analyzer: &Analyzer, spec: &DrillSpec, timeline: &Timeline) -> Result<Alerts, AnalyzeError> {
    let mut out = Alerts {
        fault_at: timeline.fault_at.map(Time::new),
        silences_reason: Some(SILENCES_REASON.into()),
        ..Default::default()
    };
    for w in &spec.alerts.suppression_windows {
        out.suppression_windows
            .push(window(analyzer, w, timeline.data_end).await?);
    }
    out.suppressed_firing = out.suppression_windows.iter().map(|w| w.firing.len() as u64).sum();
    let Some(fault_at) = timeline.fault_at else {
        let why = "no fault_injected marker: alert delays are measured from the fault".to_string();
        if out.suppression_windows.is_empty() {
            out.reason = Some(why.clone());
        }
        out.expected_reason = Some(why);
        return Ok(out);
    };
    let sql = queries::fill(TRUNCATED, &[("fault_at", Param::Time(fault_at))])?;
    if let Some(b) = one(analyzer.sql(&sql).await?)? {
        let counts = b
            .column_by_name("truncated_alerts")
            .and_then(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>())
            .ok_or_else(|| AnalyzeError::Internal("alerts_truncated: truncated_alerts is not UInt64".into()))?;
        out.truncated_alerts = counts.iter().flatten().fold(0u64, u64::saturating_add);
        out.truncated_notifications = (0..b.num_rows())
            .map(|r| Ok(int_at(&b, "notifications", r)?.unwrap_or(0).max(0) as u64))
            .collect::<Result<Vec<u64>, AnalyzeError>>()?
            .into_iter()
            .fold(0u64, u64::saturating_add);
        out.truncated_reason = Some(format!(
            "Alertmanager left up to {} alert(s) out of {} notification(s) after the fault (webhook max_alerts; the most any notification of each group left out, summed over groups): an expected alert reported as not fired, late or unresolved may be among them",
            out.truncated_alerts, out.truncated_notifications
        ));
    }
    let sql = queries::fill(FIRINGS, &[("fault_at", Param::Time(fault_at))])?;
    let firings = match one(analyzer.sql(&sql).await?)? {
        Some(b) => firings_of(&b)?,
        None => Vec::new(),
    };
    out.expected = audit_expected(&spec.alerts.expected, &firings, fault_at);
    out.not_fired = out.expected.iter().filter(|e| !e.fired).count() as u64;
    out.late = out.expected.iter().filter(|e| e.late == Some(true)).count() as u64;
    out.delivered_late = out.expected.iter().filter(|e| e.delivery_late == Some(true)).count() as u64;
    out.unexpected = firings
        .into_iter()
        .map(|(f, _, _)| f)
        .filter(|f| !spec.alerts.expected.iter().any(|e| matches(e, f)))
        .collect();
    Ok(out)
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "—".into())
}

/// A number, in bold with "(late)" when it broke its limit.
fn flagged(v: &Option<f64>, late: Option<bool>) -> String {
    match late {
        Some(true) => format!("**{}** (late)", opt(v)),
        _ => opt(v),
    }
}

/// One row of the expected-alerts table.
fn expected_row(e: &ExpectedResult) -> String {
    let name = match &e.service {
        Some(s) => format!("{} ({s})", e.alertname),
        None => e.alertname.clone(),
    };
    let f = e.firing.as_ref();
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
        if e.fired { "yes" } else { "**no**" },
        opt(&f.map(|f| f.starts_at.clone())),
        flagged(&e.delay_seconds, e.late),
        e.max_delay_seconds,
        opt(&f.map(|f| f.region.clone())),
        flagged(&e.delivery_seconds, e.delivery_late),
        opt(&f.and_then(|f| f.resolved_at.clone())),
    )
}

impl Alerts {
    /// The section in Markdown (starts with a `## ` heading).
    pub fn markdown(&self) -> String {
        let mut out = String::from("\n## Alerts\n\n");
        if let Some(r) = &self.reason {
            out += &format!("Not measurable: {r}\n");
        }
        if let Some(r) = &self.expected_reason {
            out += &format!("Expected alerts not measurable: {r}\n");
        } else if !self.expected.is_empty() {
            out += &format!(
                "{} expected alert(s): {} never fired, {} late, {} delivered late.\n\n",
                self.expected.len(),
                self.not_fired,
                self.late,
                self.delivered_late
            );
            out += "| alert | fired | startsAt | delay s | max s | region | delivery s | resolved |\n";
            out += "|---|---|---|---|---|---|---|---|\n";
            out += &self.expected.iter().map(expected_row).collect::<String>();
        }
        if let Some(r) = &self.truncated_reason {
            out += &format!("\n**Truncated notifications:** {r}.\n");
        }
        if !self.unexpected.is_empty() {
            out += "\nFiring after the fault but not expected:\n\n";
            for f in &self.unexpected {
                out += &format!(
                    "- {} ({}, {}) since {}\n",
                    f.alertname, f.service, f.region, f.starts_at
                );
            }
        }
        for w in &self.suppression_windows {
            out += &format!(
                "\nSuppression window {} → {} ({}): ",
                w.from_marker,
                w.to_marker.as_deref().unwrap_or("end of data"),
                w.alertname.as_deref().unwrap_or("every alert")
            );
            match (&w.from_at, &w.reason) {
                (None, r) => out += &format!("not measurable: {}\n", opt(r)),
                (Some(_), None) => out += &format!("{} alert(s) fired inside.\n", w.firing.len()),
                (Some(_), Some(r)) => out += &format!("{} alert(s) fired inside ({r}).\n", w.firing.len()),
            }
            for s in &w.firing {
                out += &format!(
                    "- {} ({}, {}) at {}\n",
                    s.alertname, s.service, s.region, s.first_received_at
                );
            }
        }
        out += &format!(
            "\nSilences after drill_ended: not measurable: {}\n",
            opt(&self.silences_reason)
        );
        out
    }
}

/// Whether the section holds a failing verdict for `--fail-on alerts`: an expected alert that
/// never fired, fired late or was delivered late.
pub fn fails(section: &Alerts) -> bool {
    section.not_fired > 0 || section.late > 0 || section.delivered_late > 0
}

impl crate::section::Section for Alerts {
    const NAME: &'static str = "alerts";

    async fn measure(cx: &crate::section::Context<'_>) -> Result<Self, AnalyzeError> {
        measure(cx.analyzer, cx.spec, cx.timeline).await
    }

    fn markdown(&self) -> String {
        Alerts::markdown(self)
    }

    fn holds(&self, verdict: crate::report::FailOn) -> bool {
        use crate::report::FailOn;
        match verdict {
            FailOn::Alerts => fails(self),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing(name: &str, service: &str) -> Firing {
        Firing {
            alertname: name.into(),
            service: service.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_matching_firing_counts_and_late_is_strict() {
        let s = 1_000_000_000i64;
        let firings = vec![
            (firing("A", "batch"), 65 * s, 66 * s),
            (firing("A", "frontend"), 75 * s, 76_500_000_000),
            (firing("A", "frontend"), 80 * s, 81 * s),
        ];
        let expected = [
            ExpectedAlert {
                alertname: "A".into(),
                service: Some("frontend".into()),
                max_delay_seconds: 15.0,
                max_delivery_seconds: Some(1.0),
            },
            ExpectedAlert {
                alertname: "A".into(),
                service: None,
                max_delay_seconds: 4.0,
                max_delivery_seconds: None,
            },
            ExpectedAlert {
                alertname: "B".into(),
                service: None,
                max_delay_seconds: 4.0,
                max_delivery_seconds: None,
            },
        ];
        let r = audit_expected(&expected, &firings, 60 * s);
        // frontend: starts 75 s → delay 15 s, not late (strict); delivered 1.5 s later.
        assert_eq!(
            (r[0].delay_seconds, r[0].delivery_seconds, r[0].late),
            (Some(15.0), Some(1.5), Some(false))
        );
        // … which is more than the 1 s allowed for delivery.
        assert_eq!(r[0].delivery_late, Some(true));
        assert_eq!(r[1].delivery_late, None);
        // any service: the batch firing at 65 s → 5 s > 4 s, late.
        assert_eq!((r[1].delay_seconds, r[1].late), (Some(5.0), Some(true)));
        assert_eq!(r[1].firing.as_ref().unwrap().service, "batch");
        assert!(!r[2].fired && r[2].late.is_none() && r[2].delay_seconds.is_none());
    }

    #[test]
    fn spec_validation_names_the_bad_entry() {
        let ok: AlertsSpec = serde_yaml::from_str(
            "expected: [{ alertname: A }]\nsuppression_windows: [{ from_marker: failover_declared }]",
        )
        .unwrap();
        assert_eq!(ok.expected[0].max_delay_seconds, 300.0);
        assert!(ok.validate().is_ok());
        let bad: AlertsSpec = serde_yaml::from_str("suppression_windows: [{ from_marker: failover }]").unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("suppression_windows[0].from_marker")
        );
        let bad: AlertsSpec =
            serde_yaml::from_str("expected: [{ alertname: A }, { alertname: A, max_delay_seconds: 1 }]").unwrap();
        assert!(bad.validate().unwrap_err().contains("expected[1]"));
        assert!(serde_yaml::from_str::<AlertsSpec>("expected: [{ alertname: A, delay: 1 }]").is_err());
    }
}
