//! Replays the event log into Arrow record batches, one table per event kind.
//!
//! Tables and columns (timestamps are `Timestamp(ns, UTC)` event times unless named
//! `ingest_time`; ids are lowercase hex; `attributes` is a `Map<Utf8, Utf8>` queried as
//! `attributes['key']`):
//!
//! - `spans`: trace_id, span_id, parent_span_id, service, region, name, kind, status,
//!   status_message, start_time, end_time, duration_ms, trace_state (W3C `tracestate`, null
//!   when empty), attributes, ingest_time, source, seq.
//!   Deduplicated by (trace_id, span_id): the first copy in log order is kept (OTLP clients
//!   retry, so the same span can arrive twice).
//! - `metric_points`: time, service, region, name, unit, metric_type, value, count,
//!   is_monotonic, is_stale, start_time (OTLP start of the aggregation interval: a new one
//!   marks a counter reset; null when not sent), temporality (`delta` / `cumulative`, null
//!   when not given), bucket_bounds and bucket_counts (explicit histograms; lists, null
//!   otherwise), min, max, exponential (exponential-histogram buckets as JSON text:
//!   `{"scale","zero_count","zero_threshold","positive":{"offset","counts"},"negative":…}`),
//!   exemplars (list of {time, value, trace_id, span_id}; null when none), instance (resource
//!   attribute `service.instance.id`), resource_attributes (map of the resource's attributes
//!   other than `service.name` and `cloud.region`, which are `service` and `region`),
//!   attributes, ingest_time, source, seq.
//! - `logs`: time, service, region, severity_number, severity_text, body, trace_id, span_id,
//!   attributes, ingest_time, source, seq.
//! - `markers`: time, service, region, marker, attributes, ingest_time, source, seq.
//! - `alerts`: time (receive time), service, region, alertname, status, starts_at, ends_at
//!   (null while firing), fingerprint, generator_url, receiver, annotations (JSON text),
//!   group_key, group_labels (JSON text), truncated_alerts (alerts of the group left out of
//!   that notification), attributes (the alert's labels), ingest_time, source, seq.
//! - `metric_metadata`: time (receive time), name, metric_type, unit, help (remote_write
//!   metadata), service, region, attributes, ingest_time, source, seq.
//!
//! - `siem`: time, format, facility, severity (null when unknown), hostname, app_name,
//!   proc_id, msg_id, message, structured_data (JSON text), cef_vendor, cef_product,
//!   cef_device_version, cef_signature_id, cef_name, cef_severity, peer, is_cef, parse_error
//!   (null when parsed), service, region, attributes (SD params `SDID.name` and CEF extensions), ingest_time,
//!   source, seq.
//!
//! `metric_points` holds OTLP data points and Prometheus remote_write samples alike
//! (`source` tells them apart; `is_stale` flags Prometheus staleness markers).
//!
//! `seq` is the event's position in the log, so every row can be traced back to its record.
//!
//! # How the replay scales
//!
//! Segment files are decoded in parallel, one worker thread per core, each segment into its own
//! batch per table ([`build::Part`]). Records are decoded in place ([`wire`]): strings stay
//! slices of the segment buffer until they are copied into the Arrow columns, so no event is
//! materialized. The calling thread takes the finished segments in log order and drops
//! duplicate spans (keyed by the raw 16-byte trace id and 8-byte span id), so the first copy
//! in log order is kept, as in a sequential replay. Each table is registered as a `MemTable`
//! with its batches split into one contiguous partition per core, so DataFusion scans them in
//! parallel.

mod build;
pub mod wire;

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use cutover_eventlog::{ChainCheck, Digest, LogError, LogPlan, LogReader};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::AnalyzeError;

/// Table names, in the order of [`Tables::all`].
pub const TABLES: [&str; 7] = [
    "spans",
    "metric_points",
    "logs",
    "markers",
    "alerts",
    "siem",
    "metric_metadata",
];

/// One replayed table: its batches in log order.
#[derive(Debug, Clone)]
pub struct Table {
    /// Columns.
    pub schema: SchemaRef,
    /// Rows, in log order, one batch per segment file (empty batches left out).
    pub batches: Vec<RecordBatch>,
}

impl Table {
    /// Rows in all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// The replayed log.
#[derive(Debug, Clone)]
pub struct Tables {
    /// `spans`.
    pub spans: Table,
    /// `metric_points`.
    pub metric_points: Table,
    /// `logs`.
    pub logs: Table,
    /// `markers`.
    pub markers: Table,
    /// `alerts`.
    pub alerts: Table,
    /// `siem`.
    pub siem: Table,
    /// `metric_metadata`.
    pub metric_metadata: Table,
    /// What the replay saw.
    pub stats: ReplayStats,
}

/// Counts from a replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplayStats {
    /// Records read.
    pub records: u64,
    /// Spans dropped as duplicates of an earlier (trace_id, span_id).
    pub duplicate_spans: u64,
    /// Records that did not decode as events (counted, not fatal).
    pub undecodable: u64,
    /// Events of kinds this build has no table for.
    pub other_kinds: u64,
    /// The record range and head hash of the log read (see `cutover_eventlog`'s docs).
    #[serde(default)]
    pub log: LogRange,
}

/// The part of the log a replay read, so that a report can be matched to the evidence.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogRange {
    /// First sequence number read.
    pub first_seq: u64,
    /// Sequence number after the last record read.
    pub next_seq: u64,
    /// Segment files read.
    pub segments: usize,
    /// Sealed segments among them.
    pub sealed_segments: usize,
    /// The head hash (hex) at `next_seq`; `None` for a version-1 log.
    pub head: Option<String>,
    /// For a log written by `cutover salvage`: the ranges of the damaged source log that it
    /// could not copy.
    #[serde(default)]
    pub salvage_lost: Vec<cutover_eventlog::LostRange>,
}

impl From<Digest> for LogRange {
    fn from(d: Digest) -> LogRange {
        LogRange {
            first_seq: d.first_seq,
            next_seq: d.next_seq,
            segments: d.segments,
            sealed_segments: d.sealed,
            head: d.head.as_ref().map(cutover_eventlog::hex),
            salvage_lost: Vec::new(),
        }
    }
}

impl ReplayStats {
    fn add(&mut self, o: &ReplayStats) {
        self.records += o.records;
        self.duplicate_spans += o.duplicate_spans;
        self.undecodable += o.undecodable;
        self.other_kinds += o.other_kinds;
    }
}

/// Dedup key of a span: trace id and span id as integers (zero when not 16 / 8 bytes long).
pub type SpanKey = (u128, u64);

/// A cheap hasher for [`SpanKey`]s: ids are random, so a multiply-and-fold mix spreads them.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

type SeenSpans = HashSet<SpanKey, BuildHasherDefault<KeyHasher>>;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// `Map<Utf8, Utf8>` with the field names DataFusion's map functions expect (`key`, `value`:
/// arrow's default `keys`/`values` made `map_entries` panic).
fn attr_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// `List<t>` as arrow's `ListBuilder` makes it (nullable items named `item`).
fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

/// The fields of one exemplar in `metric_points.exemplars`.
pub(crate) fn exemplar_fields() -> arrow::datatypes::Fields {
    vec![
        Field::new("time", ts_type(), true),
        Field::new("value", DataType::Float64, true),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
    ]
    .into()
}

fn schema(mut fields: Vec<(&str, DataType, bool)>) -> SchemaRef {
    fields.extend([
        ("service", DataType::Utf8, false),
        ("region", DataType::Utf8, false),
        ("attributes", attr_type(), false),
        ("ingest_time", ts_type(), false),
        ("source", DataType::Utf8, false),
        ("seq", DataType::UInt64, false),
    ]);
    Arc::new(Schema::new(
        fields
            .into_iter()
            .map(|(n, t, null)| Field::new(n, t, null))
            .collect::<Vec<_>>(),
    ))
}

/// Text columns of `siem`, in table order after `severity`.
const SIEM_TEXT: [&str; 13] = [
    "hostname",
    "app_name",
    "proc_id",
    "msg_id",
    "message",
    "structured_data",
    "cef_vendor",
    "cef_product",
    "cef_device_version",
    "cef_signature_id",
    "cef_name",
    "cef_severity",
    "peer",
];

/// The schema of every table.
pub struct Schemas {
    spans: SchemaRef,
    metric_points: SchemaRef,
    logs: SchemaRef,
    markers: SchemaRef,
    alerts: SchemaRef,
    siem: SchemaRef,
    metric_metadata: SchemaRef,
}

impl Schemas {
    fn new() -> Schemas {
        let mut siem = vec![
            ("time", ts_type(), false),
            ("format", DataType::Utf8, false),
            ("facility", DataType::Int32, true),
            ("severity", DataType::Int32, true),
        ];
        siem.extend(SIEM_TEXT.iter().map(|n| (*n, DataType::Utf8, false)));
        siem.extend([
            ("is_cef", DataType::Boolean, false),
            ("parse_error", DataType::Utf8, true),
        ]);
        Schemas {
            spans: schema(vec![
                ("trace_id", DataType::Utf8, false),
                ("span_id", DataType::Utf8, false),
                ("parent_span_id", DataType::Utf8, true),
                ("name", DataType::Utf8, false),
                ("kind", DataType::Utf8, false),
                ("status", DataType::Utf8, false),
                ("status_message", DataType::Utf8, false),
                ("start_time", ts_type(), false),
                ("end_time", ts_type(), false),
                ("duration_ms", DataType::Float64, false),
                ("trace_state", DataType::Utf8, true),
            ]),
            metric_points: schema(vec![
                ("time", ts_type(), false),
                ("name", DataType::Utf8, false),
                ("unit", DataType::Utf8, false),
                ("metric_type", DataType::Utf8, false),
                ("value", DataType::Float64, false),
                ("count", DataType::UInt64, false),
                ("is_monotonic", DataType::Boolean, false),
                ("is_stale", DataType::Boolean, false),
                ("start_time", ts_type(), true),
                ("temporality", DataType::Utf8, true),
                ("bucket_bounds", list_of(DataType::Float64), true),
                ("bucket_counts", list_of(DataType::UInt64), true),
                ("min", DataType::Float64, true),
                ("max", DataType::Float64, true),
                ("exponential", DataType::Utf8, true),
                ("exemplars", list_of(DataType::Struct(exemplar_fields())), true),
                ("instance", DataType::Utf8, true),
                ("resource_attributes", attr_type(), false),
            ]),
            logs: schema(vec![
                ("time", ts_type(), false),
                ("severity_number", DataType::Int32, false),
                ("severity_text", DataType::Utf8, false),
                ("body", DataType::Utf8, false),
                ("trace_id", DataType::Utf8, true),
                ("span_id", DataType::Utf8, true),
            ]),
            markers: schema(vec![("time", ts_type(), false), ("marker", DataType::Utf8, false)]),
            alerts: schema(vec![
                ("time", ts_type(), false),
                ("alertname", DataType::Utf8, false),
                ("status", DataType::Utf8, false),
                ("starts_at", ts_type(), true),
                ("ends_at", ts_type(), true),
                ("fingerprint", DataType::Utf8, false),
                ("generator_url", DataType::Utf8, false),
                ("receiver", DataType::Utf8, false),
                ("annotations", DataType::Utf8, false),
                ("group_key", DataType::Utf8, false),
                ("group_labels", DataType::Utf8, false),
                ("truncated_alerts", DataType::UInt64, false),
            ]),
            siem: schema(siem),
            metric_metadata: schema(vec![
                ("time", ts_type(), false),
                ("name", DataType::Utf8, false),
                ("metric_type", DataType::Utf8, false),
                ("unit", DataType::Utf8, false),
                ("help", DataType::Utf8, false),
            ]),
        }
    }

    fn all(&self) -> [&SchemaRef; 7] {
        [
            &self.spans,
            &self.metric_points,
            &self.logs,
            &self.markers,
            &self.alerts,
            &self.siem,
            &self.metric_metadata,
        ]
    }
}

/// The columns of every table as text, for the replay cache's key.
pub(crate) fn schemas_fingerprint() -> String {
    format!("{:?}", Schemas::new().all())
}

/// Called during a replay with (bytes read, total bytes of the log).
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

impl Tables {
    /// The tables in [`TABLES`] order.
    pub fn all(&self) -> [&Table; 7] {
        [
            &self.spans,
            &self.metric_points,
            &self.logs,
            &self.markers,
            &self.alerts,
            &self.siem,
            &self.metric_metadata,
        ]
    }

    /// Registers every table in `ctx` under its [`TABLES`] name, split into `partitions`
    /// contiguous partitions (at most one per batch).
    pub fn register(&self, ctx: &SessionContext, partitions: usize) -> Result<(), AnalyzeError> {
        for (name, table) in TABLES.into_iter().zip(self.all()) {
            let t = MemTable::try_new(table.schema.clone(), crate::partitioned(&table.batches, partitions))?;
            ctx.register_table(name, Arc::new(t))?;
        }
        Ok(())
    }

    /// The tables of a loaded replay cache (taken out of it; the views stay). An error when
    /// a table is missing or its columns are not this build's.
    pub fn from_cache(mut loaded: crate::cache::Loaded) -> Result<(Tables, crate::cache::Loaded), String> {
        let schemas = Schemas::new();
        let mut take = |name: &str, schema: &SchemaRef| -> Result<Table, String> {
            let t = loaded
                .tables
                .remove(name)
                .ok_or_else(|| format!("the cache has no table {name}"))?;
            if t.schema.fields() != schema.fields() {
                return Err(format!("the cached table {name} has other columns than this build's"));
            }
            Ok(Table {
                schema: schema.clone(),
                batches: t.batches,
            })
        };
        let tables = Tables {
            spans: take("spans", &schemas.spans)?,
            metric_points: take("metric_points", &schemas.metric_points)?,
            logs: take("logs", &schemas.logs)?,
            markers: take("markers", &schemas.markers)?,
            alerts: take("alerts", &schemas.alerts)?,
            siem: take("siem", &schemas.siem)?,
            metric_metadata: take("metric_metadata", &schemas.metric_metadata)?,
            stats: loaded.stats.clone(),
        };
        Ok((tables, loaded))
    }
}

/// Decodes segment `i` of `plan`, checked by the log's own rules (checksums, seal, content
/// hash, durable mark). `None` for a newest segment still being created. `buf` is the
/// worker's read buffer, reused so that each segment does not fault in fresh pages.
fn read_segment(
    plan: &LogPlan,
    i: usize,
    schemas: &Schemas,
    buf: &mut Vec<u8>,
) -> Result<Option<(build::Finished, cutover_eventlog::SegmentScan)>, AnalyzeError> {
    use std::io::Read;
    let path = &plan.segments[i].path;
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let buf = &buf[..];
    let mut part = build::Part::default();
    let mut attrs = Vec::new();
    let start = buf.as_ptr() as usize;
    let scan = plan.scan(i, buf, true, |_seq, payload| {
        // The payload lies inside `buf`; taking it again from `buf` gives it the buffer's
        // lifetime, so the attribute space can be reused across records.
        let at = payload.as_ptr() as usize - start;
        part.push(_seq, &buf[at..at + payload.len()], &mut attrs);
    })?;
    match scan {
        None => Ok(None),
        Some(scan) => Ok(Some((part.finish(schemas)?, scan))),
    }
}

/// Takes finished segments in log order: drops duplicate spans and appends the batches.
struct Collector {
    chain: ChainCheck,
    tables: [Vec<RecordBatch>; 7],
    seen: SeenSpans,
    stats: ReplayStats,
    read: u64,
}

/// `spans` without the rows whose key is already in `seen` (which then holds every key);
/// returns how many were dropped.
fn drop_seen(spans: RecordBatch, keys: &[SpanKey], seen: &mut SeenSpans) -> Result<(RecordBatch, usize), AnalyzeError> {
    seen.reserve(keys.len());
    let keep: Vec<bool> = keys.iter().map(|k| seen.insert(*k)).collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    if dropped == 0 {
        return Ok((spans, 0));
    }
    let kept = filter_record_batch(&spans, &BooleanArray::from(keep))
        .map_err(|e| AnalyzeError::Internal(format!("dropping duplicate spans: {e}")))?;
    Ok((kept, dropped))
}

impl Collector {
    fn take(&mut self, part: build::Finished) -> Result<(), AnalyzeError> {
        let [spans, rest @ ..] = part.batches;
        let (spans, dropped) = drop_seen(spans, &part.span_keys, &mut self.seen)?;
        self.stats.add(&part.stats);
        self.stats.duplicate_spans += dropped as u64;
        self.read += part.bytes;
        for (table, b) in self.tables.iter_mut().zip(std::iter::once(spans).chain(rest)) {
            if b.num_rows() > 0 {
                table.push(b);
            }
        }
        Ok(())
    }
}

/// Reads the whole log in `log_dir` into tables, reporting progress after each segment
/// file when asked.
pub fn replay(log_dir: &Path, progress: Option<Progress>) -> Result<Tables, AnalyzeError> {
    replay_keeping(log_dir, progress).map(|(t, _)| t)
}

/// [`replay`], also returning the dedup keys of the spans kept (for [`Tail`]).
fn replay_keeping(log_dir: &Path, mut progress: Option<Progress>) -> Result<(Tables, SeenSpans), AnalyzeError> {
    let reader = LogReader::open(log_dir)?;
    let plan = reader.plan()?;
    let total = plan.size_bytes(&cutover_eventlog::OsStorage)?;
    let segs = &plan.segments;
    let schemas = Schemas::new();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(segs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut c = Collector {
        chain: plan.chain(),
        tables: Default::default(),
        seen: SeenSpans::default(),
        stats: ReplayStats::default(),
        read: 0,
    };
    std::thread::scope(|scope| -> Result<(), AnalyzeError> {
        let (tx, rx) = mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (plan, schemas, next, stop) = (&plan, &schemas, &next, &stop);
            scope.spawn(move || {
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.segments.len() {
                        break;
                    }
                    let r = read_segment(plan, i, schemas, &mut buf);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = collect(&rx, &plan, &mut c, &mut progress, total);
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    c.stats.log = c.chain.clone().finish()?.into();
    if let Some(s) = cutover_eventlog::read_salvage_report(log_dir)? {
        c.stats.log.salvage_lost = s.lost;
    }
    if let Some(p) = progress.as_mut() {
        p(total, total);
    }
    let [spans, metric_points, logs, markers, alerts, siem, metric_metadata] = c.tables;
    let table = |schema: &SchemaRef, batches| Table {
        schema: schema.clone(),
        batches,
    };
    let s = schemas.all();
    let tables = Tables {
        spans: table(s[0], spans),
        metric_points: table(s[1], metric_points),
        logs: table(s[2], logs),
        markers: table(s[3], markers),
        alerts: table(s[4], alerts),
        siem: table(s[5], siem),
        metric_metadata: table(s[6], metric_metadata),
        stats: c.stats,
    };
    Ok((tables, c.seen))
}

/// Whether `dir` holds at least one segment file.
fn has_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "seg"))
    })
}

/// Follows a log that is still being written: [`Tail::start`] replays it like [`replay`],
/// then each [`Tail::advance`] reads only the durable records after the last one read (the
/// sealed segments before them are checked by their seals, the newest segment is read and
/// checked again) and appends their rows, dropping spans already seen, so that the tables
/// always equal a full replay of the durable log as it was at the last advance.
pub struct Tail {
    dir: std::path::PathBuf,
    schemas: Schemas,
    tables: Tables,
    seen: SeenSpans,
}

impl Tail {
    /// Replays the log in `log_dir`; a directory that holds no log yet (a daemon not started
    /// yet) gives empty tables, and the log is read once it appears.
    pub fn start(log_dir: &Path, progress: Option<Progress>) -> Result<Tail, AnalyzeError> {
        if !has_segments(log_dir) {
            let schemas = Schemas::new();
            let empty = |s: &SchemaRef| Table {
                schema: s.clone(),
                batches: vec![],
            };
            let s = schemas.all();
            let tables = Tables {
                spans: empty(s[0]),
                metric_points: empty(s[1]),
                logs: empty(s[2]),
                markers: empty(s[3]),
                alerts: empty(s[4]),
                siem: empty(s[5]),
                metric_metadata: empty(s[6]),
                stats: ReplayStats::default(),
            };
            return Ok(Tail {
                dir: log_dir.to_path_buf(),
                schemas,
                tables,
                seen: SeenSpans::default(),
            });
        }
        let (tables, seen) = replay_keeping(log_dir, progress)?;
        Ok(Tail {
            dir: log_dir.to_path_buf(),
            schemas: Schemas::new(),
            tables,
            seen,
        })
    }

    /// The tables as of the last read.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Sequence number after the last record read.
    pub fn next_seq(&self) -> u64 {
        self.tables.stats.log.next_seq
    }

    /// Whether the log's durable mark is past the last record read (cheap: reads the mark
    /// and lists the segments).
    pub fn has_more(&self) -> Result<bool, AnalyzeError> {
        if !has_segments(&self.dir) {
            return Ok(false);
        }
        let plan = LogReader::open(&self.dir)?.plan()?;
        // A log without a durable mark (version 1) is read to its end each time.
        Ok(plan.bound().is_none_or(|b| b > self.next_seq()))
    }

    /// Reads the durable records after the last one read; returns how many were read.
    pub fn advance(&mut self) -> Result<u64, AnalyzeError> {
        let reader = LogReader::open(&self.dir)?;
        let from = self.next_seq();
        let mut part = build::Part::default();
        let digest = reader.read(from, |rec| {
            let mut attrs = Vec::new();
            part.push(rec.seq, rec.payload, &mut attrs);
        })?;
        let read = digest.next_seq.saturating_sub(from);
        let t = &mut self.tables;
        if from == 0 {
            // The log appeared after the tail started: its salvage report too.
            if let Some(s) = cutover_eventlog::read_salvage_report(&self.dir)? {
                t.stats.log.salvage_lost = s.lost;
            }
        }
        let salvage_lost = std::mem::take(&mut t.stats.log.salvage_lost);
        // The range and segment counts as a replay would give them now, even when no record
        // was added (a segment sealed and rolled after its last record).
        t.stats.log = digest.into();
        t.stats.log.first_seq = 0;
        t.stats.log.salvage_lost = salvage_lost;
        if read == 0 {
            return Ok(0);
        }
        let finished = part.finish(&self.schemas)?;
        let [spans, rest @ ..] = finished.batches;
        let (spans, dropped) = drop_seen(spans, &finished.span_keys, &mut self.seen)?;
        let t = &mut self.tables;
        t.stats.add(&finished.stats);
        t.stats.duplicate_spans += dropped as u64;
        let all = [
            &mut t.spans,
            &mut t.metric_points,
            &mut t.logs,
            &mut t.markers,
            &mut t.alerts,
            &mut t.siem,
            &mut t.metric_metadata,
        ];
        for (table, b) in all.into_iter().zip(std::iter::once(spans).chain(rest)) {
            if b.num_rows() > 0 {
                table.batches.push(b);
            }
        }
        Ok(read)
    }
}

type SegmentResult = (
    usize,
    Result<Option<(build::Finished, cutover_eventlog::SegmentScan)>, AnalyzeError>,
);

/// Receives the segments as workers finish them and hands them to `c` in log order; the
/// first error in log order ends the replay.
fn collect(
    rx: &mpsc::Receiver<SegmentResult>,
    plan: &LogPlan,
    c: &mut Collector,
    progress: &mut Option<Progress>,
    total: u64,
) -> Result<(), AnalyzeError> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    let count = plan.segments.len();
    while next < count {
        let Ok((i, r)) = rx.recv() else {
            return Err(AnalyzeError::Internal("a replay worker stopped".into()));
        };
        waiting.insert(i, r);
        while let Some(r) = waiting.remove(&next) {
            if let Some((part, scan)) = r? {
                c.chain.link(&plan.segments[next], &scan)?;
                c.take(part)?;
                if let Some(p) = progress.as_mut() {
                    p(c.read, total);
                }
            }
            next += 1;
        }
    }
    Ok(())
}
