//! `cutover`: the command line of the failover-drill observability pipeline.
//!
//! Subcommands: `ingest` (the daemon), `analyze` (a drill report), `query` (ad-hoc SQL),
//! `demo` (everything end to end on simulated data), `bench` (ingest throughput, analyze time),
//! `verify` and `salvage` (log integrity).

mod archive;
mod bench;
mod bench_analyze;
mod demo;
mod logtools;
mod mark;
mod output;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_ingest::{Daemon, IngestConfig};

#[derive(Parser)]
#[command(
    name = "cutover",
    version,
    about = "Measure failover drills: RTO, RPO and what your telemetry did during the cutover"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Fsync {
    /// fsync every write batch before acknowledging (no loss window).
    Always,
    /// Acknowledge after write(2); fsync every --fsync-interval-ms (loss window on power failure).
    Interval,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum RecoveryScanArg {
    /// Records of the active segment, headers of the sealed ones.
    LastSegment,
    /// Every record of every segment.
    Full,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum FailOnArg {
    /// A missed RTO target.
    Rto,
    /// A missed RPO target.
    Rpo,
    /// RTO or RPO not measurable.
    Unmeasurable,
    /// An SLO's max_drill_budget_percent exceeded.
    Budget,
    /// An abort criterion held.
    Abort,
    /// An expected alert missing or late.
    Alerts,
    /// An unexpected telemetry gap, or a stream that never followed the cutover.
    Gaps,
    /// A latency spike window (not in the default).
    Latency,
    /// Split-brain writes (not in the default).
    SplitBrain,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum ReportFormat {
    /// Versioned JSON (docs/report.md).
    Json,
    /// Markdown.
    Markdown,
    /// One self-contained HTML file with charts (no network fetches).
    Html,
}

/// Options of `cutover ingest`: each flag overrides the config file.
#[derive(clap::Args)]
struct IngestArgs {
    /// Configuration file (YAML): listeners, limits, auth, TLS, per-receiver settings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (file, then flags, then defaults) and exit.
    #[arg(long)]
    print_config: bool,
    /// Data directory; the event log goes to DIR/log.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The log on a Kafka topic instead of DIR/log: kafka://HOST:PORT?topic=NAME (record
    /// format and guarantees: docs/kafka.md). A request is acknowledged only after the broker
    /// acknowledged every event of it.
    #[arg(long, value_name = "URL")]
    log: Option<String>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long)]
    otlp_grpc: Option<std::net::SocketAddr>,
    /// OTLP/HTTP listen address, also remote_write, Alertmanager, markers, /metrics and
    /// /healthz [default: 127.0.0.1:4318].
    #[arg(long)]
    otlp_http: Option<std::net::SocketAddr>,
    /// Region for data that names none (no cloud.region resource attribute, no region label)
    /// [default: unknown].
    #[arg(long)]
    region: Option<String>,
    /// Label naming the region in remote_write series, Alertmanager alerts, syslog
    /// structured data and CEF extensions, for every receiver (the config file can set one
    /// per receiver) [default: region].
    #[arg(long)]
    region_label: Option<String>,
    /// Syslog over TCP listen address (RFC 5424/3164, CEF); off unless given.
    #[arg(long)]
    syslog_tcp: Option<std::net::SocketAddr>,
    /// Syslog over UDP listen address; off unless given.
    #[arg(long)]
    syslog_udp: Option<std::net::SocketAddr>,
    /// Durability policy of the event log [default: always].
    #[arg(long, value_enum)]
    fsync: Option<Fsync>,
    /// Interval for --fsync interval [default: 100].
    #[arg(long)]
    fsync_interval_ms: Option<u64>,
    /// What start-up verifies: the active segment's records and the sealed segments'
    /// headers and seals (last-segment), or every record and content hash of every
    /// segment (full; slower on big logs) [default: last-segment].
    #[arg(long, value_enum)]
    recovery_scan: Option<RecoveryScanArg>,
    /// Segment size at which the log seals the segment and rolls to a new one
    /// [default: 67108864].
    #[arg(long)]
    segment_bytes: Option<u64>,
    /// Free space to leave on the log's file system: below it appends are refused
    /// (503 / UNAVAILABLE with a retry hint) and resume by themselves when space returns
    /// [default: 67108864].
    #[arg(long)]
    min_free_bytes: Option<u64>,
    /// Largest request body after decompression [default: 16777216].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Start even when a listener on a routable address has no authentication.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Also serve the drill over the PostgreSQL wire protocol on this address (as `cutover
    /// serve` does, in this process): dashboards follow the log as it is written.
    #[arg(long)]
    pg_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pg: serve::PgArgs,
}

impl IngestArgs {
    /// The config file, then the flags over it.
    fn effective(&self) -> anyhow::Result<IngestConfig> {
        use cutover_ingest::config::{FsyncMode, RecoveryScanMode, SyslogTcpListener, SyslogUdpListener};
        let mut c = match &self.config {
            Some(path) => IngestConfig::load(path)?,
            None => IngestConfig::default(),
        };
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(l) = &self.log {
            c.log.kafka = Some(l.clone());
        }
        if let Some(a) = self.otlp_grpc {
            c.listeners.grpc.addr = a;
        }
        if let Some(a) = self.otlp_http {
            c.listeners.http.addr = a;
        }
        if let Some(r) = &self.region {
            c.region = r.clone();
        }
        if let Some(l) = &self.region_label {
            for r in [
                &mut c.receivers.prometheus_remote_write,
                &mut c.receivers.alertmanager,
                &mut c.receivers.syslog,
            ] {
                r.region_label = l.clone();
            }
        }
        if let Some(a) = self.syslog_tcp {
            match &mut c.listeners.syslog_tcp {
                Some(l) => l.addr = a,
                None => c.listeners.syslog_tcp = Some(SyslogTcpListener::with_addr(a)),
            }
        }
        if let Some(a) = self.syslog_udp {
            match &mut c.listeners.syslog_udp {
                Some(l) => l.addr = a,
                None => c.listeners.syslog_udp = Some(SyslogUdpListener::with_addr(a)),
            }
        }
        if let Some(f) = self.fsync {
            c.log.fsync = match f {
                Fsync::Always => FsyncMode::Always,
                Fsync::Interval => FsyncMode::Interval,
            };
        }
        if let Some(ms) = self.fsync_interval_ms {
            c.log.fsync_interval_ms = ms;
        }
        if let Some(r) = self.recovery_scan {
            c.log.recovery_scan = match r {
                RecoveryScanArg::LastSegment => RecoveryScanMode::LastSegment,
                RecoveryScanArg::Full => RecoveryScanMode::Full,
            };
        }
        if let Some(b) = self.segment_bytes {
            c.log.segment_bytes = b;
        }
        if let Some(b) = self.min_free_bytes {
            c.log.min_free_bytes = b;
        }
        if let Some(b) = self.max_body_bytes {
            c.limits.max_body_bytes = b;
        }
        if self.allow_unauthenticated {
            c.auth.allow_unauthenticated = true;
        }
        Ok(c)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the ingest daemon: every receiver (OTLP gRPC and HTTP, remote_write, Alertmanager,
    /// syslog, markers) writing to the durable event log.
    ///
    /// Settings come from --config (YAML, docs/deployment.md), then these flags override
    /// them; unset, the defaults apply.
    Ingest(Box<IngestArgs>),
    /// Measure a drill: RTO, RPO and every other section against the drill spec.
    ///
    /// Exit code 0 when every target is met, 1 when one is missed or RTO/RPO is not
    /// measurable (see --fail-on), 2 on error.
    Analyze {
        /// Data directory of the daemon.
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        data_dir: Option<PathBuf>,
        /// Analyze the Kafka log at this address (kafka://HOST:PORT?topic=NAME) instead: the
        /// topic is copied into a temporary embedded log first (as `cutover archive` does).
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// Drill spec (YAML).
        #[arg(long)]
        drill: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Which verdicts make the exit code 1 (comma-separated). The default is every target
        /// of the spec; latency spikes and split-brain writes are findings and fail a run only
        /// when named here.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "rto,rpo,unmeasurable,budget,abort,alerts,gaps"
        )]
        fail_on: Vec<FailOnArg>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run read-only SQL over the replayed log (tables spans, metric_points, logs, markers,
    /// alerts, siem; views requests, writes, promotions, span_links, trace_stats, stream_times,
    /// stream_events, messages: queries/README.md). DDL, DML, COPY and SET are refused.
    Query {
        /// Data directory of the daemon.
        #[arg(long)]
        data_dir: PathBuf,
        /// The SQL statement.
        sql: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: output::QueryFormat,
        /// Drill spec, to give the `requests` view its SLI selection.
        #[arg(long)]
        drill: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Serve the drill over the PostgreSQL wire protocol (read only) for Grafana, psql and SQL
    /// clients: the log's tables, the analyzer's views and every report section as tables,
    /// following the log while a drill runs (docs/sql.md).
    Serve(Box<serve::ServeArgs>),
    /// Simulate a two-region failover drill end to end and print the report beside the truth.
    Demo {
        /// Seed of the simulation; the same seed gives the same drill.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Data directory (default: a fresh directory under the system temp dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
    },
    /// Record a drill marker (drill_started, fault_injected, dns_cutover, ...) through a
    /// running daemon's markers API, for runbooks and CI jobs.
    Mark(mark::MarkArgs),
    /// Benchmark ingest against a `cutover ingest` child process, or `cutover analyze` over a
    /// generated log (`--kind analyze`).
    Bench(bench::BenchArgs),
    /// Copy a drill from the Kafka log (--from kafka://…) into a new embedded log with its
    /// seals, to keep, verify and analyze it without the cluster.
    Archive(archive::ArchiveArgs),
    /// Check every record, seal and the hash chain of a log; print what was checked, the head
    /// hash and every damage. Exits 0 when the log is whole, 1 on damage, 2 on error.
    Verify(logtools::VerifyArgs),
    /// Copy every valid record of a damaged (or version-1) log into a new log and list each
    /// lost range; reports on the new log carry the list in their validity section.
    Salvage(logtools::SalvageArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause once: many of our errors already quote their source
/// in their own message, so a cause whose text (or its text after a `kind: ` prefix) is
/// already printed is skipped.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let detail = text.split_once(": ").map_or(text.as_str(), |(_, d)| d);
        if out.contains(&text) || out.contains(detail) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Ingest(args) => {
            let config = args.effective()?;
            if args.print_config {
                print!("{}", config.to_yaml());
                return Ok(0);
            }
            if config.log.kafka.is_some() && args.pg_listen.is_some() {
                anyhow::bail!(
                    "--pg-listen follows the embedded log, and --log sends events to Kafka: serve an archive (cutover archive, then cutover serve) instead"
                );
            }
            let data_dir = config.data_dir.clone();
            let allow_unauthenticated = config.auth.allow_unauthenticated;
            let daemon = Daemon::start(config).await?;
            let r = &daemon.recovery;
            // The ready line: tests and scripts read the bound addresses from it.
            let addrs: Vec<String> = daemon.addrs.iter().map(|(k, a)| format!("{}={a}", k.name())).collect();
            println!(
                "cutover ingest ready {} data_dir={} recovered_records={} truncated_bytes={}",
                addrs.join(" "),
                data_dir.display(),
                r.records,
                r.truncated_bytes
            );
            let pg = match args.pg_listen {
                Some(listen) => {
                    let options = args.pg.options(&data_dir, listen, allow_unauthenticated)?;
                    let server = cutover_sqlwire::Server::start(options).await?;
                    println!(
                        "cutover serve ready pg={} data_dir={}",
                        server.addr(),
                        data_dir.display()
                    );
                    Some(server)
                }
                None => None,
            };
            shutdown_signal().await;
            eprintln!("cutover ingest: shutting down");
            if let Some(pg) = pg {
                pg.shutdown().await;
            }
            daemon.shutdown().await;
            Ok(0)
        }
        Command::Analyze {
            data_dir,
            from,
            drill,
            format,
            fail_on,
            cache,
        } => {
            let spec = DrillSpec::load(&drill)?;
            // With --from, the topic is archived into a temporary data directory that lives
            // until the report is printed.
            let mut _archive = None;
            let data_dir = match (data_dir, from) {
                (Some(d), _) => d,
                (None, Some(url)) => {
                    let tmp = tempfile::tempdir()?;
                    let a = archive::archive(&url, tmp.path(), std::time::Duration::from_secs(30)).await?;
                    eprintln!(
                        "read {} records from {} partitions of {url} ({} duplicate records left out)",
                        a.records, a.partitions, a.duplicates
                    );
                    let dir = tmp.path().to_path_buf();
                    _archive = Some(tmp);
                    dir
                }
                (None, None) => anyhow::bail!("give --data-dir or --from"),
            };
            let mut analyzer = Analyzer::open_with(&data_dir, Some(&spec), cache.options()).await?;
            let sections = section_progress();
            let report =
                cutover_analyzer::measures::measure_with_progress(&analyzer, &spec, sections.as_deref()).await?;
            if sections.is_some() {
                eprint!("\r\x1b[2K");
            }
            match format {
                ReportFormat::Json => println!("{}", report.to_json()),
                ReportFormat::Markdown => print!("{}", report.to_markdown(None)),
                ReportFormat::Html => print!("{}", cutover_analyzer::html::render(&report)),
            }
            use cutover_analyzer::report::FailOn;
            let fail_on: Vec<FailOn> = fail_on
                .iter()
                .map(|f| match f {
                    FailOnArg::Rto => FailOn::Rto,
                    FailOnArg::Rpo => FailOn::Rpo,
                    FailOnArg::Unmeasurable => FailOn::Unmeasurable,
                    FailOnArg::Budget => FailOn::Budget,
                    FailOnArg::Abort => FailOn::Abort,
                    FailOnArg::Alerts => FailOn::Alerts,
                    FailOnArg::Gaps => FailOn::Gaps,
                    FailOnArg::Latency => FailOn::Latency,
                    FailOnArg::SplitBrain => FailOn::SplitBrain,
                })
                .collect();
            finish_cache(&mut analyzer);
            Ok(report.exit_code_for(&fail_on) as u8)
        }
        Command::Query {
            data_dir,
            sql,
            format,
            drill,
            cache,
        } => {
            let spec = drill.map(|d| DrillSpec::load(&d)).transpose()?;
            let mut analyzer = Analyzer::open_with(&data_dir, spec.as_ref(), cache.options()).await?;
            let batches = analyzer.sql_read_only(&sql).await?;
            output::print(&batches, format)?;
            finish_cache(&mut analyzer);
            Ok(0)
        }
        Command::Serve(args) => {
            let options = args
                .pg
                .options(&args.data_dir, args.pg_listen, args.allow_unauthenticated)?;
            eprintln!(
                "cutover serve: reading {} ({} drill spec(s))",
                args.data_dir.display(),
                options.drills.len()
            );
            let server = cutover_sqlwire::Server::start(options).await?;
            // The ready line: tests and scripts read the bound address from it.
            println!(
                "cutover serve ready pg={} data_dir={} next_seq={}",
                server.addr(),
                args.data_dir.display(),
                server.snapshot().next_seq
            );
            shutdown_signal().await;
            eprintln!("cutover serve: shutting down");
            server.shutdown().await;
            Ok(0)
        }
        Command::Demo { seed, data_dir, format } => {
            let outcome = demo::run(seed, data_dir).await?;
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
                ReportFormat::Markdown => {
                    print!("{}", outcome.report.to_markdown(Some(&outcome.truth)));
                    let d = outcome.data_dir.display();
                    println!("\nThe log is kept in {d}. Try:");
                    println!(
                        "  cutover query --data-dir {d} \"SELECT marker, time, region FROM markers ORDER BY time\""
                    );
                    println!("  cutover analyze --data-dir {d} --drill {d}/drill.yaml --format json");
                    println!("  cutover analyze --data-dir {d} --drill {d}/drill.yaml --format html > report.html");
                }
                ReportFormat::Html => print!("{}", cutover_analyzer::html::render(&outcome.report)),
            }
            Ok(0)
        }
        Command::Verify(args) => logtools::verify(&args),
        Command::Archive(args) => archive::run(&args).await,
        Command::Salvage(args) => logtools::salvage(&args),
        Command::Mark(args) => {
            let answer = tokio::task::spawn_blocking(move || mark::run(args)).await??;
            println!("{answer}");
            Ok(0)
        }
        Command::Bench(args) => {
            bench::run(args).await?;
            Ok(0)
        }
    }
}

/// Called with each section's name before it is measured.
type SectionProgress = Box<dyn Fn(&str) + Send + Sync>;

/// A "measuring SECTION" line on stderr while the report is computed, only when stderr is a
/// terminal (the sections of a large log take seconds each).
fn section_progress() -> Option<SectionProgress> {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|section| {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2Kcutover: measuring {section}");
        let _ = err.flush();
    }))
}

/// Waits for the replay cache to be written, saying so on a terminal when it is still being
/// written (seconds on a large log, after the output is already printed).
fn finish_cache(analyzer: &mut Analyzer) {
    use std::io::IsTerminal;
    let say = std::io::stderr().is_terminal() && analyzer.cache_pending();
    if say {
        eprint!("cutover: saving the replay cache for the next run (--no-cache skips it)...");
    }
    analyzer.finish_cache();
    if say {
        eprintln!(" done");
    }
}

/// The replay cache options of `analyze` and `query`.
#[derive(clap::Args, Debug)]
struct CacheArgs {
    /// Replay cache directory. The tables replayed from a log are saved here, and the next
    /// run on the same, unchanged log loads them instead of replaying it (any change to the
    /// log, or another build of cutover, replays again). Holds about as much as the replayed
    /// tables; deleting it is always safe [default: $XDG_CACHE_HOME/cutover/replay, else
    /// ~/.cache/cutover/replay]
    #[arg(long, env = "CUTOVER_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Replay the log and write no cache.
    #[arg(long)]
    no_cache: bool,
}

impl CacheArgs {
    fn options(self) -> cutover_analyzer::OpenOptions {
        let cache_root = match self.no_cache {
            true => None,
            false => self.cache_dir.or_else(cutover_analyzer::cache::default_root),
        };
        cutover_analyzer::OpenOptions {
            progress: progress_bar(),
            cache_root,
        }
    }
}

/// A replay progress line on stderr, only when stderr is a terminal.
fn progress_bar() -> Option<cutover_analyzer::tables::Progress> {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|read, total| {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let pct = if total == 0 {
            100.0
        } else {
            read as f64 * 100.0 / total as f64
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rreplaying the event log: {pct:5.1}% ({:.0} of {:.0} MiB)",
            mib(read),
            mib(total)
        );
        if read >= total {
            let _ = writeln!(err);
        }
    }))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
