//! `cutover mark KIND`: posts a drill marker to a daemon's `POST /v1/markers`.

use anyhow::{Context, bail};

/// Options of `cutover mark`.
#[derive(clap::Args)]
pub struct MarkArgs {
    /// Marker kind: drill_started, fault_injected, failover_declared, dns_cutover, db_promoted,
    /// traffic_shifted, failover_completed, failback_started, failback_completed, drill_ended.
    kind: String,
    /// Region the marker belongs to (default: the daemon's --region).
    #[arg(long)]
    region: Option<String>,
    /// Event time, RFC 3339 (default: now, as the daemon receives it).
    #[arg(long)]
    at: Option<String>,
    /// Service name recorded with the marker.
    #[arg(long)]
    service: Option<String>,
    /// Extra attribute, repeatable: --attr cutover.write.store=orders --attr ticket=CHG-42.
    /// Integer values are stored as integers.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
    /// Base URL of the daemon's HTTP listener (http:// or https://).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// File whose first line is a bearer token allowed to post markers (the daemon's
    /// auth.tokens); CUTOVER_TOKEN holds the token itself instead.
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// PEM CA certificate(s) to verify an https:// endpoint with, instead of the public roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
}

/// The token from --token-file, else CUTOVER_TOKEN.
fn token(args: &MarkArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read --token-file {}", path.display()))?;
        let t = text.lines().next().unwrap_or("").trim().to_string();
        if t.is_empty() {
            bail!("--token-file {} is empty", path.display());
        }
        return Ok(Some(t));
    }
    Ok(std::env::var("CUTOVER_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

fn tls_config(ca_file: Option<&std::path::Path>) -> anyhow::Result<ureq::tls::TlsConfig> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, parse_pem};
    let Some(path) = ca_file else {
        return Ok(TlsConfig::default());
    };
    let pem = std::fs::read(path).with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.with_context(|| format!("--ca-file {} is not PEM", path.display()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        bail!("--ca-file {} holds no certificate", path.display());
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::Specific(std::sync::Arc::new(certs)))
        .build())
}

/// Sends the marker; returns the daemon's answer.
pub fn run(args: MarkArgs) -> anyhow::Result<String> {
    let mut attributes = serde_json::Map::new();
    for a in &args.attrs {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--attr {a:?} is not KEY=VALUE"))?;
        let value = match v.parse::<i64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(v),
        };
        attributes.insert(k.to_string(), value);
    }
    let mut body = serde_json::json!({ "kind": args.kind, "attributes": attributes });
    for (key, value) in [("time", &args.at), ("region", &args.region), ("service", &args.service)] {
        if let Some(v) = value {
            body[key] = serde_json::Value::from(v.clone());
        }
    }
    let url = format!("{}/v1/markers", args.endpoint.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .tls_config(tls_config(args.ca_file.as_deref())?)
        .build()
        .into();
    let mut req = agent.post(&url).header("Content-Type", "application/json");
    if let Some(t) = token(&args)? {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req
        .send(body.to_string())
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {}", text.trim());
    }
    Ok(text)
}
