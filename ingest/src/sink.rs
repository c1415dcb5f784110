//! Where receivers hand their events: encode, append durably, count.

use std::sync::Arc;

use cutover_eventlog::LogWriter;
use cutover_schemas::{Event, EventKind};

use crate::error::IngestError;
use crate::metrics::Metrics;

/// What one event costs while a request holds it: the struct, its attributes and strings in
/// memory, and its encoded record (an upper bound; the admission budget charges this).
pub fn event_cost(e: &Event) -> usize {
    let encoded = prost::Message::encoded_len(e);
    let attrs = (e.attributes.len() + e.resource_attributes.len()) * std::mem::size_of::<cutover_schemas::Attribute>();
    std::mem::size_of::<Event>() + attrs + 2 * encoded + 24
}

/// Where events go: the embedded log (the default) or a Kafka topic (`cutover-kafka`).
pub enum Backend {
    /// `DATA_DIR/log`.
    Local(Arc<LogWriter>),
    /// A topic of a Kafka cluster.
    Kafka(Arc<cutover_kafka::Producer>),
}

/// The durable destination shared by all receivers.
pub struct EventSink {
    backend: Backend,
    metrics: Arc<Metrics>,
}

impl EventSink {
    /// A sink appending to `log`.
    pub fn new(log: Arc<LogWriter>, metrics: Arc<Metrics>) -> Self {
        EventSink {
            backend: Backend::Local(log),
            metrics,
        }
    }

    /// A sink appending to a Kafka topic.
    pub fn kafka(producer: Arc<cutover_kafka::Producer>, metrics: Arc<Metrics>) -> Self {
        EventSink {
            backend: Backend::Kafka(producer),
            metrics,
        }
    }

    /// Appends `events` and returns only once they are durable under the log's fsync policy.
    /// On error nothing may be reported to the client as stored.
    pub async fn store(&self, receiver: &'static str, events: Vec<Event>) -> Result<(), IngestError> {
        self.store_slice(receiver, &events).await
    }

    /// [`EventSink::store`] keeping the events (to retry them).
    pub async fn store_slice(&self, receiver: &'static str, events: &[Event]) -> Result<(), IngestError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut counts = [0u64; 7];
        for e in events {
            counts[e.kind.clamp(0, 6) as usize] += 1;
        }
        match &self.backend {
            Backend::Local(log) => {
                log.append(events.iter().map(|e| e.to_bytes()).collect()).await?;
            }
            Backend::Kafka(producer) => producer.append(events).await.map_err(|e| {
                tracing::warn!(error = %e, "Kafka append refused");
                match e {
                    cutover_kafka::Error::Overloaded => IngestError::Overloaded,
                    _ => IngestError::Unavailable,
                }
            })?,
        }
        for (i, n) in counts.iter().enumerate() {
            if *n > 0 {
                let kind = EventKind::try_from(i as i32).unwrap_or(EventKind::Unspecified);
                self.metrics
                    .events
                    .with_label_values(&[receiver, kind.name()])
                    .inc_by(*n);
            }
        }
        Ok(())
    }

    /// Where events go (health and metrics).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A shared handle on the metrics registry.
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }
}
