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
    /// Base URL of the daemon's HTTP listener (plain http).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
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
        .build()
        .into();
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {}", text.trim());
    }
    Ok(text)
}
