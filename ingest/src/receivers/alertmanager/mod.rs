//! Alertmanager webhook receiver at `POST /v1/alertmanager` (payload version 4).
//!
//! Each alert of a notification becomes an alert event: firing or resolved, its labels as
//! attributes, `startsAt`/`endsAt`, fingerprint and generator URL, and the notification's
//! `groupKey`, `groupLabels` and `truncatedAlerts` (alerts left out by `max_alerts`). The event time is the
//! receive time, so delivery lag is `time − starts_at`. Region: the alert label named by
//! `--region-label` (default `region`), else the listener default. Service: label `service`,
//! else `job`. Answers 200 once stored; 400 for a body that is not a version 4 payload; 503 +
//! Retry-After when the log cannot take it (Alertmanager retries 5xx).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use cutover_schemas::{AlertBody, Attribute, Body, Event, EventKind, SCHEMA_VERSION, Source};
use serde::Deserialize;

use super::context::{HttpContext, now_unix_nano};
use super::markers::parse_time;
use crate::error::IngestError;

const RECEIVER: &str = "alertmanager";

/// A webhook notification (the fields cutover uses; others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Must be `"4"`.
    pub version: String,
    /// `firing` or `resolved` for the group.
    pub status: String,
    /// The receiver name in Alertmanager's config.
    pub receiver: String,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// The group's key.
    #[serde(default)]
    pub group_key: String,
    /// The labels the group is formed by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Alerts of the group left out of this notification (`max_alerts` in Alertmanager's
    /// webhook config).
    #[serde(default)]
    pub truncated_alerts: u64,
}

/// One alert.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default)]
    pub starts_at: String,
    /// RFC 3339; the zero time while firing.
    #[serde(default)]
    pub ends_at: String,
    /// Link to the rule.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint.
    #[serde(default)]
    pub fingerprint: String,
}

fn time_or_zero(s: &str) -> Result<i64, String> {
    if s.is_empty() || s.starts_with("0001-01-01") {
        return Ok(0);
    }
    parse_time(s)
}

/// Converts a notification into alert events (pure).
pub fn to_events(n: &Notification, region_label: &str, default_region: &str, now: i64) -> Result<Vec<Event>, String> {
    if n.version != "4" {
        return Err(format!(
            "webhook payload version {:?}; cutover reads version \"4\"",
            n.version
        ));
    }
    n.alerts
        .iter()
        .map(|a| {
            if a.status != "firing" && a.status != "resolved" {
                return Err(format!("alert status {:?} is neither firing nor resolved", a.status));
            }
            let label = |k: &str| a.labels.get(k).filter(|v| !v.is_empty()).cloned();
            Ok(Event {
                schema_version: SCHEMA_VERSION,
                kind: EventKind::Alert as i32,
                region: label(region_label).unwrap_or_else(|| default_region.to_string()),
                service: label("service").or_else(|| label("job")).unwrap_or_default(),
                event_time_unix_nano: now,
                ingest_time_unix_nano: now,
                trace_id: vec![],
                span_id: vec![],
                attributes: a
                    .labels
                    .iter()
                    .map(|(k, v)| Attribute::str(k.clone(), v.clone()))
                    .collect(),
                resource_attributes: vec![],
                source: Source::AlertmanagerWebhook as i32,
                body: Some(Body::Alert(AlertBody {
                    status: a.status.clone(),
                    alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
                    starts_at_unix_nano: time_or_zero(&a.starts_at)?,
                    ends_at_unix_nano: time_or_zero(&a.ends_at)?,
                    fingerprint: a.fingerprint.clone(),
                    generator_url: a.generator_url.clone(),
                    receiver: n.receiver.clone(),
                    annotations_json: serde_json::to_string(&a.annotations).unwrap_or_default(),
                    group_key: n.group_key.clone(),
                    group_labels_json: serde_json::to_string(&n.group_labels).unwrap_or_default(),
                    truncated_alerts: n.truncated_alerts,
                })),
            })
        })
        .collect()
}

/// The router.
pub fn router(ctx: Arc<HttpContext>) -> Router {
    Router::new().route("/v1/alertmanager", post(handle)).with_state(ctx)
}

async fn handle(State(ctx): State<Arc<HttpContext>>, request: Request) -> Response {
    let mut ticket = ctx.admission.ticket();
    let n: Notification = match ctx.read_json(request, "Alertmanager webhook", &mut ticket).await {
        Ok(n) => n,
        Err(e) => return ctx.refuse(RECEIVER, e),
    };
    // Every alert's event copies the receiver name: refuse before building what would not fit.
    let estimate: usize = n
        .alerts
        .iter()
        .map(|a| {
            let labels: usize = a.labels.iter().map(|(k, v)| 2 * (k.len() + v.len()) + 64).sum();
            let annotations: usize = a.annotations.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
            let group: usize = n.group_labels.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
            2 * (n.receiver.len()
                + n.group_key.len()
                + group
                + a.fingerprint.len()
                + a.generator_url.len()
                + annotations
                + 512)
                + labels
        })
        .sum();
    if estimate > ctx.limits.max_request_event_bytes || n.alerts.len() > ctx.limits.max_request_events {
        let e = IngestError::Exhausted(format!(
            "the webhook converts to {} alerts of about {estimate} bytes, more than {} events or {} bytes (limits.max_request_events, limits.max_request_event_bytes)",
            n.alerts.len(),
            ctx.limits.max_request_events,
            ctx.limits.max_request_event_bytes
        ));
        return ctx.refuse(RECEIVER, e);
    }
    let label = &ctx.receivers.alertmanager.region_label;
    let events = match to_events(&n, label, &ctx.default_region, now_unix_nano()) {
        Ok(e) => e,
        Err(msg) => return ctx.refuse(RECEIVER, IngestError::InvalidInput(msg)),
    };
    drop(n);
    if let Err(e) = ctx.admit_events(&events, &mut ticket) {
        return ctx.refuse(RECEIVER, e);
    }
    let count = events.len();
    match ctx.store(RECEIVER, events).await {
        Ok(()) => super::context::json_ok(&serde_json::json!({ "stored_alerts": count })),
        Err(e) => super::context::error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_schemas::Value;

    const PAYLOAD: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,
      "status":"firing","receiver":"cutover","groupLabels":{"alertname":"HighErrorRate"},
      "commonLabels":{"alertname":"HighErrorRate"},"commonAnnotations":{},"externalURL":"http://am:9093",
      "alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","region":"us-west-2","job":"frontend"},
        "annotations":{"summary":"errors"},"startsAt":"2026-11-26T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
        "generatorURL":"http://prom:9090/graph","fingerprint":"abc123"},
        {"status":"resolved","labels":{"alertname":"Lag"},"startsAt":"2026-11-26T09:00:00Z",
        "endsAt":"2026-11-26T09:05:00Z","fingerprint":"def"}]}"#;

    #[test]
    fn version_4_payload_becomes_one_event_per_alert() {
        let n: Notification = serde_json::from_str(PAYLOAD).unwrap();
        let ev = to_events(&n, "region", "default", 99).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(
            (ev[0].region.as_str(), ev[0].service.as_str()),
            ("us-west-2", "frontend")
        );
        assert_eq!((ev[1].region.as_str(), ev[1].service.as_str()), ("default", ""));
        assert_eq!(ev[0].attribute("alertname"), Some(&Value::Str("HighErrorRate".into())));
        let Some(Body::Alert(a)) = &ev[0].body else {
            panic!("not an alert")
        };
        assert_eq!(
            (a.status.as_str(), a.fingerprint.as_str(), a.ends_at_unix_nano),
            ("firing", "abc123", 0)
        );
        assert_eq!(a.starts_at_unix_nano, parse_time("2026-11-26T10:00:00Z").unwrap());
        let Some(Body::Alert(r)) = &ev[1].body else {
            panic!("not an alert")
        };
        assert_eq!(r.ends_at_unix_nano, parse_time("2026-11-26T09:05:00Z").unwrap());
        assert_eq!(ev[0].event_time_unix_nano, 99);
    }

    #[test]
    fn other_versions_and_statuses_are_refused() {
        let n: Notification = serde_json::from_str(&PAYLOAD.replace(r#""version":"4""#, r#""version":"3""#)).unwrap();
        assert!(to_events(&n, "region", "d", 0).unwrap_err().contains("version"));
        let n: Notification =
            serde_json::from_str(&PAYLOAD.replace(r#"{"status":"firing","labels""#, r#"{"status":"burning","labels""#))
                .unwrap();
        assert!(to_events(&n, "region", "d", 0).unwrap_err().contains("burning"));
    }
}
