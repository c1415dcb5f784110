//! `cutover bench --kind analyze`: times `cutover analyze` over a large generated drill log.
//!
//! Steps: write the fixture log ([`fixture`]) to `DATA_DIR/log` → replay it ([`Analyzer::open_with`],
//! writing the replay cache to `DATA_DIR/replay-cache`) and measure the whole report
//! ([`measures::measure`]) → the same again in the same process (the re-run, which loads the
//! cache; `rerun_replay_s` is that load) → check the row counts of both against what was
//! written → time the two core
//! queries ([`LATENCY_SQL`], [`GAPS_SQL`]) three times in DataFusion → optionally export the
//! tables as Arrow IPC files for `scripts/bench-duckdb.py`.
//!
//! The last line is machine-readable:
//! `events=N generate_s=X replay_s=X measure_s=X total_s=X cache_wait_s=X rerun_replay_s=X rerun_measure_s=X
//! rerun_total_s=X df_latency_s=X df_gaps_s=X df_latency_rows=N df_gaps_rows=N peak_rss_mib=N`.

pub mod fixture;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use cutover_analyzer::{Analyzer, DrillSpec, measures};

/// Latency percentiles of the SLI requests per region × service × 10 s window (DataFusion
/// dialect; `scripts/bench-duckdb.py` holds the same query for DuckDB).
pub const LATENCY_SQL: &str = "SELECT region, service,
       date_bin(INTERVAL '10 seconds', start_time, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
       COUNT(*) AS requests,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_ms) AS p90_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
       MAX(duration_ms) AS max_ms
FROM spans
WHERE service = 'frontend' AND kind = 'server'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3";

/// Telemetry gaps: per stream (region × service × signal, metric points per name), the
/// silences longer than 3 × the stream's median inter-arrival (DataFusion dialect). Events of
/// a stream with the same timestamp (several instances reporting at once) are one arrival.
pub const GAPS_SQL: &str = "WITH ev AS (
    SELECT region, service, 'span' AS signal, CAST(start_time AS BIGINT) AS t FROM spans
    UNION ALL
    SELECT region, service, 'metric:' || name AS signal, CAST(time AS BIGINT) AS t FROM metric_points
    UNION ALL
    SELECT region, service, 'log' AS signal, CAST(time AS BIGINT) AS t FROM logs
), d AS (
    SELECT region, service, signal, t, LAG(t) OVER (PARTITION BY region, service, signal ORDER BY t) AS prev
    FROM (SELECT DISTINCT region, service, signal, t FROM ev) arrivals
), iv AS (
    SELECT region, service, signal, prev AS gap_start, t AS gap_end, (t - prev) / 1e9 AS seconds
    FROM d WHERE prev IS NOT NULL
), cadence AS (
    SELECT region, service, signal, median(seconds) AS cadence_seconds FROM iv GROUP BY 1, 2, 3
)
SELECT iv.region, iv.service, iv.signal, iv.gap_start, iv.gap_end, iv.seconds, c.cadence_seconds
FROM iv JOIN cadence c ON iv.region = c.region AND iv.service = c.service AND iv.signal = c.signal
WHERE iv.seconds > 3 * c.cadence_seconds
ORDER BY 1, 2, 3, 4";

/// Options of the analyze benchmark.
pub struct Options {
    /// Events to generate (about).
    pub events: u64,
    /// Data directory (default: a fresh temp dir).
    pub data_dir: Option<PathBuf>,
    /// Keep the data directory afterwards.
    pub keep: bool,
    /// Use the log already in the data directory instead of generating one.
    pub reuse: bool,
    /// Write spans, metric_points and logs as Arrow IPC files here.
    pub export_dir: Option<PathBuf>,
    /// Runs of each core query in DataFusion (median reported; 0 skips them).
    pub sql_runs: usize,
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Open (replay, or load the replay cache under `cache_root`) and measure once: (open
/// seconds, measure seconds, the analyzer).
async fn analyze_once(data_dir: &Path, spec: &DrillSpec, cache_root: &Path) -> anyhow::Result<(f64, f64, Analyzer)> {
    let t0 = Instant::now();
    let options = cutover_analyzer::OpenOptions {
        progress: None,
        cache_root: Some(cache_root.to_path_buf()),
    };
    let analyzer = Analyzer::open_with(data_dir, Some(spec), options).await?;
    let t1 = Instant::now();
    let report = measures::measure(&analyzer, spec).await?;
    let t2 = Instant::now();
    eprintln!(
        "bench: replayed {} records ({} duplicate spans); verdict {:?}, RTO {:?} s",
        analyzer.stats.records, analyzer.stats.duplicate_spans, report.verdict, report.rto.actual_seconds
    );
    Ok(((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), analyzer))
}

async fn count(analyzer: &Analyzer, sql: &str) -> anyhow::Result<u64> {
    let batches = analyzer.sql(sql).await?;
    let b = batches.first().context("no rows")?;
    let a = b.column(0).as_primitive_opt::<Int64Type>().context("not an integer")?;
    Ok(if a.is_empty() { 0 } else { a.value(0) as u64 })
}

/// Fails when the replayed tables do not hold what the generator wrote.
async fn check_counts(analyzer: &Analyzer, w: &fixture::Written) -> anyhow::Result<()> {
    let checks = [
        ("spans", w.spans),
        ("metric_points", w.metric_points),
        ("logs", w.logs),
        ("markers", w.markers),
        ("alerts", w.alerts),
        ("siem", w.siem),
        ("requests", w.requests),
    ];
    for (table, expected) in checks {
        let got = count(analyzer, &format!("SELECT COUNT(*) FROM {table}")).await?;
        if got != expected {
            bail!("{table}: replay has {got} rows, the generator wrote {expected}");
        }
    }
    if analyzer.stats.duplicate_spans != w.duplicate_spans || analyzer.stats.records != w.events {
        bail!(
            "replay saw {} records and {} duplicate spans, the generator wrote {} and {}",
            analyzer.stats.records,
            analyzer.stats.duplicate_spans,
            w.events,
            w.duplicate_spans
        );
    }
    Ok(())
}

/// Median seconds of `runs` runs of `sql` (NaN when 0), and its row count.
async fn time_sql(analyzer: &Analyzer, sql: &str, runs: usize) -> anyhow::Result<(f64, f64)> {
    if runs == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let mut times = vec![];
    let mut rows = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        let batches = analyzer.sql(sql).await?;
        times.push(t.elapsed().as_secs_f64());
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>() as f64;
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], rows))
}

async fn export(analyzer: &Analyzer, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for table in ["spans", "metric_points", "logs"] {
        let df = analyzer.context().table(table).await?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await?;
        let path = dir.join(format!("{table}.arrow"));
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut w = arrow::ipc::writer::FileWriter::try_new(file, &schema)?;
        for b in &batches {
            w.write(b)?;
        }
        w.finish()?;
        eprintln!("bench: exported {}", path.display());
    }
    Ok(())
}

fn generate_or_reuse(opts: &Options, data_dir: &Path) -> anyhow::Result<(fixture::Written, f64)> {
    let written_file = data_dir.join("written.json");
    if opts.reuse && written_file.exists() {
        let w: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&written_file)?)?;
        let n = |k: &str| w[k].as_u64().unwrap_or(0);
        let written = fixture::Written {
            events: n("events"),
            spans: n("spans"),
            duplicate_spans: n("duplicate_spans"),
            metric_points: n("metric_points"),
            logs: n("logs"),
            markers: n("markers"),
            alerts: n("alerts"),
            siem: n("siem"),
            requests: n("requests"),
        };
        eprintln!(
            "bench: reusing the log of {} events in {}",
            written.events,
            data_dir.display()
        );
        return Ok((written, 0.0));
    }
    if cutover_analyzer::log_dir(data_dir).exists() {
        bail!("{} already holds a log; pass --reuse to use it", data_dir.display());
    }
    let t = Instant::now();
    let mut last = Instant::now();
    let written = fixture::generate(data_dir, opts.events, |done, planned| {
        if last.elapsed().as_secs_f64() >= 2.0 {
            eprintln!("bench: generating: {done} of ~{planned} events");
            last = Instant::now();
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    std::fs::write(&written_file, serde_json::to_string_pretty(&written)?)?;
    eprintln!("bench: wrote {} events in {secs:.1} s", written.events);
    Ok((written, secs))
}

/// Runs the analyze benchmark.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let (data_dir, remove) = match &opts.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cutover-bench-analyze-{}", std::process::id())),
            !opts.keep,
        ),
    };
    std::fs::create_dir_all(&data_dir)?;
    let result = run_in(&opts, &data_dir).await;
    if remove {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        eprintln!("bench: data kept in {}", data_dir.display());
    }
    result
}

async fn run_in(opts: &Options, data_dir: &Path) -> anyhow::Result<()> {
    let dd = data_dir.to_path_buf();
    let (reuse, events) = (opts.reuse, opts.events);
    let gen_opts = Options {
        events,
        data_dir: None,
        keep: true,
        reuse,
        export_dir: None,
        sql_runs: 0,
    };
    let (written, generate_s) = tokio::task::spawn_blocking(move || generate_or_reuse(&gen_opts, &dd)).await??;
    std::fs::write(data_dir.join("drill.yaml"), fixture::DRILL_YAML)?;
    let spec = DrillSpec::parse(fixture::DRILL_YAML)?;
    // The first run replays the log and writes the replay cache (in the background, while it
    // measures; `cache_wait_s` is how long the run then waits for the writer); the re-run,
    // a new analyzer in the same process, loads the cache.
    let cache_root = data_dir.join("replay-cache");
    if cache_root.exists() {
        std::fs::remove_dir_all(&cache_root)?;
    }
    let (replay_s, measure_s, mut first) = analyze_once(data_dir, &spec, &cache_root).await?;
    let t = Instant::now();
    first.finish_cache();
    let cache_wait_s = t.elapsed().as_secs_f64();
    check_counts(&first, &written).await?;
    drop(first);
    let (rerun_replay_s, rerun_measure_s, analyzer) = analyze_once(data_dir, &spec, &cache_root).await?;
    if analyzer.tables_from() != cutover_analyzer::TablesFrom::Cache {
        bail!("the re-run replayed the log again instead of loading the replay cache");
    }
    check_counts(&analyzer, &written).await?;
    let (df_latency_s, latency_rows) = time_sql(&analyzer, LATENCY_SQL, opts.sql_runs).await?;
    let (df_gaps_s, gap_rows) = time_sql(&analyzer, GAPS_SQL, opts.sql_runs).await?;
    if opts.sql_runs > 0 {
        eprintln!(
            "bench: DataFusion latency query {latency_rows} rows in {df_latency_s:.3} s, gaps query {gap_rows} rows \
             in {df_gaps_s:.3} s (medians of {})",
            opts.sql_runs
        );
    }
    if let Some(dir) = &opts.export_dir {
        export(&analyzer, dir).await?;
    }
    println!(
        "events={} generate_s={generate_s:.2} replay_s={replay_s:.2} measure_s={measure_s:.2} total_s={:.2} \
         cache_wait_s={cache_wait_s:.2} rerun_replay_s={rerun_replay_s:.2} rerun_measure_s={rerun_measure_s:.2} rerun_total_s={:.2} \
         df_latency_s={df_latency_s:.3} df_gaps_s={df_gaps_s:.3} df_latency_rows={latency_rows} \
         df_gaps_rows={gap_rows} peak_rss_mib={:.0}",
        written.events,
        replay_s + measure_s + cache_wait_s,
        rerun_replay_s + rerun_measure_s,
        peak_rss_mib()
    );
    Ok(())
}
