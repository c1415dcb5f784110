//! What the non-OTLP HTTP receivers share: the sink, region defaults, limits, and one way to
//! count and answer refusals.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use cutover_schemas::Event;
use http::{HeaderValue, StatusCode, header};

use crate::error::IngestError;
use crate::sink::EventSink;

/// Shared state of the HTTP receivers other than OTLP.
pub struct HttpContext {
    /// Durable destination.
    pub sink: Arc<EventSink>,
    /// Region when the data names none.
    pub default_region: String,
    /// Label (remote_write) or alert label (Alertmanager) that names the region.
    pub region_label: String,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
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

    /// Reads a JSON body of at most `max_body_bytes`; `what` names the payload in the error.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        body: axum::body::Body,
        what: &str,
    ) -> Result<T, IngestError> {
        let bytes = super::body::read_limited(body, self.max_body_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|e| IngestError::InvalidInput(format!("invalid {what} JSON: {e}")))
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
