//! `cutover serve`: the drill over the PostgreSQL wire protocol, for Grafana's built-in
//! PostgreSQL data source, psql and any SQL client (`docs/sql.md` is the contract).
//!
//! What is served is a [`Snapshot`]: one DataFusion session holding the replayed tables
//! (`spans`, `metric_points`, …, with the analyzer's views) and every report section as tables
//! ([`sections`]), computed by the analyzer's own `measure` for each drill spec. A
//! background task follows the log ([`cutover_analyzer::tables::Tail`]): when durable records
//! were added it reads only those, recomputes the views and the reports, and swaps the
//! snapshot; a query always runs against one whole snapshot, never a half-built one.

pub mod compat;
pub mod sections;
pub mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use cutover_analyzer::tables::Tail;
use cutover_analyzer::{Analyzer, DrillSpec, measures};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Errors of `cutover serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The analyzer failed (the log could not be read, a query failed).
    #[error(transparent)]
    Analyze(#[from] cutover_analyzer::AnalyzeError),
    /// A socket or file could not be used.
    #[error("{0}")]
    Io(String),
    /// A drill spec could not be loaded.
    #[error("{0}")]
    Spec(String),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
}

/// Limits on each query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall time of one statement.
    pub query_timeout: Duration,
    /// Memory one statement's operators may hold (sorts, joins, aggregations).
    pub query_memory_bytes: usize,
    /// Size of one statement's result in memory before it is sent.
    pub result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            query_timeout: Duration::from_secs(30),
            query_memory_bytes: 1 << 30,
            result_bytes: 256 << 20,
        }
    }
}

/// How `cutover serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The data directory (its `log/`).
    pub data_dir: PathBuf,
    /// Drill specs whose reports are served; empty: only the tables.
    pub drills: Vec<PathBuf>,
    /// Address of the PostgreSQL listener.
    pub listen: SocketAddr,
    /// The user name clients log in as.
    pub user: String,
    /// Its password; `None`: no authentication (refused on a non-loopback address unless
    /// `allow_unauthenticated`).
    pub password: Option<String>,
    /// Serve without a password on a non-loopback address.
    pub allow_unauthenticated: bool,
    /// TLS certificate and key (PEM); clients may then use `sslmode=require` or stricter.
    pub tls: Option<cutover_ingest::config::TlsConfig>,
    /// Per-query limits.
    pub limits: Limits,
    /// How often the log is checked for new durable records.
    pub refresh: Duration,
    /// Most connections at once.
    pub max_connections: usize,
}

/// Everything one answer is computed from.
pub struct Snapshot {
    /// The session: tables, views, report sections, compatibility functions.
    pub ctx: SessionContext,
    /// Sequence number after the last log record in it.
    pub next_seq: u64,
    /// When it was built.
    pub built_at: SystemTime,
    /// How long building it took.
    pub build_ms: u64,
}

/// State shared by the connections and the refresher.
pub struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    pub(crate) limits: Limits,
}

impl Shared {
    /// The snapshot queries run against now.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("snapshot lock").clone()
    }
}

/// A drill spec and where it came from.
struct Drill {
    spec: DrillSpec,
}

/// Loads every spec named in `options`.
fn load_drills(paths: &[PathBuf]) -> Result<Vec<Drill>, ServeError> {
    let mut drills: Vec<Drill> = Vec::new();
    for p in paths {
        let spec = DrillSpec::load(p).map_err(|e| ServeError::Spec(format!("{}: {e}", p.display())))?;
        if drills.iter().any(|d| d.spec.name == spec.name) {
            return Err(ServeError::Spec(format!(
                "{}: another drill spec has the same name {:?}; names tell drills apart in the tables",
                p.display(),
                spec.name
            )));
        }
        drills.push(Drill { spec });
    }
    Ok(drills)
}

/// Builds a snapshot from the tables the tail holds: the analyzer's session for the first
/// spec (its views follow that spec's SLI selection), every spec's report as tables, and
/// `serve_status`.
async fn build(tail: &Tail, drills: &[Drill]) -> Result<Snapshot, ServeError> {
    let started = Instant::now();
    let tables = tail.tables();
    let mut reports = Vec::new();
    let mut first: Option<Analyzer> = None;
    for d in drills {
        let analyzer = Analyzer::from_tables(tables, Some(&d.spec)).await?;
        let report = match measures::measure(&analyzer, &d.spec).await {
            Ok(r) => r,
            // A live log may not hold an SLI request yet; the drill's report waits for one.
            Err(cutover_analyzer::AnalyzeError::Spec(problem)) => {
                tracing::warn!(drill = %d.spec.name, %problem, "no report for this drill yet");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let json: serde_json::Value =
            serde_json::to_value(&report).map_err(|e| ServeError::Config(format!("report of {}: {e}", d.spec.name)))?;
        reports.push((d.spec.name.clone(), json));
        if first.is_none() {
            first = Some(analyzer);
        }
    }
    let analyzer = match first {
        Some(a) => a,
        None => Analyzer::from_tables(tables, None).await?,
    };
    let ctx = analyzer.context().clone();
    let sections = sections::tables(&reports);
    for p in &sections.problems {
        tracing::warn!(problem = %p, "a report field does not fit its table");
    }
    for (name, batch) in sections.batches {
        let table =
            MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(cutover_analyzer::AnalyzeError::from)?;
        ctx.register_table(name, Arc::new(table))
            .map_err(cutover_analyzer::AnalyzeError::from)?;
    }
    compat::register(&ctx);
    ctx.sql("SET datafusion.catalog.information_schema = true")
        .await
        .map_err(cutover_analyzer::AnalyzeError::from)?;
    let build_ms = started.elapsed().as_millis() as u64;
    let next_seq = tail.next_seq();
    let built_at = SystemTime::now();
    register_status(&ctx, tables, next_seq, built_at, build_ms)?;
    Ok(Snapshot {
        ctx,
        next_seq,
        built_at,
        build_ms,
    })
}

/// `serve_status`: one row saying how fresh the snapshot is.
fn register_status(
    ctx: &SessionContext,
    tables: &cutover_analyzer::tables::Tables,
    next_seq: u64,
    built_at: SystemTime,
    build_ms: u64,
) -> Result<(), ServeError> {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("time", ts.clone(), false),
        Field::new("log_next_seq", DataType::UInt64, false),
        Field::new("records", DataType::UInt64, false),
        Field::new("build_ms", DataType::Int64, false),
        Field::new("log_head", DataType::Utf8, true),
    ]));
    let ns = built_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampNanosecondArray::from(vec![ns]).with_timezone("UTC")),
            Arc::new(UInt64Array::from(vec![next_seq])),
            Arc::new(UInt64Array::from(vec![tables.stats.records])),
            Arc::new(Int64Array::from(vec![build_ms as i64])),
            Arc::new(StringArray::from(vec![tables.stats.log.head.clone()])),
        ],
    )
    .map_err(|e| ServeError::Config(e.to_string()))?;
    let t = MemTable::try_new(schema, vec![vec![batch]]).map_err(cutover_analyzer::AnalyzeError::from)?;
    ctx.register_table("serve_status", Arc::new(t))
        .map_err(cutover_analyzer::AnalyzeError::from)?;
    Ok(())
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Server {
    /// Reads the log, computes the reports, binds the listener and starts serving.
    pub async fn start(options: ServeOptions) -> Result<Server, ServeError> {
        if options.password.is_none() && !options.listen.ip().is_loopback() && !options.allow_unauthenticated {
            return Err(ServeError::Config(format!(
                "{} is not a loopback address and no password is set: set one (--pg-password-file or \
                 CUTOVER_PG_PASSWORD), or pass --allow-unauthenticated to serve the drill to anyone who reaches the port",
                options.listen
            )));
        }
        if options.password.as_ref().is_some_and(|p| p.len() < 8) {
            return Err(ServeError::Config("the password must be at least 8 characters".into()));
        }
        let tls = match &options.tls {
            Some(t) => Some(
                cutover_ingest::tls::TlsHandle::load("pg", t, &[]).map_err(|e| ServeError::Config(e.to_string()))?,
            ),
            None => None,
        };
        let drills = load_drills(&options.drills)?;
        let log_dir = cutover_analyzer::log_dir(&options.data_dir);
        let dir = log_dir.clone();
        let tail = tokio::task::spawn_blocking(move || Tail::start(&dir, None))
            .await
            .map_err(|e| ServeError::Io(format!("replay task: {e}")))??;
        let snapshot = build(&tail, &drills).await?;
        tracing::info!(
            records = tail.tables().stats.records,
            build_ms = snapshot.build_ms,
            "tables and reports ready"
        );
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(snapshot)),
            limits: options.limits,
        });
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|e| ServeError::Io(format!("cannot listen on {}: {e}", options.listen)))?;
        let addr = listener.local_addr().map_err(|e| ServeError::Io(e.to_string()))?;
        let (stop, stop_rx) = watch::channel(false);
        let credentials = options
            .password
            .as_ref()
            .map(|p| wire::Credentials::new(&options.user, p));
        let engine = Arc::new(wire::Engine { shared: shared.clone() });
        let mut tasks = vec![tokio::spawn(accept_loop(
            listener,
            engine,
            credentials,
            tls.clone(),
            options.max_connections,
            stop_rx.clone(),
        ))];
        tasks.push(tokio::spawn(refresher(
            tail,
            drills,
            shared.clone(),
            options.refresh,
            stop_rx.clone(),
        )));
        if let Some(t) = tls {
            tasks.push(tokio::spawn(cutover_ingest::tls::watch(
                vec![t],
                Duration::from_secs(5),
                stop_rx,
            )));
        }
        Ok(Server {
            addr,
            stop,
            tasks,
            shared,
        })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The snapshot served now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current()
    }

    /// Stops accepting, closes every connection and the refresher.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    engine: Arc<wire::Engine>,
    credentials: Option<wire::Credentials>,
    tls: Option<cutover_ingest::tls::TlsHandle>,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => {
                let (socket, peer) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, max_connections, "connection refused: too many connections");
                    drop(socket);
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let handlers = Arc::new(wire::Handlers {
                    engine: engine.clone(),
                    credentials: credentials.clone(),
                });
                let acceptor = tls.as_ref().map(|t| t.acceptor());
                conns.spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
        }
    }
    conns.shutdown().await;
}

/// Follows the log: every `every`, when durable records were added, reads them and swaps in
/// a new snapshot.
async fn refresher(
    tail: Tail,
    drills: Vec<Drill>,
    shared: Arc<Shared>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tail = Some(tail);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // Records read but not yet in a served snapshot (a rebuild failed): rebuild at the next
    // tick even if nothing new arrives.
    let mut pending = 0u64;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let Some(mut t) = tail.take() else { return };
        let read = tokio::task::spawn_blocking(move || {
            let r = match t.has_more() {
                Ok(true) => t.advance(),
                Ok(false) => Ok(0),
                Err(e) => Err(e),
            };
            (t, r)
        })
        .await;
        let Ok((t, read)) = read else {
            tracing::error!("the log reader panicked; the served snapshot stays as it is");
            return;
        };
        match read {
            Ok(n) => pending += n,
            Err(e) => tracing::warn!(error = %e, "could not read the log's new records; trying again"),
        }
        if pending > 0 {
            let started = Instant::now();
            let built = tokio::select! {
                _ = stop.changed() => return,
                b = build(&t, &drills) => b,
            };
            match built {
                Ok(s) => {
                    tracing::info!(
                        records = pending,
                        build_ms = s.build_ms,
                        next_seq = s.next_seq,
                        "snapshot refreshed"
                    );
                    *shared.snapshot.write().expect("snapshot lock") = Arc::new(s);
                    pending = 0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not rebuild the snapshot; serving the previous one, trying again")
                }
            }
            // A rebuild costs more as the log grows (views and reports over all rows): rest as
            // long as it took before the next check, so that following a large drill takes at
            // most about half of the CPU from the daemon writing it.
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(started.elapsed()) => {}
            }
            tick.reset();
        }
        tail = Some(t);
    }
}

/// The drill specs `serve` uses when none is named: `DATA_DIR/drill.yaml` if there is one
/// (the demo writes it).
pub fn default_drills(data_dir: &Path) -> Vec<PathBuf> {
    let p = data_dir.join("drill.yaml");
    if p.is_file() { vec![p] } else { vec![] }
}
