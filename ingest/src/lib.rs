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

pub mod admission;
pub mod auth;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod metrics;
pub mod receivers;
pub mod serve;
pub mod sink;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use config::IngestConfig;
use cutover_eventlog::{LogError, LogWriter, Recovery};
pub use receivers::ReceiverKind;

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
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A token could not be read.
    #[error("authentication: {0}")]
    Auth(String),
    /// The Kafka log could not be opened.
    #[error("cannot open the Kafka log: {0}")]
    Kafka(#[from] cutover_kafka::Error),
    /// A certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Listeners on routable addresses that nothing authenticates.
    #[error(
        "refusing to start: {} would accept data from anyone who can reach it; configure auth.tokens \
         (HTTP, gRPC) or tls.client_ca, bind to 127.0.0.1, or set auth.allow_unauthenticated: true \
         (--allow-unauthenticated) to accept this",
        .0.join(", ")
    )]
    Unauthenticated(Vec<String>),
}

/// Raises the soft limit on open files to the hard limit and checks that every listener's
/// `max_connections` fit in it with room for the log: running out of descriptors must refuse a
/// connection, never fail a log segment roll.
fn ensure_file_descriptors(config: &IngestConfig) -> Result<(), StartError> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    const RESERVED: u64 = 256;
    let l = &config.listeners;
    let need = (l.grpc.max_connections + l.http.max_connections) as u64
        + l.syslog_tcp.as_ref().map_or(0, |s| s.max_connections as u64)
        + RESERVED;
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit.clone()) {
            tracing::warn!(%error, "cannot raise the open-files limit");
        }
        limit = getrlimit(Resource::Nofile);
    }
    match limit.current {
        Some(have) if have < need => Err(StartError::Config(config::ConfigError::Invalid(format!(
            "the listeners' max_connections add up to {} plus {RESERVED} for the log, more than the {have} files this process may open (ulimit -n); lower max_connections or raise the limit",
            need - RESERVED
        )))),
        _ => Ok(()),
    }
}

/// Opens and recovers the event log.
pub fn open_log(config: &IngestConfig) -> Result<(Arc<LogWriter>, Recovery), StartError> {
    let log_dir = config.data_dir.join("log");
    let log_config = config.log.to_log_config(config.limits.inflight_bytes);
    let (writer, recovery) = LogWriter::open(&log_dir, log_config).map_err(|source| StartError::Log {
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
    backend: Arc<sink::EventSink>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Daemon {
    /// Opens the log, binds every receiver and starts serving.
    pub async fn start(config: IngestConfig) -> Result<Daemon, StartError> {
        config.validate()?;
        let exposed = config.unauthenticated_exposed();
        if !exposed.is_empty() {
            if !config.auth.allow_unauthenticated {
                return Err(StartError::Unauthenticated(exposed));
            }
            tracing::warn!(listeners = %exposed.join(", "), "serving routable listeners without authentication (allow_unauthenticated)");
        }
        ensure_file_descriptors(&config)?;
        let auth = Arc::new(auth::Auth::load(&config.auth).map_err(StartError::Auth)?);
        let metrics = Arc::new(metrics::Metrics::new());
        let (sink, recovery) = match &config.log.kafka {
            Some(address) => {
                let url = cutover_kafka::KafkaUrl::parse(address)?;
                let producer = cutover_kafka::Producer::open(&url, &cutover_kafka::ProducerSettings::default()).await?;
                (sink::EventSink::kafka(Arc::new(producer), metrics), Recovery::default())
            }
            None => {
                let (log, recovery) = open_log(&config)?;
                (sink::EventSink::new(log, metrics), recovery)
            }
        };
        let sink = Arc::new(sink);
        let (bound, tls) = receivers::build_receivers(&config, sink.clone(), auth).await?;
        Ok(Self::serve(bound, tls, sink, recovery))
    }

    /// Starts serving bound receivers, reloading `tls` on SIGHUP and file change.
    pub fn serve(
        bound: Vec<receivers::BoundReceiver>,
        tls: Vec<tls::TlsHandle>,
        backend: Arc<sink::EventSink>,
        recovery: Recovery,
    ) -> Daemon {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let addrs = bound.iter().map(|b| (b.kind, b.addr)).collect();
        let mut tasks: Vec<_> = bound.into_iter().map(|b| b.serve(stop_rx.clone())).collect();
        tasks.push(tokio::spawn(tls::watch(tls, Duration::from_secs(5), stop_rx.clone())));
        Daemon {
            addrs,
            recovery,
            backend,
            stop,
            tasks,
        }
    }

    /// The bound address of a receiver.
    pub fn addr(&self, kind: ReceiverKind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == kind).map(|(_, a)| *a)
    }

    /// The embedded log's writer (health, stats); `None` with the Kafka log.
    pub fn log(&self) -> Option<&LogWriter> {
        match self.backend.backend() {
            sink::Backend::Local(log) => Some(log),
            sink::Backend::Kafka(_) => None,
        }
    }

    /// Stops accepting requests, lets in-flight ones finish, then closes the log.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Receivers held the other references; the last drop joins the writer thread (or, with
        // Kafka, waits for the records still in flight).
        let backend = self.backend;
        let _ = tokio::task::spawn_blocking(move || {
            if let sink::Backend::Kafka(p) = backend.backend() {
                p.flush(Duration::from_secs(30));
            }
            drop(backend)
        })
        .await;
    }
}
