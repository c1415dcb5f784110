//! `cutover bench`: drives OTLP/gRPC trace export at a `cutover ingest` child process with the
//! default durable policy and prints throughput, export latency and the daemon's peak RSS.
//!
//! The last line is machine-readable:
//! `spans_per_sec=N p50_ms=N p99_ms=N peak_rss_mib=N`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::io::AsyncBufReadExt;

/// Options of `cutover bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// How long to drive load.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Concurrent exporters (each its own gRPC connection).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Spans per export request.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Target rate in spans/s over all exporters (default: as fast as acknowledged).
    #[arg(long)]
    rate: Option<u64>,
    /// `always` (default, durable before ack) or `interval`.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Data directory for the daemon (default: a fresh temp dir, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn request(n: u64, batch: usize) -> ExportTraceServiceRequest {
    use any_value::Value::{IntValue, StringValue};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let spans = (0..batch as u64)
        .map(|i| {
            let id = n * batch as u64 + i + 1;
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&id.to_be_bytes());
            trace_id[8] = 1;
            Span {
                trace_id: trace_id.to_vec(),
                span_id: id.to_be_bytes().to_vec(),
                name: "GET /api/orders/{id}".into(),
                kind: 2,
                start_time_unix_nano: now + i * 1000,
                end_time_unix_nano: now + i * 1000 + 5_000_000,
                attributes: vec![
                    kv("http.request.method", StringValue("GET".into())),
                    kv("http.route", StringValue("/api/orders/{id}".into())),
                    kv("http.response.status_code", IntValue(200)),
                    kv("url.scheme", StringValue("https".into())),
                    kv("server.address", StringValue("api.example.com".into())),
                    kv("server.port", IntValue(443)),
                    kv("client.address", StringValue("203.0.113.7".into())),
                    kv("user_agent.original", StringValue("bench/1.0".into())),
                    kv("network.protocol.version", StringValue("1.1".into())),
                    kv("order.id", IntValue(id as i64)),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", StringValue("bench".into())),
                    kv("cloud.region", StringValue("us-east-1".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (data_dir, remove) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cutover-bench-{}", std::process::id())),
            true,
        ),
    };
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "ingest",
            "--otlp-grpc",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--fsync",
            &args.fsync,
            "--data-dir",
        ])
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting cutover ingest")?;
    let pid = child.id().context("child pid")?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await??
        .context("daemon exited before ready")?;
    let grpc = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("otlp_grpc="))
        .context("ready line without otlp_grpc")?
        .to_string();
    eprintln!(
        "bench: daemon pid {pid} on {grpc}, {} exporters x {} spans/request, {} s",
        args.concurrency, args.batch, args.duration_secs
    );

    let requests: Vec<ExportTraceServiceRequest> = (0..64).map(|n| request(n, args.batch)).collect();
    let requests = std::sync::Arc::new(requests);
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let per_worker_interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.batch as f64 * args.concurrency as f64 / r.max(1) as f64));
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let requests = requests.clone();
        let endpoint = format!("http://{grpc}");
        tasks.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(endpoint)
                .await?
                .max_decoding_message_size(64 << 20);
            let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut spans = 0u64;
            let mut failures = 0u64;
            let mut next = Instant::now();
            let mut i = w;
            while Instant::now() < deadline {
                if let Some(iv) = per_worker_interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += iv;
                }
                let req = requests[i % requests.len()].clone();
                let n = req.resource_spans[0].scope_spans[0].spans.len() as u64;
                i += 1;
                let t = Instant::now();
                match client.export(req).await {
                    Ok(_) => {
                        hist.record(t.elapsed().as_micros().max(1) as u64)?;
                        spans += n;
                    }
                    Err(_) => failures += 1,
                }
            }
            anyhow::Ok((hist, spans, failures))
        }));
    }
    let start = Instant::now();
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut spans, mut failures) = (0u64, 0u64);
    for t in tasks {
        let (h, s, f) = t.await??;
        hist.add(h)?;
        spans += s;
        failures += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rss = peak_rss_mib(pid).unwrap_or(f64::NAN);
    child.kill().await.ok();
    if remove {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    if spans == 0 {
        bail!("no export succeeded ({failures} failed)");
    }
    let sps = spans as f64 / elapsed;
    let p50 = hist.value_at_quantile(0.5) as f64 / 1000.0;
    let p99 = hist.value_at_quantile(0.99) as f64 / 1000.0;
    eprintln!(
        "bench: {spans} spans acknowledged in {elapsed:.1} s, {failures} exports failed, {} exports timed",
        hist.len()
    );
    println!("spans_per_sec={sps:.0} p50_ms={p50:.2} p99_ms={p99:.2} peak_rss_mib={rss:.0}");
    Ok(())
}
