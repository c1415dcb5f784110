//! `cutover serve` and `cutover ingest --pg-listen`: the PostgreSQL-wire endpoint's flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use cutover_sqlwire::{Limits, ServeOptions};

/// Flags of the PostgreSQL endpoint.
#[derive(clap::Args, Debug, Clone)]
pub struct PgArgs {
    /// Drill spec (YAML) whose report sections are served as tables; repeat for several
    /// drills (the `drill` column tells them apart). Default: DATA_DIR/drill.yaml when it
    /// exists, otherwise only the log's tables.
    #[arg(long = "drill")]
    pub drills: Vec<PathBuf>,
    /// User name clients log in as.
    #[arg(long, default_value = "cutover")]
    pub pg_user: String,
    /// File holding the password (SCRAM-SHA-256; at least 8 characters). Without it and
    /// without CUTOVER_PG_PASSWORD, no password is asked, which only a loopback address allows
    /// unless --allow-unauthenticated.
    #[arg(long)]
    pub pg_password_file: Option<PathBuf>,
    /// TLS certificate chain (PEM) of the PostgreSQL listener; needs --pg-tls-key.
    #[arg(long, requires = "pg_tls_key")]
    pub pg_tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "pg_tls_cert")]
    pub pg_tls_key: Option<PathBuf>,
    /// Longest a query may run, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub query_timeout: f64,
    /// Memory one query's sorts, joins and aggregations may use, MiB.
    #[arg(long, default_value_t = 1024)]
    pub query_memory_mib: usize,
    /// Largest result of one query, MiB.
    #[arg(long, default_value_t = 256)]
    pub max_result_mib: usize,
    /// How often the log is checked for new durable records, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub refresh: f64,
    /// Most client connections at once.
    #[arg(long, default_value_t = 64)]
    pub pg_max_connections: usize,
}

impl PgArgs {
    /// The server's options for `data_dir` on `listen`.
    pub fn options(
        &self,
        data_dir: &Path,
        listen: SocketAddr,
        allow_unauthenticated: bool,
    ) -> anyhow::Result<ServeOptions> {
        let password = match (&self.pg_password_file, std::env::var("CUTOVER_PG_PASSWORD")) {
            (Some(f), _) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the password file {}", f.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            (None, Ok(p)) if !p.is_empty() => Some(p),
            _ => None,
        };
        let tls = match (&self.pg_tls_cert, &self.pg_tls_key) {
            (Some(cert), Some(key)) => Some(cutover_ingest::config::TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: None,
            }),
            _ => None,
        };
        anyhow::ensure!(
            self.query_timeout > 0.0 && self.refresh > 0.0,
            "--query-timeout and --refresh must be positive"
        );
        let drills = if self.drills.is_empty() {
            cutover_sqlwire::default_drills(data_dir)
        } else {
            self.drills.clone()
        };
        Ok(ServeOptions {
            data_dir: data_dir.to_path_buf(),
            drills,
            listen,
            user: self.pg_user.clone(),
            password,
            allow_unauthenticated,
            tls,
            limits: Limits {
                query_timeout: Duration::from_secs_f64(self.query_timeout),
                query_memory_bytes: self.query_memory_mib << 20,
                result_bytes: self.max_result_mib << 20,
            },
            refresh: Duration::from_secs_f64(self.refresh),
            max_connections: self.pg_max_connections.max(1),
        })
    }
}

/// Flags of `cutover serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory of the daemon (its log is read, never written).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address of the PostgreSQL listener (port 0 picks a free port; the ready line says which).
    #[arg(long, default_value = "127.0.0.1:5433")]
    pub pg_listen: SocketAddr,
    /// Serve without a password on a non-loopback address.
    #[arg(long)]
    pub allow_unauthenticated: bool,
    #[command(flatten)]
    pub pg: PgArgs,
}
