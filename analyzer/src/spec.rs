//! The drill spec: what was drilled and the targets that turn measurements into verdicts.
//!
//! ```yaml
//! name: example
//! regions: { primary: us-east-1, secondary: us-west-2 }
//! targets: { rto_seconds: 300, rpo_seconds: 5 }
//! sli: { services: [frontend], span_kinds: [server] }   # or sli.metrics: see metrics_sli
//! recovery: { success_ratio: 0.99, stable_seconds: 60, breach_seconds: 10, breach_success_ratio: 0.9 }
//! replication: { lag_metric: pg_replication_lag_seconds, lag_unit: seconds }   # optional
//! ```
//!
//! Unknown keys are errors naming the key and its line.

use std::path::Path;

use serde::Deserialize;

/// A drill spec file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrillSpec {
    /// Name shown in reports.
    pub name: String,
    /// Regions of the drill.
    pub regions: Regions,
    /// Targets.
    pub targets: Targets,
    /// Which spans are requests of the service level indicator.
    pub sli: Sli,
    /// When the service counts as recovered.
    #[serde(default)]
    pub recovery: RecoveryRule,
    /// Replication telemetry, for the RPO estimate beside the measured RPO.
    #[serde(default)]
    pub replication: Option<Replication>,
    /// Latency section settings.
    #[serde(default)]
    pub latency: crate::measures::latency::LatencySpec,
    /// Telemetry gap settings.
    #[serde(default)]
    pub gaps: crate::measures::gaps::GapsSpec,
    /// Expected alerts and suppression windows.
    #[serde(default)]
    pub alerts: crate::measures::alerts::AlertsSpec,
    /// Service level objectives.
    #[serde(default)]
    pub budget: crate::measures::budget::BudgetSpec,
    /// Abort criteria.
    #[serde(default)]
    pub abort: crate::measures::abort::AbortSpec,
    /// Trace continuity settings.
    #[serde(default)]
    pub traces: crate::measures::traces::TracesSpec,
    /// Message reconciliation settings.
    #[serde(default)]
    pub messages: crate::measures::messages::MessagesSpec,
    /// Residual traffic and session drop settings.
    #[serde(default)]
    pub traffic: crate::measures::traffic::TrafficSpec,
    /// Utilization gauges of the secondary.
    #[serde(default)]
    pub capacity: crate::measures::capacity::CapacitySpec,
    /// Validity thresholds and the SLI series window.
    #[serde(default)]
    pub validity: crate::measures::validity::ValiditySpec,
}

/// Where the replication lag is reported.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    /// Name of the lag gauge (OTLP metric or Prometheus series name).
    pub lag_metric: String,
    /// Unit of the gauge's values.
    #[serde(default)]
    pub lag_unit: LagUnit,
}

/// Unit of a lag gauge.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LagUnit {
    /// Seconds (the default).
    #[default]
    Seconds,
    /// Milliseconds.
    Milliseconds,
}

/// The two regions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    /// Region serving before the failover (and the database primary).
    pub primary: String,
    /// Region taking over.
    pub secondary: String,
}

/// Recovery objectives.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Recovery time objective, seconds.
    pub rto_seconds: f64,
    /// Recovery point objective, seconds.
    pub rpo_seconds: f64,
}

/// The SLI's requests: spans of some services, or counters (`metrics`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sli {
    /// `service.name`s whose spans are requests (may be empty with `metrics`).
    #[serde(default)]
    pub services: Vec<String>,
    /// Span kinds counted (`server`, `client`, `internal`, `producer`, `consumer`).
    #[serde(default = "default_kinds")]
    pub span_kinds: Vec<String>,
    /// An SLI from counters instead of spans ([`crate::metrics_sli`]): `requests` is then
    /// built from these metrics.
    #[serde(default)]
    pub metrics: Option<crate::metrics_sli::MetricsSliSpec>,
    /// How the SLI's spans were sampled.
    #[serde(default)]
    pub sampling: SamplingSpec,
}

/// How the SLI's spans were sampled.
///
/// ```yaml
/// sli:
///   services: [frontend]
///   sampling: { mode: head, probability: 0.1 }   # or { mode: tail }
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SamplingSpec {
    /// `head` (the default: a span was kept or dropped before its outcome was known, so the
    /// kept ones are a fair sample) or `tail` (kept by outcome, e.g. errors kept, successes
    /// dropped: the spans' error ratio is not the service's).
    #[serde(default)]
    pub mode: SamplingMode,
    /// The probability a request's span was kept, for spans that say nothing themselves
    /// (no `ot=th:` in their tracestate, no `sampling.probability` attribute); 1 by default.
    #[serde(default)]
    pub probability: Option<f64>,
}

/// See [`SamplingSpec::mode`].
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SamplingMode {
    /// Head sampling (or none).
    #[default]
    Head,
    /// Tail sampling.
    Tail,
}

fn default_kinds() -> Vec<String> {
    vec!["server".into()]
}

/// The recovery rule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRule {
    /// Fraction of good requests required over the stable window.
    pub success_ratio: f64,
    /// Length of the window, seconds.
    pub stable_seconds: f64,
    /// Without a `fault_injected` marker, the fault is inferred as the first bad request that
    /// opens a window of this many seconds in which fewer than `breach_success_ratio` of the
    /// requests are good (a sustained SLI breach).
    #[serde(default = "default_breach_seconds")]
    pub breach_seconds: f64,
    /// See `breach_seconds` (default 0.9: a breach is sustained when more than 10 % of the
    /// window's requests fail, so a background error rate does not pass for a fault).
    #[serde(default = "default_breach_success_ratio")]
    pub breach_success_ratio: f64,
}

fn default_breach_success_ratio() -> f64 {
    0.9
}

fn default_breach_seconds() -> f64 {
    10.0
}

impl Default for RecoveryRule {
    fn default() -> Self {
        RecoveryRule {
            success_ratio: 0.99,
            stable_seconds: 60.0,
            breach_seconds: default_breach_seconds(),
            breach_success_ratio: default_breach_success_ratio(),
        }
    }
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Unreadable file.
    #[error("cannot read drill spec {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid YAML for a spec (serde_yaml's message names the key and line).
    #[error("invalid drill spec {path}: {message}")]
    Parse {
        /// The path.
        path: String,
        /// What is wrong, with location.
        message: String,
    },
    /// Parsed but not meaningful.
    #[error("invalid drill spec {path}: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

const KINDS: [&str; 5] = ["server", "client", "internal", "producer", "consumer"];

impl DrillSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<DrillSpec, SpecError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            SpecError::Parse { message, .. } => SpecError::Parse {
                path: p.clone(),
                message,
            },
            SpecError::Invalid { message, .. } => SpecError::Invalid {
                path: p.clone(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates spec text (no I/O).
    pub fn parse(text: &str) -> Result<DrillSpec, SpecError> {
        let spec: DrillSpec = serde_yaml::from_str(text).map_err(|e| SpecError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        spec.validate().map_err(|message| SpecError::Invalid {
            path: String::new(),
            message,
        })?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        if self.regions.primary == self.regions.secondary {
            return Err("regions.primary and regions.secondary must differ".into());
        }
        if !(self.targets.rto_seconds >= 0.0 && self.targets.rpo_seconds >= 0.0) {
            return Err("targets must be non-negative numbers of seconds".into());
        }
        match &self.sli.metrics {
            Some(m) => {
                m.selectors()?;
            }
            None if self.sli.services.is_empty() => {
                return Err("sli.services must name at least one service (or give sli.metrics)".into());
            }
            None => {}
        }
        if let Some(p) = self.sli.sampling.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err("sli.sampling.probability must be in (0, 1]".into());
        }
        if let Some(k) = self.sli.span_kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
            return Err(format!(
                "sli.span_kinds: unknown kind {k:?}; expected one of {}",
                KINDS.join(", ")
            ));
        }
        if !(self.recovery.success_ratio > 0.0 && self.recovery.success_ratio <= 1.0) {
            return Err("recovery.success_ratio must be in (0, 1]".into());
        }
        if !(self.recovery.stable_seconds > 0.0 && self.recovery.stable_seconds.is_finite()) {
            return Err("recovery.stable_seconds must be a positive number".into());
        }
        if !(self.recovery.breach_success_ratio > 0.0 && self.recovery.breach_success_ratio <= 1.0) {
            return Err("recovery.breach_success_ratio must be in (0, 1]".into());
        }
        if !(self.recovery.breach_seconds > 0.0 && self.recovery.breach_seconds.is_finite()) {
            return Err("recovery.breach_seconds must be a positive number".into());
        }
        self.latency.validate().map_err(|e| format!("latency: {e}"))?;
        self.gaps.validate().map_err(|e| format!("gaps: {e}"))?;
        self.alerts.validate().map_err(|e| format!("alerts: {e}"))?;
        self.budget.validate().map_err(|e| format!("budget: {e}"))?;
        self.abort.validate().map_err(|e| format!("abort: {e}"))?;
        self.traces.validate().map_err(|e| format!("traces: {e}"))?;
        self.messages.validate().map_err(|e| format!("messages: {e}"))?;
        self.traffic.validate().map_err(|e| format!("traffic: {e}"))?;
        self.capacity.validate().map_err(|e| format!("capacity: {e}"))?;
        self.validity.validate().map_err(|e| format!("validity: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: example\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 300, rpo_seconds: 5 }\nsli: { services: [frontend], span_kinds: [server] }\nrecovery: { success_ratio: 0.99, stable_seconds: 60 }\n";

    #[test]
    fn the_documented_example_parses() {
        let s = DrillSpec::parse(GOOD).unwrap();
        assert_eq!(s.regions.primary, "us-east-1");
        assert_eq!(s.recovery.stable_seconds, 60.0);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = GOOD.replace("recovery:", "recovry:");
        let err = DrillSpec::parse(&text).unwrap_err().to_string();
        assert!(err.contains("recovry") && err.contains("line 5"), "{err}");
    }

    #[test]
    fn meaningless_values_are_refused() {
        let text = GOOD.replace("0.99", "1.5");
        assert!(
            DrillSpec::parse(&text)
                .unwrap_err()
                .to_string()
                .contains("success_ratio")
        );
        let text = GOOD.replace("[server]", "[sever]");
        assert!(DrillSpec::parse(&text).unwrap_err().to_string().contains("sever"));
    }
}
