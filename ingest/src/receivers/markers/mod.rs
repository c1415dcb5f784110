//! The drill markers API: `POST /v1/markers` with a JSON body
//! `{"kind": "dns_cutover", "time": "2026-11-26T10:00:00Z", "region": "us-west-2",
//! "service": "runbook", "attributes": {"ticket": "CHG-42"}}`. Only `kind` is required:
//! `time` defaults to the receive time, `region` to the listener's default. Markers from here
//! and from OTLP log records land in the same `markers` table. Answers 200 with
//! `{"kind", "time", "region"}` once stored; 400 for an unknown kind or a malformed body.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use cutover_schemas::{
    Attribute, Body, Event, EventKind, MARKER_ATTRIBUTE, MARKER_KINDS, MarkerBody, SCHEMA_VERSION, Source, Value,
};

use super::context::{HttpContext, now_unix_nano};
use crate::error::IngestError;

const RECEIVER: &str = "markers_api";

/// The request body.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarkerRequest {
    /// One of the marker kinds of the conventions.
    pub kind: String,
    /// RFC 3339 event time; default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Region; default the listener's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Emitting service; default `cutover-mark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Extra attributes (strings, numbers, booleans; anything else is kept as JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// Turns a JSON value into a typed attribute value.
pub fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        other => Value::Json(other.to_string()),
    }
}

/// Parses RFC 3339 into ns since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("time {s:?} is not RFC 3339: {e}"))?;
    t.timestamp_nanos_opt()
        .ok_or_else(|| format!("time {s:?} is out of range"))
}

/// Validates a request and builds its event (pure).
pub fn to_event(req: &MarkerRequest, default_region: &str, now: i64) -> Result<Event, String> {
    if !MARKER_KINDS.contains(&req.kind.as_str()) {
        return Err(format!(
            "unknown marker kind {:?}; expected one of {}",
            req.kind,
            MARKER_KINDS.join(", ")
        ));
    }
    let time = match &req.time {
        Some(t) => parse_time(t)?,
        None => now,
    };
    let mut attributes = vec![Attribute::str(MARKER_ATTRIBUTE, req.kind.clone())];
    attributes.extend(req.attributes.iter().map(|(k, v)| Attribute {
        key: k.clone(),
        value: Some(json_value(v)),
    }));
    Ok(Event {
        schema_version: SCHEMA_VERSION,
        kind: EventKind::Marker as i32,
        region: req
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| default_region.to_string()),
        service: req.service.clone().unwrap_or_else(|| "cutover-mark".into()),
        event_time_unix_nano: time,
        ingest_time_unix_nano: now,
        trace_id: vec![],
        span_id: vec![],
        attributes,
        resource_attributes: vec![],
        source: Source::MarkersApi as i32,
        body: Some(Body::Marker(MarkerBody {
            marker: req.kind.clone(),
        })),
    })
}

/// The router.
pub fn router(ctx: Arc<HttpContext>) -> Router {
    Router::new().route("/v1/markers", post(handle)).with_state(ctx)
}

async fn handle(State(ctx): State<Arc<HttpContext>>, request: Request) -> Response {
    let mut ticket = ctx.admission.ticket();
    let req: MarkerRequest = match ctx.read_json(request, "marker", &mut ticket).await {
        Ok(r) => r,
        Err(e) => return ctx.refuse(RECEIVER, e),
    };
    let event = match to_event(&req, &ctx.default_region, now_unix_nano()) {
        Ok(e) => e,
        Err(msg) => return ctx.refuse(RECEIVER, IngestError::InvalidInput(msg)),
    };
    let answer = serde_json::json!({
        "kind": req.kind,
        "time": chrono::DateTime::from_timestamp_nanos(event.event_time_unix_nano).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "region": event.region,
    });
    match ctx.store(RECEIVER, vec![event]).await {
        Ok(()) => super::context::json_ok(&answer),
        Err(e) => super::context::error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> MarkerRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_fill_time_region_and_service() {
        let e = to_event(&req(r#"{"kind":"dns_cutover"}"#), "us-east-1", 42).unwrap();
        assert_eq!(
            (e.event_time_unix_nano, e.region.as_str(), e.service.as_str()),
            (42, "us-east-1", "cutover-mark")
        );
        assert_eq!(e.attribute(MARKER_ATTRIBUTE), Some(&Value::Str("dns_cutover".into())));
    }

    #[test]
    fn explicit_fields_and_typed_attributes() {
        let r = req(
            r#"{"kind":"db_promoted","time":"2026-11-26T10:00:00.5Z","region":"us-west-2",
            "attributes":{"cutover.write.store":"orders","cutover.write.last_applied_seq":17,"ok":true}}"#,
        );
        let e = to_event(&r, "x", 0).unwrap();
        assert_eq!(e.event_time_unix_nano, parse_time("2026-11-26T10:00:00.5Z").unwrap());
        assert_eq!(e.region, "us-west-2");
        assert_eq!(e.attribute("cutover.write.last_applied_seq"), Some(&Value::Int(17)));
        assert_eq!(e.attribute("ok"), Some(&Value::Bool(true)));
    }

    #[test]
    fn bad_kind_and_bad_time_are_refused_with_reasons() {
        assert!(
            to_event(&req(r#"{"kind":"dns_cutovr"}"#), "x", 0)
                .unwrap_err()
                .contains("dns_cutovr")
        );
        assert!(
            to_event(&req(r#"{"kind":"dns_cutover","time":"yesterday"}"#), "x", 0)
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(serde_json::from_str::<MarkerRequest>(r#"{"kind":"dns_cutover","regoin":"x"}"#).is_err());
    }
}
