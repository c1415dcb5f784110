//! Sends a simulated drill through the real OTLP exporters of `opentelemetry-otlp` (gRPC):
//! one span exporter and one log exporter per region, each with that region's resource.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::sim::{Drill, Ns};

/// Counts of what was sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Distinct spans.
    pub spans: usize,
    /// Spans sent a second time.
    pub duplicate_spans: usize,
    /// Markers.
    pub markers: usize,
}

const PRIMARY: &str = "us-east-1";
const SECONDARY: &str = "us-west-2";
const BATCH: usize = 512;

fn time(ns: Ns) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns as u64)
}

fn resource(region: &str, service: &str) -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", service.to_string()),
            KeyValue::new("cloud.region", region.to_string()),
            KeyValue::new("deployment.environment", "drill"),
        ])
        .build()
}

struct RegionExporters {
    spans: opentelemetry_otlp::SpanExporter,
    orders: opentelemetry_otlp::SpanExporter,
    logs: opentelemetry_otlp::LogExporter,
    pending: Vec<SpanData>,
    pending_orders: Vec<SpanData>,
}

fn exporters(endpoint: &str, region: &str) -> anyhow::Result<RegionExporters> {
    use opentelemetry_otlp::WithExportConfig;
    let span = |service: &str| -> anyhow::Result<opentelemetry_otlp::SpanExporter> {
        let mut e = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        e.set_resource(&resource(region, service));
        Ok(e)
    };
    let mut logs = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    logs.set_resource(&resource(region, "drill-runbook"));
    Ok(RegionExporters {
        spans: span("frontend")?,
        orders: span("orders")?,
        logs,
        pending: vec![],
        pending_orders: vec![],
    })
}

fn span(
    rng: &mut StdRng,
    name: &'static str,
    kind: SpanKind,
    start: Ns,
    end: Ns,
    attrs: Vec<KeyValue>,
    error: bool,
) -> SpanData {
    let ctx = SpanContext::new(
        TraceId::from_bytes(rng.random::<[u8; 16]>()),
        SpanId::from_bytes(rng.random::<[u8; 8]>()),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    SpanData {
        span_context: ctx,
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: kind,
        name: Cow::Borrowed(name),
        start_time: time(start),
        end_time: time(end),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: if error {
            Status::error("upstream unavailable")
        } else {
            Status::Unset
        },
        instrumentation_scope: InstrumentationScope::builder("cutover-demo").build(),
    }
}

/// Exports a batch, then (for some batches) exports it again as a retrying client would.
async fn flush(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    rng: &mut StdRng,
    sent: &mut Sent,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let spans = std::mem::take(batch);
    let n = spans.len();
    // The first batch is always retried so every run has duplicates to drop.
    let retry = sent.spans == 0 || rng.random_bool(0.1);
    let copy = if retry { Some(spans.clone()) } else { None };
    exporter.export(spans).await.context("exporting spans")?;
    sent.spans += n;
    if let Some(copy) = copy {
        exporter.export(copy).await.context("re-exporting spans")?;
        sent.duplicate_spans += n;
    }
    Ok(())
}

/// Sends the drill to the OTLP/gRPC endpoint.
pub async fn send(drill: &Drill, endpoint: &str, seed: u64) -> anyhow::Result<Sent> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut regions = [exporters(endpoint, PRIMARY)?, exporters(endpoint, SECONDARY)?];
    let mut sent = Sent::default();

    for r in &drill.requests {
        let attrs = vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/checkout"),
            KeyValue::new("http.response.status_code", i64::from(r.status)),
        ];
        let s = span(
            &mut rng,
            "GET /checkout",
            SpanKind::Server,
            r.start,
            r.start + r.duration,
            attrs,
            r.bad(),
        );
        let reg = &mut regions[usize::from(!r.primary)];
        reg.pending.push(s);
        if reg.pending.len() >= BATCH {
            flush(&reg.spans, &mut reg.pending, &mut rng, &mut sent).await?;
        }
    }
    for w in &drill.writes {
        let attrs = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("cutover.write.store", drill.store),
            KeyValue::new("cutover.write.seq", w.seq),
        ];
        let s = span(
            &mut rng,
            "INSERT orders",
            SpanKind::Client,
            w.time,
            w.time + 2_000_000,
            attrs,
            false,
        );
        let reg = &mut regions[usize::from(!w.primary)];
        reg.pending_orders.push(s);
        if reg.pending_orders.len() >= BATCH {
            flush(&reg.orders, &mut reg.pending_orders, &mut rng, &mut sent).await?;
        }
    }
    for reg in &mut regions {
        flush(&reg.spans, &mut reg.pending, &mut rng, &mut sent).await?;
        flush(&reg.orders, &mut reg.pending_orders, &mut rng, &mut sent).await?;
    }

    // Markers: OTLP log records with cutover.marker, created through the SDK's logger.
    let provider = SdkLoggerProvider::builder().build();
    let logger = provider.logger("cutover-demo-runbook");
    let scope = InstrumentationScope::builder("cutover-demo-runbook").build();
    for (i, region) in [true, false].into_iter().enumerate() {
        let mut records = Vec::new();
        for m in drill.markers.iter().filter(|m| m.primary == region) {
            let mut rec = logger.create_log_record();
            rec.set_timestamp(time(m.time));
            rec.set_observed_timestamp(std::time::SystemTime::now());
            rec.set_severity_number(opentelemetry::logs::Severity::Info);
            rec.set_severity_text("INFO");
            rec.set_body(AnyValue::from(format!("drill marker {}", m.kind)));
            rec.add_attribute("cutover.marker", m.kind);
            for (k, v) in &m.attrs {
                match v.parse::<i64>() {
                    Ok(n) => rec.add_attribute(*k, n),
                    Err(_) => rec.add_attribute(*k, v.clone()),
                }
            }
            records.push(rec);
        }
        if records.is_empty() {
            continue;
        }
        let pairs: Vec<_> = records.iter().map(|r| (r, &scope)).collect();
        regions[i]
            .logs
            .export(LogBatch::new(&pairs))
            .await
            .context("exporting markers")?;
        sent.markers += records.len();
    }
    Ok(sent)
}
