//! Shared by the analyzer's integration tests: event builders for fixture logs and the
//! golden-rows check. Each test module uses a subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cutover_analyzer::queries::{self, Param};
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_eventlog::{LogConfig, LogWriter};
use cutover_schemas::{Attribute, Body, Event, EventKind, MarkerBody, SCHEMA_VERSION, Source, SpanBody};

pub const T0: i64 = 1_795_694_400_000_000_000; // 2026-11-26T12:00:00Z
pub const S: i64 = 1_000_000_000;
pub const MS: i64 = 1_000_000;

pub fn event(kind: EventKind, region: &str, service: &str, time: i64, attrs: Vec<Attribute>, body: Body) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        kind: kind as i32,
        region: region.into(),
        service: service.into(),
        event_time_unix_nano: time,
        ingest_time_unix_nano: time + 5 * MS,
        trace_id: vec![],
        span_id: vec![],
        attributes: attrs,
        resource_attributes: vec![],
        source: Source::OtlpGrpc as i32,
        body: Some(body),
    }
}

pub fn span(n: u8, region: &str, service: &str, kind: i32, start: i64, status: i64, attrs: Vec<Attribute>) -> Event {
    let mut attributes = vec![Attribute::int("http.response.status_code", status)];
    attributes.extend(attrs);
    let body = SpanBody {
        name: "GET /checkout".into(),
        kind,
        status_code: if status >= 500 { 2 } else { 0 },
        end_time_unix_nano: start + 20 * MS,
        ..Default::default()
    };
    let mut e = event(EventKind::Span, region, service, start, attributes, Body::Span(body));
    e.trace_id = vec![n; 16];
    e.span_id = vec![n; 8];
    e
}

pub fn marker(kind: &str, region: &str, time: i64, attrs: Vec<Attribute>) -> Event {
    let mut a = vec![Attribute::str("cutover.marker", kind)];
    a.extend(attrs);
    event(
        EventKind::Marker,
        region,
        "runbook",
        time,
        a,
        Body::Marker(MarkerBody { marker: kind.into() }),
    )
}

pub fn write(seq: i64) -> Vec<Attribute> {
    vec![
        Attribute::str("cutover.write.store", "orders"),
        Attribute::int("cutover.write.seq", seq),
    ]
}

/// Writes `events` as the log of data directory `dir`.
pub async fn write_log(dir: &Path, events: &[Event]) {
    let (w, _) = LogWriter::open(&dir.join("log"), LogConfig::default()).unwrap();
    w.append(events.iter().map(Event::to_bytes).collect()).await.unwrap();
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries/golden")
}

pub async fn check<Q: cutover_analyzer::queries::AsSql + ?Sized>(
    analyzer: &Analyzer,
    name: &str,
    sql: &Q,
) -> Option<String> {
    let mut batches = analyzer.sql(sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    // No rows: the header of the declared columns (which `Analyzer::sql` has checked).
    if batches.iter().all(|b| b.num_rows() == 0)
        && let Some(q) = sql.declared()
    {
        let fields: Vec<arrow::datatypes::Field> = q
            .columns
            .iter()
            .map(|c| arrow::datatypes::Field::new(*c, arrow::datatypes::DataType::Utf8, true))
            .collect();
        batches = vec![arrow::array::RecordBatch::new_empty(std::sync::Arc::new(
            arrow::datatypes::Schema::new(fields),
        ))];
    }
    let got = format!("{}\n", arrow::util::pretty::pretty_format_batches(&batches).unwrap());
    let path = golden_dir().join(format!("{name}.txt"));
    if std::env::var_os("CUTOVER_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with CUTOVER_BLESS=1", path.display()));
    (got != want).then(|| {
        format!(
            "{name}: rows differ from {}\n--- want\n{want}--- got\n{got}",
            path.display()
        )
    })
}

/// Fills each of `queries` with `params` and compares its rows with its golden file; returns
/// the differences.
pub async fn check_all(analyzer: &Analyzer, section: &str, params: &[(&str, Param)]) -> Vec<String> {
    let mut failures = Vec::new();
    for q in queries::of(section) {
        let filled = queries::fill(q, params).unwrap_or_else(|e| panic!("{}: {e}", q.name));
        failures.extend(check(analyzer, q.name, &filled).await);
    }
    failures
}

/// Replays the log written in `dir` with `spec` (the directory lives as long as the guard).
pub async fn opened(dir: tempfile::TempDir, spec: DrillSpec) -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    (dir, spec, analyzer)
}
