//! `cutover demo`: the daemon in-process on the embedded log, a simulated two-region drill
//! exported through the real `opentelemetry-otlp` gRPC exporter, then the analysis, printed
//! beside the simulator's ground truth.

pub mod export;

pub use cutover_scenarios::sim;

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cutover_analyzer::report::Truth;
use cutover_analyzer::{Analyzer, DrillSpec, Report};
use cutover_ingest::{Daemon, IngestConfig, ReceiverKind};

/// The spec the demo writes next to its log and analyzes with.
pub const DEMO_SPEC: &str = "\
name: demo failover us-east-1 -> us-west-2
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 120, rpo_seconds: 5 }
sli: { services: [frontend], span_kinds: [server] }
recovery: { success_ratio: 0.99, stable_seconds: 60 }
budget:
  slos:
    - { name: availability, objective: 0.999, period_days: 30 }
    - { name: fast, objective: 0.99, period_days: 30, latency_threshold_ms: 500 }
abort:
  criteria:
    - { name: hard down, error_ratio_above: 0.9, for_seconds: 60 }
";

/// What a demo run produced.
#[derive(Debug, serde::Serialize)]
pub struct DemoOutcome {
    /// The data directory (kept for `cutover query`).
    pub data_dir: PathBuf,
    /// The simulator's ground truth.
    pub truth: Truth,
    /// The measured report.
    pub report: Report,
}

/// The demo writes simulated events: never into a data directory that already holds a log
/// (someone's real drill, or an earlier demo whose report it would mix with this one).
fn refuse_foreign_log(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let log = cutover_analyzer::log_dir(data_dir);
    let has_log = std::fs::read_dir(&log)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        })
        .unwrap_or(false);
    if has_log {
        anyhow::bail!(
            "{} already holds an event log; the demo writes only into a new or empty data directory (leave out --data-dir for a fresh one)",
            data_dir.display()
        );
    }
    Ok(())
}

/// Runs the demo. Progress goes to stderr.
pub async fn run(seed: u64, data_dir: Option<PathBuf>) -> anyhow::Result<DemoOutcome> {
    let started = Instant::now();
    let data_dir = match data_dir {
        Some(d) => d,
        None => fresh_dir(seed)?,
    };
    refuse_foreign_log(&data_dir)?;
    eprintln!("cutover demo: seed {seed}, data dir {}", data_dir.display());
    let mut config = IngestConfig::new(data_dir.clone(), "unknown".into());
    config.listeners.grpc.addr = "127.0.0.1:0".parse()?;
    config.listeners.http.addr = "127.0.0.1:0".parse()?;
    let daemon = Daemon::start(config).await.context("starting the ingest daemon")?;
    let grpc = daemon.addr(ReceiverKind::OtlpGrpc).context("grpc receiver bound")?;
    eprintln!("cutover demo: daemon listening on {grpc} (OTLP/gRPC)");

    // Event times: the drill happened over the last ~10 minutes.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64 * 1_000_000;
    let t0 = now - 11 * 60 * 1_000_000_000;
    let drill = sim::generate(seed, t0);
    let sent = export::send(&drill, &format!("http://{grpc}"), seed).await?;
    eprintln!(
        "cutover demo: exported {} spans ({} re-sent as retries), {} markers in {:.1} s",
        sent.spans,
        sent.duplicate_spans,
        sent.markers,
        started.elapsed().as_secs_f64()
    );
    daemon.shutdown().await;

    let spec_path = data_dir.join("drill.yaml");
    std::fs::write(&spec_path, DEMO_SPEC)?;
    let spec = DrillSpec::parse(DEMO_SPEC)?;
    let analyzer = Analyzer::open(&data_dir, Some(&spec)).await?;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await?;
    eprintln!(
        "cutover demo: analyzed in {:.1} s total",
        started.elapsed().as_secs_f64()
    );
    Ok(DemoOutcome {
        data_dir,
        truth: Truth {
            rto_seconds: drill.truth.rto_seconds,
            rpo_seconds: drill.truth.rpo_seconds,
            lost_writes: drill.truth.lost_writes,
        },
        report,
    })
}

fn fresh_dir(seed: u64) -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000 {
        let dir = base.join(format!("cutover-demo-{seed}-{}-{n}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            return Ok(dir);
        }
    }
    anyhow::bail!("cannot create a fresh data directory under {}", base.display())
}
