//! The cutover analyzer: replays the event log into DataFusion tables and measures a drill.
//!
//! Flow: [`tables::replay`] reads every record of `DATA_DIR/log` into Arrow tables →
//! [`Analyzer`] registers them (plus the views in `queries/view_*.sql`, computed once into
//! tables) in a DataFusion session → [`measures::measure`] runs the measure queries of
//! `queries/` and turns the rows into a [`report::Report`] with verdicts against the
//! [`spec::DrillSpec`].
//!
//! Invariants: the analyzer never writes to the log; the same log and spec always give the
//! same report (replay order is log order; every query that picks "first" orders fully).

pub mod html;
pub mod measures;
pub mod queries;
pub mod report;
pub mod spec;
pub mod tables;
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
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
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
}

fn one_column(name: &str, values: &[String]) -> Result<MemTable, AnalyzeError> {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    let col = Arc::new(StringArray::from(values.to_vec()));
    let batch = RecordBatch::try_new(schema.clone(), vec![col]).map_err(|e| AnalyzeError::Internal(e.to_string()))?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

impl Analyzer {
    /// Replays the log of `data_dir` and registers the tables. The SLI selection comes from
    /// `spec` when given (the `requests` view is empty without one).
    pub async fn open(data_dir: &Path, spec: Option<&DrillSpec>) -> Result<Analyzer, AnalyzeError> {
        Self::open_with_progress(data_dir, spec, None).await
    }

    /// [`Analyzer::open`], calling `progress` while the log is replayed.
    pub async fn open_with_progress(
        data_dir: &Path,
        spec: Option<&DrillSpec>,
        progress: Option<tables::Progress>,
    ) -> Result<Analyzer, AnalyzeError> {
        let dir = log_dir(data_dir);
        let tables = tokio::task::spawn_blocking(move || tables::replay(&dir, progress))
            .await
            .map_err(|e| AnalyzeError::Internal(format!("replay task: {e}")))??;
        let ctx = SessionContext::new();
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
        for (name, sql) in queries::VIEWS {
            ctx.sql(&format!("CREATE TABLE {name} AS {sql}")).await?;
        }
        for (name, sql) in queries::LAZY_VIEWS {
            ctx.sql(&format!("CREATE VIEW {name} AS {sql}")).await?;
        }
        Ok(Analyzer {
            ctx,
            stats: tables.stats,
        })
    }

    /// Runs one SQL statement and collects the result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyzeError> {
        let started = std::time::Instant::now();
        let batches = self.ctx.sql(sql).await?.collect().await?;
        let first_line = sql.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            sql = first_line,
            "query"
        );
        Ok(batches)
    }

    /// The DataFusion session, for callers that need more than [`Analyzer::sql`].
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}
