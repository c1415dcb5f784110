//! What the non-OTLP HTTP receivers share: the sink, region defaults, limits, and one way to
//! count and answer refusals.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use cutover_schemas::Event;
use http::{HeaderValue, StatusCode, header};

use crate::admission::{Admission, Ticket};
use crate::config::{Limits, ReceiverSettings};
use crate::error::IngestError;
use crate::sink::EventSink;

/// Shared state of the HTTP receivers other than OTLP.
pub struct HttpContext {
    /// Durable destination.
    pub sink: Arc<EventSink>,
    /// Region when the data names none.
    pub default_region: String,
    /// Per-receiver settings (the label naming the region).
    pub receivers: ReceiverSettings,
    /// Request limits.
    pub limits: Limits,
    /// The budget of requests in flight.
    pub admission: Admission,
    /// Time a client has to send a body.
    pub body_timeout: Duration,
}

/// Now, in ns since the epoch.
pub fn now_unix_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl HttpContext {
    /// Stores events durably and counts the request.
    pub async fn store(&self, receiver: &'static str, events: Vec<Event>) -> Result<(), IngestError> {
        let result = self.sink.store(receiver, events).await;
        let outcome = match &result {
            Ok(()) => "ok",
            Err(e) => e.outcome(),
        };
        self.sink
            .metrics()
            .requests
            .with_label_values(&[receiver, outcome])
            .inc();
        result
    }

    /// Reads a JSON body under admission control; `what` names the payload in the error.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        request: axum::extract::Request,
        what: &str,
        ticket: &mut Ticket,
    ) -> Result<T, IngestError> {
        let (parts, body) = request.into_parts();
        let limit = self.limits.max_body_bytes;
        super::body::admit_declared(&parts.headers, ticket, limit)?;
        let bytes = super::body::read_admitted(&parts.headers, body, ticket, limit, self.body_timeout).await?;
        let estimate = super::protosize::estimate_json(&bytes);
        let max = self.limits.max_decoded_bytes() as u64;
        if estimate > max {
            return Err(IngestError::Exhausted(format!(
                "the request would take about {estimate} bytes once decoded, more than {max} (4 x limits.max_body_bytes)"
            )));
        }
        ticket.grow(estimate)?;
        serde_json::from_slice(&bytes).map_err(|e| IngestError::InvalidInput(format!("invalid {what} JSON: {e}")))
    }

    /// Refuses a request whose events are over the per-request limits, and takes their size
    /// from the budget.
    pub fn admit_events(&self, events: &[Event], ticket: &mut Ticket) -> Result<(), IngestError> {
        let bytes: usize = events.iter().map(crate::sink::event_cost).sum();
        let l = &self.limits;
        if events.len() > l.max_request_events || bytes > l.max_request_event_bytes {
            return Err(IngestError::Exhausted(format!(
                "the request converts to {} events of {bytes} bytes, more than {} events or {} bytes (limits.max_request_events, limits.max_request_event_bytes)",
                events.len(),
                l.max_request_events,
                l.max_request_event_bytes
            )));
        }
        ticket.grow(bytes as u64)
    }

    /// Counts a request refused before storing and answers it.
    pub fn refuse(&self, receiver: &'static str, e: IngestError) -> Response {
        self.sink
            .metrics()
            .requests
            .with_label_values(&[receiver, e.outcome()])
            .inc();
        error_response(&e)
    }
}

/// A plain-text error. Overload is answered 503 here (not 429): Prometheus and Alertmanager
/// retry every 5xx but 429 only when configured to.
pub fn error_response(e: &IngestError) -> Response {
    let status = match e {
        IngestError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        other => other.http_status(),
    };
    let mut resp = (status, format!("{e}\n")).into_response();
    if let Some(delay) = e.retry_after() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(delay.as_secs()));
    }
    resp
}

/// A 200 response with a JSON body.
pub fn json_ok(v: &serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}
