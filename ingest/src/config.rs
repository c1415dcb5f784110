//! The daemon's configuration: one structure read from `cutover.yaml`, overridden by flags, and
//! printed back by `--print-config`. The contract (every key, its default, the two-region
//! example) is docs/deployment.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover_eventlog::{FsyncPolicy, LogConfig, RecoveryScan};
use serde::{Deserialize, Serialize};

/// Everything the daemon needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Directory of the event log (created if missing); the log is `DATA_DIR/log`.
    pub data_dir: PathBuf,
    /// Region for events whose data names none.
    pub region: String,
    /// Event log settings.
    pub log: LogSettings,
    /// Request limits.
    pub limits: Limits,
    /// Tokens and the start-up rule for unauthenticated listeners.
    pub auth: AuthConfig,
    /// Where and how each listener listens.
    pub listeners: Listeners,
    /// Per-receiver settings.
    pub receivers: ReceiverSettings,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            data_dir: PathBuf::new(),
            region: "unknown".into(),
            log: LogSettings::default(),
            limits: Limits::default(),
            auth: AuthConfig::default(),
            listeners: Listeners::default(),
            receivers: ReceiverSettings::default(),
        }
    }
}

/// How the log makes data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncMode {
    /// fsync every batch before acknowledging it.
    Always,
    /// Acknowledge after write(2); fsync every `fsync_interval_ms`.
    Interval,
}

/// What start-up verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryScanMode {
    /// Records of the active segment, headers and seals of the sealed ones.
    LastSegment,
    /// Every record of every segment.
    Full,
}

/// Event log settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Durability policy.
    pub fsync: FsyncMode,
    /// Interval for `fsync: interval`.
    pub fsync_interval_ms: u64,
    /// Size at which a segment is sealed and a new one started.
    pub segment_bytes: u64,
    /// Free space to leave on the log's file system.
    pub min_free_bytes: u64,
    /// What start-up verifies.
    pub recovery_scan: RecoveryScanMode,
    /// The log on a Kafka topic instead of `DATA_DIR/log`: `kafka://HOST:PORT?topic=NAME`
    /// (the record format and guarantees are in the `cutover-kafka` crate's docs). The
    /// settings above are then unused.
    pub kafka: Option<String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        let d = LogConfig::default();
        LogSettings {
            fsync: FsyncMode::Always,
            fsync_interval_ms: 100,
            segment_bytes: d.segment_bytes,
            min_free_bytes: d.min_free_bytes,
            recovery_scan: RecoveryScanMode::LastSegment,
            kafka: None,
        }
    }
}

impl LogSettings {
    /// The event log's own configuration. `inflight_bytes` bounds its queue in bytes.
    pub fn to_log_config(&self, inflight_bytes: u64) -> LogConfig {
        LogConfig {
            fsync: match self.fsync {
                FsyncMode::Always => FsyncPolicy::Always,
                FsyncMode::Interval => FsyncPolicy::Interval {
                    interval: Duration::from_millis(self.fsync_interval_ms.max(1)),
                },
            },
            segment_bytes: self.segment_bytes,
            min_free_bytes: self.min_free_bytes,
            recovery_scan: match self.recovery_scan {
                RecoveryScanMode::LastSegment => RecoveryScan::LastSegment,
                RecoveryScanMode::Full => RecoveryScan::Full,
            },
            queue_bytes: inflight_bytes,
            ..LogConfig::default()
        }
    }
}

/// Limits on what requests may hold and produce.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Memory all requests in flight may hold: bodies, decoded requests, converted events.
    pub inflight_bytes: u64,
    /// One request body after decompression.
    pub max_body_bytes: usize,
    /// Events one request may convert to.
    pub max_request_events: usize,
    /// Encoded size of one request's events.
    pub max_request_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            inflight_bytes: 256 << 20,
            max_body_bytes: 16 << 20,
            max_request_events: 200_000,
            max_request_event_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// The largest decoded size of one request: four times its body limit.
    pub fn max_decoded_bytes(&self) -> usize {
        self.max_body_bytes.saturating_mul(4)
    }
}

/// Bearer tokens and the rule for listeners nobody authenticates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accepted tokens; none means HTTP and gRPC requests need no token.
    pub tokens: Vec<TokenConfig>,
    /// Start even when a non-loopback listener is not authenticated.
    pub allow_unauthenticated: bool,
}

/// One bearer token: its name, where its value comes from, what it may reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name shown in logs and metrics (never the token).
    pub name: String,
    /// File whose first line is the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Environment variable holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Receivers the token may reach; empty means all.
    #[serde(default)]
    pub receivers: Vec<Scope>,
}

/// What a token can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// OTLP over gRPC and HTTP.
    Otlp,
    /// `POST /api/v1/write`.
    PrometheusRemoteWrite,
    /// `POST /v1/alertmanager`.
    Alertmanager,
    /// `POST /v1/markers`.
    Markers,
    /// `GET /metrics`.
    Metrics,
}

impl Scope {
    /// The name used in the config and in errors.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Otlp => "otlp",
            Scope::PrometheusRemoteWrite => "prometheus_remote_write",
            Scope::Alertmanager => "alertmanager",
            Scope::Markers => "markers",
            Scope::Metrics => "metrics",
        }
    }
}

/// TLS on a listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// Every listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listeners {
    /// OTLP/gRPC.
    pub grpc: HttpListener,
    /// OTLP/HTTP, remote_write, Alertmanager, markers, `/metrics`, `/healthz`.
    pub http: HttpListener,
    /// Syslog over TCP (RFC 5425 with `tls`); off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_tcp: Option<SyslogTcpListener>,
    /// Syslog over UDP; off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_udp: Option<SyslogUdpListener>,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            grpc: HttpListener::with_addr(SocketAddr::from(([127, 0, 0, 1], 4317))),
            http: HttpListener::with_addr(SocketAddr::from(([127, 0, 0, 1], 4318))),
            syslog_tcp: None,
            syslog_udp: None,
        }
    }
}

/// An HTTP (or gRPC) listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpListener {
    /// Listen address.
    pub addr: SocketAddr,
    /// TLS; plaintext when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Connections open at once; more are closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to send a request's headers (HTTP/1).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Time a client has to send a request's body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    /// A connection with no traffic this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// HTTP/2 streams per connection.
    #[serde(default = "default_streams")]
    pub max_concurrent_streams: u32,
    /// Time one request may take, receipt to answer (gRPC: DEADLINE_EXCEEDED).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}

fn default_max_connections() -> usize {
    1024
}
fn default_header_timeout() -> u64 {
    10
}
fn default_body_timeout() -> u64 {
    60
}
fn default_idle_timeout() -> u64 {
    120
}
fn default_streams() -> u32 {
    64
}
fn default_request_timeout() -> u64 {
    60
}
fn default_syslog_connections() -> usize {
    256
}
fn default_syslog_idle() -> u64 {
    600
}

impl HttpListener {
    /// Defaults on `addr`.
    pub fn with_addr(addr: SocketAddr) -> Self {
        HttpListener {
            addr,
            tls: None,
            max_connections: default_max_connections(),
            header_timeout_secs: default_header_timeout(),
            body_timeout_secs: default_body_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_concurrent_streams: default_streams(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

/// Syslog over TCP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogTcpListener {
    /// Listen address.
    pub addr: SocketAddr,
    /// TLS (RFC 5425); plaintext when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Connections open at once.
    #[serde(default = "default_syslog_connections")]
    pub max_connections: usize,
    /// A connection silent this long is closed.
    #[serde(default = "default_syslog_idle")]
    pub idle_timeout_secs: u64,
}

impl SyslogTcpListener {
    /// Defaults on `addr`.
    pub fn with_addr(addr: SocketAddr) -> Self {
        SyslogTcpListener {
            addr,
            tls: None,
            max_connections: default_syslog_connections(),
            idle_timeout_secs: default_syslog_idle(),
        }
    }
}

/// Syslog over UDP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogUdpListener {
    /// Listen address.
    pub addr: SocketAddr,
    /// SO_RCVBUF to ask the kernel for (it may grant less, see `net.core.rmem_max`).
    #[serde(default = "default_rcvbuf")]
    pub receive_buffer_bytes: usize,
}

fn default_rcvbuf() -> usize {
    8 << 20
}

impl SyslogUdpListener {
    /// Defaults on `addr`.
    pub fn with_addr(addr: SocketAddr) -> Self {
        SyslogUdpListener {
            addr,
            receive_buffer_bytes: default_rcvbuf(),
        }
    }
}

/// Settings of one receiver that names regions by a label.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionLabel {
    /// The label (remote_write series, alert labels) or SD parameter / CEF extension (syslog)
    /// naming the region.
    pub region_label: String,
}

impl Default for RegionLabel {
    fn default() -> Self {
        RegionLabel {
            region_label: "region".into(),
        }
    }
}

/// Per-receiver settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverSettings {
    /// Prometheus remote_write.
    pub prometheus_remote_write: RegionLabel,
    /// Alertmanager webhooks.
    pub alertmanager: RegionLabel,
    /// Syslog (TCP and UDP).
    pub syslog: RegionLabel,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid YAML, an unknown key or a wrong type; the message names the line.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// A value that cannot work.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl IngestConfig {
    /// Defaults for `data_dir`: OTLP on 127.0.0.1:4317/4318, fsync always.
    pub fn new(data_dir: PathBuf, region: String) -> Self {
        IngestConfig {
            data_dir,
            region,
            ..IngestConfig::default()
        }
    }

    /// Reads a YAML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses YAML text; the error names the line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(IngestConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(loc) => {
                // serde_yaml appends "at line L column C"; say it first, once.
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                format!("line {} column {}: {msg}", loc.line(), loc.column())
            }
            None => e.to_string(),
        })
    }

    /// The effective configuration as YAML (token values are never part of it).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("config serializes")
    }

    /// Checks what serde cannot: a data directory, limits that fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid(
                "data_dir is not set (--data-dir or data_dir: in the config file)".into(),
            ));
        }
        let l = &self.limits;
        if l.max_body_bytes == 0 || l.max_request_events == 0 || l.max_request_event_bytes == 0 {
            return Err(ConfigError::Invalid("limits must be greater than zero".into()));
        }
        if (l.max_body_bytes as u64) > l.inflight_bytes {
            return Err(ConfigError::Invalid(format!(
                "limits.max_body_bytes ({}) is larger than limits.inflight_bytes ({}): no request that size could ever be admitted",
                l.max_body_bytes, l.inflight_bytes
            )));
        }
        for t in &self.auth.tokens {
            if t.file.is_some() == t.env.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "token {:?} needs exactly one of file: or env:",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// Listeners on non-loopback addresses that nothing authenticates, by name.
    pub fn unauthenticated_exposed(&self) -> Vec<String> {
        let tokens = !self.auth.tokens.is_empty();
        let exposed = |a: &SocketAddr| !a.ip().is_loopback();
        let mut out = Vec::new();
        for (name, l) in [("grpc", &self.listeners.grpc), ("http", &self.listeners.http)] {
            let mtls = l.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
            if exposed(&l.addr) && !tokens && !mtls {
                out.push(format!("listeners.{name} on {}", l.addr));
            }
        }
        if let Some(s) = &self.listeners.syslog_tcp {
            let mtls = s.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
            if exposed(&s.addr) && !mtls {
                out.push(format!("listeners.syslog_tcp on {} (no tls.client_ca)", s.addr));
            }
        }
        if let Some(s) = &self.listeners.syslog_udp
            && exposed(&s.addr)
        {
            out.push(format!(
                "listeners.syslog_udp on {} (UDP cannot be authenticated)",
                s.addr
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../docs/deployment.md");
        let yaml = doc
            .split("```yaml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .expect("an example in docs/deployment.md");
        let c = IngestConfig::parse(yaml).unwrap();
        assert_eq!(c.receivers.prometheus_remote_write.region_label, "dc");
        assert_eq!(c.auth.tokens.len(), 4);
        assert_eq!(c.auth.tokens[2].receivers, vec![Scope::Markers]);
        assert_eq!(c.listeners.http.header_timeout_secs, 10);
        assert!(c.listeners.grpc.tls.as_ref().unwrap().client_ca.is_some());
        assert_eq!(c.listeners.syslog_udp.as_ref().unwrap().receive_buffer_bytes, 8388608);
        assert!(c.unauthenticated_exposed().is_empty());
    }

    #[test]
    fn the_readme_example_parses_and_every_listener_is_authenticated() {
        let readme = include_str!("../../README.md");
        let yaml = readme
            .split("```yaml\ndata_dir: /var/lib/cutover\nauth:")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .map(|rest| format!("data_dir: /var/lib/cutover\nauth:{rest}"))
            .expect("the two-region example in README.md");
        let c = IngestConfig::parse(&yaml).unwrap();
        assert_eq!(c.auth.tokens.len(), 3);
        assert_eq!(c.receivers.alertmanager.region_label, "dc");
        assert!(
            c.unauthenticated_exposed().is_empty(),
            "{:?}",
            c.unauthenticated_exposed()
        );
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_line() {
        let e = IngestConfig::parse("region: x\nlisteners:\n  htp:\n    addr: 127.0.0.1:1\n").unwrap_err();
        assert!(e.starts_with("line 3 "), "{e}");
        assert!(e.contains("unknown field `htp`"), "{e}");
        let e = IngestConfig::parse("limits:\n  max_body_bytes: lots\n").unwrap_err();
        assert!(e.starts_with("line 2 "), "{e}");
    }

    #[test]
    fn exposed_listeners_without_auth_are_named() {
        let mut c = IngestConfig::new("/d".into(), "r".into());
        assert!(c.unauthenticated_exposed().is_empty());
        c.listeners.http.addr = "0.0.0.0:4318".parse().unwrap();
        c.listeners.syslog_udp = Some(SyslogUdpListener::with_addr("0.0.0.0:514".parse().unwrap()));
        let names = c.unauthenticated_exposed();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with("listeners.http"));
        c.auth.tokens.push(TokenConfig {
            name: "a".into(),
            file: None,
            env: Some("X".into()),
            receivers: vec![],
        });
        assert_eq!(
            c.unauthenticated_exposed().len(),
            1,
            "tokens authenticate http, not udp"
        );
    }
}
