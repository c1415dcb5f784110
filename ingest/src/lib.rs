//! The cutover ingest daemon.
//!
//! Data flow: a receiver decodes a request → converts it to `cutover_schemas::Event`s →
//! [`sink::EventSink::store`] appends them to the embedded event log and waits until they are
//! durable under the configured fsync policy → only then does the receiver answer success.
//! Any failure to store becomes a retryable error for the client; nothing is acknowledged
//! that was not stored.
//!
//! Start-up is three steps: [`open_log`] (recovering a torn tail), [`receivers::build_receivers`]
//! (binding every listener), [`Daemon::serve`].

pub mod error;
pub mod metrics;
pub mod receivers;
pub mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cutover_eventlog::{FsyncPolicy, LogConfig, LogError, LogWriter, Recovery};
pub use receivers::ReceiverKind;
pub use receivers::otlp::OtlpConfig;

/// Everything the daemon needs to start.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Directory of the event log (created if missing).
    pub data_dir: PathBuf,
    /// Region for events whose resource has no `cloud.region`.
    pub region: String,
    /// Label naming the region in remote_write series and Alertmanager alerts.
    pub region_label: String,
    /// OTLP receivers.
    pub otlp: OtlpConfig,
    /// Syslog over TCP listen address (off when `None`).
    pub syslog_tcp: Option<SocketAddr>,
    /// Syslog over UDP listen address (off when `None`).
    pub syslog_udp: Option<SocketAddr>,
    /// Event log settings.
    pub log: LogConfig,
}

impl IngestConfig {
    /// Defaults for `data_dir`: OTLP on 127.0.0.1:4317/4318, fsync always.
    pub fn new(data_dir: PathBuf, region: String) -> Self {
        IngestConfig {
            data_dir,
            region,
            region_label: "region".into(),
            otlp: OtlpConfig::default(),
            syslog_tcp: None,
            syslog_udp: None,
            log: LogConfig {
                fsync: FsyncPolicy::Always,
                ..LogConfig::default()
            },
        }
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The log could not be opened or recovered.
    #[error("cannot open the event log in {dir}: {source}")]
    Log {
        /// The data directory.
        dir: PathBuf,
        /// The cause.
        source: LogError,
    },
    /// A listener could not be bound.
    #[error("cannot bind a listener: {0}")]
    Bind(#[from] std::io::Error),
}

/// Opens and recovers the event log.
pub fn open_log(config: &IngestConfig) -> Result<(Arc<LogWriter>, Recovery), StartError> {
    let log_dir = config.data_dir.join("log");
    let (writer, recovery) = LogWriter::open(&log_dir, config.log.clone()).map_err(|source| StartError::Log {
        dir: log_dir.clone(),
        source,
    })?;
    if recovery.truncated_bytes > 0 {
        tracing::warn!(bytes = recovery.truncated_bytes, reason = ?recovery.torn_reason, "recovered the event log by truncating a torn tail");
    }
    Ok((Arc::new(writer), recovery))
}

/// A running daemon.
pub struct Daemon {
    /// Bound address of each receiver.
    pub addrs: Vec<(ReceiverKind, SocketAddr)>,
    /// What opening the log found.
    pub recovery: Recovery,
    log: Arc<LogWriter>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Daemon {
    /// Opens the log, binds every receiver and starts serving.
    pub async fn start(config: IngestConfig) -> Result<Daemon, StartError> {
        let (log, recovery) = open_log(&config)?;
        let metrics = Arc::new(metrics::Metrics::new());
        let sink = Arc::new(sink::EventSink::new(log.clone(), metrics));
        let bound = receivers::build_receivers(&config, sink).await?;
        Ok(Self::serve(bound, log, recovery))
    }

    /// Starts serving bound receivers.
    pub fn serve(bound: Vec<receivers::BoundReceiver>, log: Arc<LogWriter>, recovery: Recovery) -> Daemon {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let addrs = bound.iter().map(|b| (b.kind, b.addr)).collect();
        let tasks = bound.into_iter().map(|b| b.serve(stop_rx.clone())).collect();
        Daemon {
            addrs,
            recovery,
            log,
            stop,
            tasks,
        }
    }

    /// The bound address of a receiver.
    pub fn addr(&self, kind: ReceiverKind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }

    /// The log writer (health, stats).
    pub fn log(&self) -> &LogWriter {
        &self.log
    }

    /// Stops accepting requests, lets in-flight ones finish, then closes the log.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Receivers held the other references; the last drop joins the writer thread.
        let log = self.log;
        let _ = tokio::task::spawn_blocking(move || drop(log)).await;
    }
}
