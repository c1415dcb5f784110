//! The cutover analyzer: replays the event log into DataFusion tables and measures a drill.
//!
//! Flow: [`tables::replay`] reads every record of `DATA_DIR/log` into Arrow tables (or, with
//! a cache root, [`cache`] loads them when it holds the log as it is now) → [`Analyzer`]
//! registers them (plus the views in `queries/view_*.sql`: the plain ones in
//! [`queries::LAZY_VIEWS`], the others computed once into tables or taken from the cache) in
//! a DataFusion session → [`measures::measure`] builds the drill's [`timeline::Timeline`],
//! then measures each section of the registry ([`section`]: one [`section::Section`] per
//! report section, RTO and RPO included) in order, into a [`report::Report`] with verdicts
//! against the [`spec::DrillSpec`].
//!
//! SQL boundary: every measure query is declared once in [`queries`] (file, section,
//! parameters, output columns); [`Analyzer::sql`] refuses a result whose columns differ from
//! the declaration, and rows are read by name through one strict reader (a missing or
//! mistyped column is an error, never a silent empty value). Every time in a report is a
//! [`time::Time`] (ns plus its RFC 3339 text).
//!
//! Invariants: the analyzer never writes to the log (its cache lives elsewhere); the same log
//! and spec always give the same report, replayed or from the cache (replay order is log
//! order; every query that picks "first" orders fully).

pub mod cache;
pub mod html;
mod markdown;
pub mod measures;
pub mod metrics_sli;
pub mod queries;
pub mod report;
mod rows;
pub mod section;
pub mod spec;
pub mod tables;
pub mod time;
pub mod timeline;
pub mod udf;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

pub use report::Report;
pub use spec::DrillSpec;

/// Errors of the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The log could not be read.
    #[error("cannot read the event log: {0}")]
    Log(#[from] cutover_eventlog::LogError),
    /// A query failed.
    /// (Not a `source`: the message already says all of it, and a CLI that prints the chain
    /// would print it twice.)
    #[error("query failed: {}", query_message(.0))]
    Query(datafusion::error::DataFusionError),
    /// A statement that would change something (DDL, DML, COPY, SET) on a read-only surface.
    #[error("only read-only SQL is allowed here (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE): {0}")]
    ReadOnly(String),
    /// The drill spec does not fit the log (e.g. an SLI selection that matches no span).
    #[error("drill spec: {0}")]
    Spec(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for AnalyzeError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        AnalyzeError::Query(e)
    }
}

/// DataFusion's message without its Rust debug dressing: a SQL syntax error reads
/// `SQL syntax error: Expected: …`, not `SQL error: ParserError("Expected: …")`.
fn query_message(e: &datafusion::error::DataFusionError) -> String {
    use datafusion::sql::sqlparser::parser::ParserError;
    match e {
        datafusion::error::DataFusionError::SQL(p, _) => match p.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => format!("SQL syntax error: {m}"),
            ParserError::RecursionLimitExceeded => "SQL syntax error: statement nested too deeply".into(),
        },
        other => other.strip_backtrace(),
    }
}

/// Where the event log lives inside a data directory.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("log")
}

/// A DataFusion session over one replay of the log.
pub struct Analyzer {
    ctx: SessionContext,
    /// What the replay saw.
    pub stats: tables::ReplayStats,
    /// With a metrics SLI: how its `requests` were built (resolution, scaling).
    pub metrics_sli: Option<MetricsSliInfo>,
    from: TablesFrom,
    cache_writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Analyzer {
    /// Waits for the replay cache writer, so that a cache is never left half written by a
    /// process that exits normally (an interrupted write leaves only a temporary directory).
    /// This blocks the dropping thread for as long as the write takes (seconds on a large
    /// log); async callers that must not block a runtime worker call
    /// [`Analyzer::finish_cache`] from `spawn_blocking` first, or open without a cache root.
    fn drop(&mut self) {
        self.finish_cache();
    }
}

fn one_column(name: &str, values: &[String]) -> Result<MemTable, AnalyzeError> {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    let col = Arc::new(StringArray::from(values.to_vec()));
    let batch = RecordBatch::try_new(schema.clone(), vec![col]).map_err(|e| AnalyzeError::Internal(e.to_string()))?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// How [`Analyzer::open_with`] reads the log.
#[derive(Default)]
pub struct OpenOptions {
    /// Called while the log is replayed.
    pub progress: Option<tables::Progress>,
    /// Root directory of the replay cache ([`cache`]); `None` replays every time and writes
    /// nothing.
    pub cache_root: Option<PathBuf>,
}

/// Where the tables of an [`Analyzer`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TablesFrom {
    /// The log was replayed (and the cache written, when there is a cache root).
    Replay,
    /// The replay cache of the unchanged log.
    Cache,
}

/// `batches` split into at most `partitions` contiguous partitions (at least one, maybe
/// empty), for a `MemTable` that DataFusion scans in parallel.
pub(crate) fn partitioned(batches: &[RecordBatch], partitions: usize) -> Vec<Vec<RecordBatch>> {
    let per = batches.len().div_ceil(partitions.max(1)).max(1);
    let mut parts: Vec<Vec<RecordBatch>> = batches.chunks(per).map(|c| c.to_vec()).collect();
    if parts.is_empty() {
        parts.push(vec![]);
    }
    parts
}

/// A DataFusion session with the default features, less the two optimizer rules that move
/// "cheap" field accesses below filters and joins (`extract_leaf_expressions`,
/// `push_down_leaf_projections`): for a map column, `attributes['key']` is a search through
/// each row's keys, and moving it below the filter of `requests` (the SLI spans) or `writes`
/// evaluated it for every span of the log instead of the rows that pass.
pub fn session() -> SessionContext {
    use datafusion::execution::SessionStateBuilder;
    let rules = datafusion::optimizer::Optimizer::new()
        .rules
        .into_iter()
        .filter(|r| !matches!(r.name(), "extract_leaf_expressions" | "push_down_leaf_projections"))
        .collect();
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_optimizer_rules(rules)
        .build();
    SessionContext::new_with_state(state)
}

/// How the `requests` of a metrics SLI were built ([`metrics_sli`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSliInfo {
    /// The `total` selector, as written.
    pub total: String,
    /// Synthetic requests.
    pub requests: u64,
    /// Median interval between points, ns.
    pub resolution_ns: Option<i64>,
    /// Whether counts were scaled down.
    pub scaled: bool,
    /// Increments of the other selector left out (no `total` increment to pair with).
    pub unpaired: u64,
}

/// What the spec-dependent views ([`queries::SPEC_VIEWS`]) are computed from: the SLI
/// services and span kinds, as JSON.
fn spec_view_key(services: &[String], kinds: &[String], metrics: Option<&metrics_sli::MetricsSliSpec>) -> String {
    let metrics = metrics.map(|m| serde_json::json!({ "total": m.total, "bad": m.bad, "good": m.good }));
    serde_json::json!({ "sli_services": services, "sli_kinds": kinds, "sli_metrics": metrics }).to_string()
}

/// Reads the points of the metrics SLI's two metrics from `metric_points`.
async fn metric_points_of(ctx: &SessionContext, names: [&str; 2]) -> Result<Vec<metrics_sli::Point>, AnalyzeError> {
    use arrow::array::{Array, AsArray, MapArray};
    use arrow::datatypes::{Float64Type, TimestampNanosecondType};
    let sql = "SELECT name, region, service, instance, attributes, time, value, start_time, temporality \
               FROM metric_points WHERE (name = $a OR name = $b) AND NOT is_stale";
    let params: std::collections::HashMap<String, datafusion::common::ScalarValue> = [
        (
            "a".to_string(),
            datafusion::common::ScalarValue::Utf8(Some(names[0].to_string())),
        ),
        (
            "b".to_string(),
            datafusion::common::ScalarValue::Utf8(Some(names[1].to_string())),
        ),
    ]
    .into_iter()
    .collect();
    let batches = ctx.sql(sql).await?.with_param_values(params)?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let text = |i: usize| b.column(i).as_string::<i32>().clone();
        let (name, region, service, instance, temporality) = (text(0), text(1), text(2), text(3), text(8));
        let attrs = b
            .column(4)
            .as_any()
            .downcast_ref::<MapArray>()
            .ok_or_else(|| AnalyzeError::Internal("metric_points.attributes is not a map".into()))?;
        let (time, value, start) = (
            b.column(5).as_primitive::<TimestampNanosecondType>(),
            b.column(6).as_primitive::<Float64Type>(),
            b.column(7).as_primitive::<TimestampNanosecondType>(),
        );
        let offsets = attrs.value_offsets();
        let keys = attrs.keys().as_string::<i32>();
        let values = attrs.values().as_string::<i32>();
        for row in 0..b.num_rows() {
            let mut labels = std::collections::BTreeMap::new();
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                if !values.is_null(i) {
                    labels.insert(keys.value(i).to_string(), values.value(i).to_string());
                }
            }
            labels
                .entry("job".to_string())
                .or_insert_with(|| service.value(row).to_string());
            labels
                .entry("region".to_string())
                .or_insert_with(|| region.value(row).to_string());
            out.push(metrics_sli::Point {
                name: name.value(row).to_string(),
                region: region.value(row).to_string(),
                service: service.value(row).to_string(),
                instance: (!instance.is_null(row)).then(|| instance.value(row).to_string()),
                labels,
                time: time.value(row),
                value: value.value(row),
                start_time: if start.is_null(row) { 0 } else { start.value(row) },
                delta: !temporality.is_null(row) && temporality.value(row) == "delta",
            });
        }
    }
    Ok(out)
}

/// Replaces `requests` by the requests of the metrics SLI `m`.
async fn register_metrics_requests(
    ctx: &SessionContext,
    m: &metrics_sli::MetricsSliSpec,
) -> Result<MetricsSliInfo, AnalyzeError> {
    use arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampNanosecondArray, new_null_array};
    let (total, other, side) = m.selectors().map_err(AnalyzeError::Spec)?;
    let points = metric_points_of(ctx, [&total.name, &other.name]).await?;
    let built = metrics_sli::requests(&points, &total, &other, side);
    let spans_schema = ctx.table("requests").await?.schema().as_arrow().clone();
    let fields: Vec<arrow::datatypes::Field> = spans_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let n = built.rows.len();
    let times = || {
        Arc::new(TimestampNanosecondArray::from_iter_values(built.rows.iter().map(|r| r.time)).with_timezone("UTC"))
            as ArrayRef
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "service" => Arc::new(StringArray::from_iter_values(
                built.rows.iter().map(|r| r.service.as_str()),
            )) as ArrayRef,
            "region" => Arc::new(StringArray::from_iter_values(
                built.rows.iter().map(|r| r.region.as_str()),
            )),
            "name" => Arc::new(StringArray::from_iter_values(
                built.rows.iter().map(|r| r.name.as_str()),
            )),
            "start_time" | "end_time" => times(),
            "bad" => Arc::new(BooleanArray::from_iter(built.rows.iter().map(|r| Some(r.bad)))),
            _ => new_null_array(f.data_type(), n),
        })
        .collect();
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| AnalyzeError::Internal(format!("metrics SLI requests: {e}")))?;
    ctx.deregister_table("requests")?;
    let partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
    ctx.register_table(
        "requests",
        Arc::new(MemTable::try_new(schema, partitioned(&[batch], partitions))?),
    )?;
    Ok(MetricsSliInfo {
        total: m.total.clone(),
        requests: n as u64,
        resolution_ns: built.resolution_ns,
        scaled: built.scaled,
        unpaired: built.unpaired,
    })
}

/// Replays the log, or loads its cache when one matches. The stamp (the cache key) is taken
/// before reading, so a log that changes meanwhile can never give a stale hit, and again
/// after a replay: the returned stamp, for writing the cache, is `None` unless both agree.
fn read_log(
    dir: &Path,
    root: Option<&Path>,
    progress: Option<tables::Progress>,
) -> Result<(tables::Tables, Option<cache::Loaded>, Option<cache::Stamp>), AnalyzeError> {
    let stamp = root.and_then(|_| match cache::Stamp::of(dir) {
        Ok(s) => Some(s),
        // No log: the replay says so.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(error = %e, "replay cache off: the log cannot be stamped");
            None
        }
    });
    if let (Some(root), Some(stamp)) = (root, &stamp) {
        let started = std::time::Instant::now();
        match cache::load(root, stamp).map(|l| l.map(tables::Tables::from_cache)) {
            Ok(Some(Ok((tables, loaded)))) => {
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    bytes = loaded.bytes,
                    records = tables.stats.records,
                    "loaded the replay cache"
                );
                return Ok((tables, Some(loaded), None));
            }
            Ok(None) => tracing::info!("no replay cache for this log as it is now"),
            Ok(Some(Err(e))) | Err(e) => tracing::warn!(error = %e, "replay cache unusable; replaying the log"),
        }
    }
    let started = std::time::Instant::now();
    let tables = tables::replay(dir, progress)?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        records = tables.stats.records,
        "replayed the log"
    );
    // A log that changed while it was replayed (a daemon still writing) gets no cache: the
    // stamp no longer describes what was read, and the next run would miss it anyway.
    let stamp = stamp.filter(|before| match cache::Stamp::of(dir) {
        Ok(after) if &after == before => true,
        _ => {
            tracing::info!("the log changed while it was replayed; no replay cache written");
            false
        }
    });
    Ok((tables, None, stamp))
}

impl Analyzer {
    /// Replays the log of `data_dir` and registers the tables. The SLI selection comes from
    /// `spec` when given (the `requests` view is empty without one). No cache.
    pub async fn open(data_dir: &Path, spec: Option<&DrillSpec>) -> Result<Analyzer, AnalyzeError> {
        Self::open_with(data_dir, spec, OpenOptions::default()).await
    }

    /// [`Analyzer::open`] with a progress callback and a replay cache ([`cache`]): when the
    /// cache root holds a cache of the log as it is now, the tables and the spec-independent
    /// views are loaded from it; otherwise the log is replayed and the cache is written by a
    /// background thread while the caller measures (dropping the analyzer waits for it).
    pub async fn open_with(
        data_dir: &Path,
        spec: Option<&DrillSpec>,
        options: OpenOptions,
    ) -> Result<Analyzer, AnalyzeError> {
        let dir = log_dir(data_dir);
        let root = options.cache_root.clone();
        let progress = options.progress;
        let (tables, mut loaded, stamp) =
            tokio::task::spawn_blocking(move || read_log(&dir, root.as_deref(), progress))
                .await
                .map_err(|e| AnalyzeError::Internal(format!("replay task: {e}")))??;
        let from = if loaded.is_some() {
            TablesFrom::Cache
        } else {
            TablesFrom::Replay
        };
        let (ctx, view_key, metrics_sli) = Self::context_for(&tables, spec, loaded.as_mut()).await?;
        let mut analyzer = Analyzer {
            ctx,
            stats: tables.stats.clone(),
            metrics_sli,
            from,
            cache_writer: None,
        };
        if let (Some(root), Some(stamp)) = (options.cache_root, stamp) {
            // Anything wrong with the cache is never an error of the analysis.
            match analyzer.start_cache_writer(root, stamp, tables, view_key).await {
                Ok(writer) => analyzer.cache_writer = Some(writer),
                Err(e) => tracing::warn!(error = %e, "could not write the replay cache"),
            }
        }
        Ok(analyzer)
    }

    /// An analyzer over tables already read (by a [`tables::Tail`] that follows a live log):
    /// the views are computed from them, nothing is cached.
    pub async fn from_tables(tables: &tables::Tables, spec: Option<&DrillSpec>) -> Result<Analyzer, AnalyzeError> {
        let (ctx, _, metrics_sli) = Self::context_for(tables, spec, None).await?;
        Ok(Analyzer {
            ctx,
            stats: tables.stats.clone(),
            metrics_sli,
            from: TablesFrom::Replay,
            cache_writer: None,
        })
    }

    /// A session with `tables`, the SLI selection of `spec` and every view (taken from a
    /// loaded cache when it has them for this selection); returns the views' key too.
    async fn context_for(
        tables: &tables::Tables,
        spec: Option<&DrillSpec>,
        mut loaded: Option<&mut cache::Loaded>,
    ) -> Result<(SessionContext, String, Option<MetricsSliInfo>), AnalyzeError> {
        let ctx = session();
        udf::register(&ctx);
        let partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
        tables.register(&ctx, partitions)?;
        let (services, kinds) = match spec {
            Some(s) => (s.sli.services.clone(), s.sli.span_kinds.clone()),
            None => (vec![], vec![]),
        };
        ctx.register_table("sli_services", Arc::new(one_column("service", &services)?))?;
        ctx.register_table("sli_kinds", Arc::new(one_column("kind", &kinds)?))?;
        // The views are computed once into tables: several measures read each of them, and
        // re-evaluating their attribute lookups over every span per query dominated large logs.
        // The plain views first: materialized ones may read them (stream_times reads
        // stream_events).
        for (name, sql) in queries::LAZY_VIEWS {
            ctx.sql(&format!("CREATE VIEW {name} AS {sql}")).await?;
        }
        let metrics = spec.and_then(|s| s.sli.metrics.as_ref());
        let view_key = spec_view_key(&services, &kinds, metrics);
        for (name, sql) in queries::VIEWS {
            let started = std::time::Instant::now();
            let usable =
                |l: &cache::Loaded| !queries::SPEC_VIEWS.contains(name) || l.view_keys.get(*name) == Some(&view_key);
            let cached = loaded
                .as_deref_mut()
                .filter(|l| usable(l))
                .and_then(|l| l.tables.remove(*name));
            match cached {
                Some(t) => {
                    let table = MemTable::try_new(t.schema, partitioned(&t.batches, partitions))?;
                    ctx.register_table(*name, Arc::new(table))?;
                }
                None => {
                    ctx.sql(&format!("CREATE TABLE {name} AS {sql}")).await?;
                    tracing::info!(ms = started.elapsed().as_millis() as u64, view = name, "computed view");
                }
            }
        }
        // A metrics SLI replaces the span-based requests (the cache keeps them with this key).
        let info = match metrics {
            Some(m) => Some(register_metrics_requests(&ctx, m).await?),
            None => None,
        };
        Ok((ctx, view_key, info))
    }

    /// Saves the replayed tables and every view table (`requests` with its SLI selection) in a
    /// background thread.
    async fn start_cache_writer(
        &self,
        root: PathBuf,
        stamp: cache::Stamp,
        tables: tables::Tables,
        view_key: String,
    ) -> Result<std::thread::JoinHandle<()>, AnalyzeError> {
        let mut save: Vec<cache::CachedTable> = tables::TABLES
            .iter()
            .zip(tables.all())
            .map(|(name, t)| cache::CachedTable {
                name: name.to_string(),
                schema: t.schema.clone(),
                batches: t.batches.clone(),
            })
            .collect();
        let mut view_keys = std::collections::BTreeMap::new();
        for (name, _) in queries::VIEWS {
            if queries::SPEC_VIEWS.contains(name) {
                view_keys.insert(name.to_string(), view_key.clone());
            }
            let df = self.ctx.table(*name).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            save.push(cache::CachedTable {
                name: name.to_string(),
                schema,
                batches: df.collect().await?,
            });
        }
        let stats = tables.stats.clone();
        Ok(std::thread::spawn(move || {
            let started = std::time::Instant::now();
            match cache::store(&root, &stamp, &stats, &save, &view_keys) {
                Ok(bytes) => tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    bytes,
                    dir = %stamp.dir(&root).display(),
                    "wrote the replay cache"
                ),
                Err(e) => tracing::warn!(error = %e, "could not write the replay cache"),
            }
        }))
    }

    /// Where the tables came from.
    pub fn tables_from(&self) -> TablesFrom {
        self.from
    }

    /// Whether the replay cache is still being written.
    pub fn cache_pending(&self) -> bool {
        self.cache_writer.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Waits until the replay cache is written (a no-op when none is being written).
    pub fn finish_cache(&mut self) {
        if let Some(w) = self.cache_writer.take()
            && w.join().is_err()
        {
            tracing::warn!("the replay cache writer panicked");
        }
    }

    /// Runs one SQL statement (with its bound parameters) and collects the result.
    pub async fn sql<Q: queries::AsSql + ?Sized>(&self, query: &Q) -> Result<Vec<RecordBatch>, AnalyzeError> {
        let started = std::time::Instant::now();
        let sql = query.text();
        let mut df = self.ctx.sql(sql).await?;
        if let Some(params) = query.param_values() {
            df = df.with_param_values(params)?;
        }
        if let Some(q) = query.declared() {
            let got: Vec<&str> = df.schema().fields().iter().map(|f| f.name().as_str()).collect();
            if got != q.columns {
                return Err(AnalyzeError::Internal(format!(
                    "query {} returns columns [{}] but declares [{}] (queries.rs)",
                    q.name,
                    got.join(", "),
                    q.columns.join(", ")
                )));
            }
        }
        let batches = df.collect().await?;
        let first_line = sql.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            sql = first_line,
            "query"
        );
        Ok(batches)
    }

    /// Runs one statement from a user (`cutover query` and every later SQL surface): DDL
    /// (CREATE, DROP, CREATE EXTERNAL TABLE), DML (INSERT, UPDATE, DELETE), `COPY ... TO` and
    /// statements such as `SET` are refused before anything is planned to run.
    pub async fn sql_read_only(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyzeError> {
        let options = datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("not supported") {
                AnalyzeError::ReadOnly(msg.trim_start_matches("Error during planning: ").to_string())
            } else {
                AnalyzeError::Query(e)
            }
        })?;
        Ok(df.collect().await?)
    }

    /// The DataFusion session, for callers that need more than [`Analyzer::sql`].
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}
