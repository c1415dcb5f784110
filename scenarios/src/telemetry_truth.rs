//! Truth of the telemetry sections (gaps, followed the cutover, alert audit), from the
//! generated events, by the definitions in the sections' module docs.

use std::collections::BTreeMap;

use cutover_schemas::{Body, Event, EventKind};

use super::truth::{AlertFact, secs};
use crate::sim::Ns;

/// The gap rule of the scenarios' spec (`GAPS_SPEC`).
#[derive(Debug, Clone, PartialEq)]
pub struct GapRule {
    /// A gap is a silence longer than `factor` × cadence.
    pub factor: f64,
    /// Cadence per signal (`spans`, `metrics`, `logs`, `siem`), ns.
    pub cadence: BTreeMap<&'static str, Ns>,
    /// Streams with fewer distinct times are not checked.
    pub min_events: usize,
    /// Allowed delay after the cutover for a stream to follow, seconds.
    pub follow_delay_seconds: f64,
    /// Floor of every threshold, ns.
    pub min_gap: Ns,
}

/// The spec lines of [`GapRule::scenarios`].
pub const GAPS_SPEC: &str = "\
gaps:
  gap_factor: 3
  cadence_seconds: { spans: 5, metrics: 10, siem: 5, logs: 10 }
  follow_delay_seconds: 60
  min_events: 3
  min_gap_seconds: 5";

impl GapRule {
    /// The rule every scenario's spec states ([`GAPS_SPEC`]).
    pub fn scenarios() -> GapRule {
        let s = 1_000_000_000;
        GapRule {
            factor: 3.0,
            cadence: BTreeMap::from([("spans", 5 * s), ("metrics", 10 * s), ("siem", 5 * s), ("logs", 10 * s)]),
            min_events: 3,
            follow_delay_seconds: 60.0,
            min_gap: 5 * s,
        }
    }
}

/// A stream: region, service, signal, metric name (empty for the whole signal).
pub type StreamKey = (String, String, &'static str, String);

/// One expected gap.
#[derive(Debug, Clone, PartialEq)]
pub struct GapTruth {
    /// The stream.
    pub key: StreamKey,
    /// Last event before the silence.
    pub start: Ns,
    /// First event after it; `None` when the stream never resumed (open gap).
    pub end: Option<Ns>,
    /// Expected (a primary stream silenced by the fault) rather than unexpected.
    pub expected: bool,
}

/// One stream of the follow check.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowTruth {
    /// Service, signal, metric name (empty for the whole signal).
    pub key: (String, &'static str, String),
    /// First event in the secondary at or after the cutover.
    pub secondary_first: Option<Ns>,
    /// `followed`, `late` or `never`.
    pub status: &'static str,
}

/// Distinct event times of every stream in `events`.
pub fn streams(events: &[Event]) -> BTreeMap<StreamKey, Vec<Ns>> {
    let mut out: BTreeMap<StreamKey, Vec<Ns>> = BTreeMap::new();
    for e in events {
        let signal = match EventKind::try_from(e.kind) {
            Ok(EventKind::Span) => "spans",
            Ok(EventKind::MetricPoint) => "metrics",
            Ok(EventKind::Log) => "logs",
            Ok(EventKind::Siem) => "siem",
            _ => continue,
        };
        let mut key = (e.region.clone(), e.service.clone(), signal, String::new());
        if let Some(Body::Metric(m)) = &e.body {
            if m.is_stale {
                continue;
            }
            let mut by_name = key.clone();
            by_name.3 = m.name.clone();
            out.entry(by_name).or_default().push(e.event_time_unix_nano);
        }
        key.3.clear();
        out.entry(key).or_default().push(e.event_time_unix_nano);
    }
    for times in out.values_mut() {
        times.sort_unstable();
        times.dedup();
    }
    out
}

/// Every gap of every checked stream, by stream then start.
pub fn gaps(events: &[Event], rule: &GapRule, primary: &str, fault: Ns) -> Vec<GapTruth> {
    let data_end = events.iter().map(|e| e.event_time_unix_nano).max().unwrap_or(0);
    let mut out = Vec::new();
    for (key, times) in streams(events) {
        if times.len() < rule.min_events {
            continue;
        }
        let threshold = (rule.factor * rule.cadence[key.2] as f64).max(rule.min_gap as f64);
        let expected = |start: Ns| key.0 == primary && start as f64 + threshold >= fault as f64;
        for w in times.windows(2) {
            if (w[1] - w[0]) as f64 > threshold {
                out.push(GapTruth {
                    key: key.clone(),
                    start: w[0],
                    end: Some(w[1]),
                    expected: expected(w[0]),
                });
            }
        }
        let last = *times.last().unwrap();
        if (data_end - last) as f64 > threshold {
            out.push(GapTruth {
                key: key.clone(),
                start: last,
                end: None,
                expected: expected(last),
            });
        }
    }
    out
}

/// The follow check: every stream (service × signal, service × metric) with an event in the
/// primary before the fault, and its first event in the secondary at or after the cutover.
pub fn followed(events: &[Event], rule: &GapRule, primary: &str, fault: Ns, cutover: Ns) -> Vec<FollowTruth> {
    let all = streams(events);
    let mut out = Vec::new();
    for ((region, service, signal, metric), times) in &all {
        if region != primary || times.first().is_none_or(|t| *t >= fault) {
            continue;
        }
        let first = all
            .iter()
            .filter(|((r, s, g, m), _)| r != primary && s == service && g == signal && m == metric)
            .filter_map(|(_, t)| t.iter().find(|t| **t >= cutover).copied())
            .min();
        let status = match first {
            None => "never",
            Some(f) if secs(f - cutover) <= rule.follow_delay_seconds => "followed",
            Some(_) => "late",
        };
        out.push(FollowTruth {
            key: (service.clone(), *signal, metric.clone()),
            secondary_first: first,
            status,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The alerts part of every scenario's spec: the SLI alert within 60 s of the fault and
/// delivered within 30 s, the database alert within 60 s; `InstanceDown` must not fire between
/// `failover_declared` and `failover_completed`.
pub const ALERTS_SPEC: &str = "\
alerts:
  expected:
    - { alertname: FrontendErrorRateHigh, service: frontend, max_delay_seconds: 60, max_delivery_seconds: 30 }
    - { alertname: OrdersDbPrimaryDown, max_delay_seconds: 60 }
  suppression_windows:
    - { from_marker: failover_declared, to_marker: failover_completed, alertname: InstanceDown }";

/// The expected alerts of [`ALERTS_SPEC`]: (name, max delay, max delivery), seconds.
pub const EXPECTED_ALERTS: [(&str, f64, Option<f64>); 2] = [
    ("FrontendErrorRateHigh", 60.0, Some(30.0)),
    ("OrdersDbPrimaryDown", 60.0, None),
];

/// An expected alert of the spec and what the audit must find for it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTruth {
    /// `alertname`.
    pub name: String,
    /// Fired during the drill (`startsAt` ≥ fault).
    pub fired: bool,
    /// `startsAt` − fault, seconds.
    pub delay_seconds: Option<f64>,
    /// Receipt − `startsAt`, seconds.
    pub delivery_seconds: Option<f64>,
    /// A resolved notification came.
    pub resolved: bool,
    /// delay > max delay (`None` when it never fired).
    pub late: Option<bool>,
    /// delivery > max delivery (`None` when it never fired or there is no limit).
    pub delivery_late: Option<bool>,
}

/// The audit of the [`EXPECTED_ALERTS`] over the generated alerts: the earliest drill firing
/// of each name.
pub fn alerts(generated: &[AlertFact], fault: Ns) -> Vec<AlertTruth> {
    EXPECTED_ALERTS
        .iter()
        .map(|(name, max_delay, max_delivery)| {
            let firing = generated
                .iter()
                .filter(|a| a.name == *name && a.starts_at >= fault)
                .min_by_key(|a| (a.starts_at, a.received_at));
            let delay = firing.map(|a| secs(a.starts_at - fault));
            let delivery = firing.map(|a| secs(a.received_at - a.starts_at));
            AlertTruth {
                name: name.to_string(),
                fired: firing.is_some(),
                delay_seconds: delay,
                delivery_seconds: delivery,
                resolved: firing.is_some_and(|a| a.ends_at.is_some()),
                late: delay.map(|d| d > *max_delay),
                delivery_late: delivery.zip(*max_delivery).map(|(d, m)| d > m),
            }
        })
        .collect()
}

/// Drill firings (`startsAt` ≥ fault) of names the spec does not expect, by name.
pub fn unexpected_alerts(generated: &[AlertFact], fault: Ns) -> Vec<String> {
    let mut v: Vec<String> = generated
        .iter()
        .filter(|a| a.starts_at >= fault && !EXPECTED_ALERTS.iter().any(|(n, _, _)| *n == a.name))
        .map(|a| a.name.clone())
        .collect();
    v.sort();
    v
}

/// `InstanceDown` firings received inside `[declared, completed]`.
pub fn suppressed(generated: &[AlertFact], declared: Ns, completed: Ns) -> Vec<String> {
    generated
        .iter()
        .filter(|a| a.name == "InstanceDown" && a.received_at >= declared && a.received_at <= completed)
        .map(|a| a.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{gauge, siem};

    const S: Ns = 1_000_000_000;

    #[test]
    fn gaps_are_long_steps_and_silences_to_the_data_end() {
        // Primary gauge every 10 s to 100 s with a hole from 30 to 80 s; fault at 60 s.
        // Secondary SIEM feed every 5 s from 100 s to 200 s (the data end).
        let mut ev: Vec<Event> = [0, 10, 20, 80, 90, 100]
            .iter()
            .map(|t| gauge("us-east-1", "api", "m", "1", t * S, 1.0))
            .collect();
        ev.extend((0..=20).map(|k| siem("us-west-2", "h", "sshd", (100 + 5 * k) * S, "x")));
        let g = gaps(&ev, &GapRule::scenarios(), "us-east-1", 60 * S);
        let got: Vec<_> = g
            .iter()
            .map(|g| (g.key.3.as_str(), g.start / S, g.end.map(|e| e / S), g.expected))
            .collect();
        // Each gap twice (the service's metrics and the metric itself): 20→80 s starts before
        // the fault minus the 30 s threshold (unexpected); 100→200 s is open (expected).
        assert_eq!(
            got,
            [
                ("", 20, Some(80), false),
                ("", 100, None, true),
                ("m", 20, Some(80), false),
                ("m", 100, None, true)
            ]
        );
        let f = followed(&ev, &GapRule::scenarios(), "us-east-1", 60 * S, 100 * S);
        assert_eq!(f.iter().map(|f| f.status).collect::<Vec<_>>(), ["never", "never"]);
    }
}
