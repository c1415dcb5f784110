//! `cutover bench`: drives load at a `cutover ingest` child process with the default durable
//! policy and prints throughput, latency and the daemon's peak RSS.
//!
//! Kinds and their last, machine-readable line:
//! - `otlp` (default): OTLP/gRPC trace export, batches of `--batch` spans with 10 attributes:
//!   `spans_per_sec=N p50_ms=N p99_ms=N peak_rss_mib=N`. With `--tls`, over TLS with a bearer
//!   token.
//! - `remote-write`: Prometheus remote_write requests of `--batch` samples:
//!   `samples_per_sec=N p50_ms=N p99_ms=N peak_rss_mib=N`.
//! - `syslog`: RFC 5424 lines over TCP, LF-framed; timed until the daemon reports every line
//!   durable: `lines_per_sec=N peak_rss_mib=N`.
//! - `analyze`: no daemon; generates a drill log and times `cutover analyze` over it (see
//!   `bench_analyze`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::io::AsyncBufReadExt;

/// What to drive.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
pub enum BenchKind {
    /// OTLP/gRPC trace export.
    Otlp,
    /// Prometheus remote_write.
    RemoteWrite,
    /// Syslog over TCP.
    Syslog,
    /// `cutover analyze` over a generated drill log of `--events` events (no daemon).
    Analyze,
}

/// Options of `cutover bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// What to drive.
    #[arg(long, value_enum, default_value = "otlp")]
    kind: BenchKind,
    /// How long to drive load.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Concurrent clients (each its own connection).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Spans per OTLP request, samples per remote_write request.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Target rate in items/s over all clients (default: as fast as acknowledged).
    #[arg(long)]
    rate: Option<u64>,
    /// `always` (default, durable before ack) or `interval`.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Data directory for the daemon (default: a fresh temp dir, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `analyze`: events to generate (about).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// `analyze`: keep the generated data directory.
    #[arg(long)]
    keep: bool,
    /// `analyze`: use the log already in --data-dir instead of generating one.
    #[arg(long)]
    reuse: bool,
    /// `analyze`: write spans, metric_points and logs as Arrow IPC files to this directory.
    #[arg(long)]
    export_dir: Option<PathBuf>,
    /// `analyze`: runs of each core query (latency percentiles, gaps) in DataFusion; 0 skips.
    #[arg(long, default_value_t = 3)]
    sql_runs: usize,
    /// `otlp`: serve gRPC over TLS with a bearer token (a throwaway CA and certificate are
    /// generated), to measure what TLS and authentication cost.
    #[arg(long)]
    tls: bool,
    /// `otlp`: the daemon's log on this Kafka topic (kafka://HOST:PORT?topic=NAME) instead of
    /// its embedded log, to compare the two.
    #[arg(long, value_name = "URL")]
    log: Option<String>,
}

/// What `--tls` generates: the CA the client trusts, the token it sends, the daemon's config.
struct BenchTls {
    ca_pem: String,
    token: String,
    config: PathBuf,
}

/// Writes a throwaway CA, a certificate for 127.0.0.1 signed by it, a token and a daemon
/// config that serves both listeners over TLS and requires the token.
fn bench_tls(dir: &std::path::Path) -> anyhow::Result<BenchTls> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    std::fs::create_dir_all(dir)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?
        .signed_by(&leaf_key, &issuer)?;
    let (cert, key, token_file) = (dir.join("server.crt"), dir.join("server.key"), dir.join("token"));
    std::fs::write(&cert, leaf.pem())?;
    std::fs::write(&key, leaf_key.serialize_pem())?;
    let token = format!("bench-{:032x}", rand::random::<u128>());
    std::fs::write(&token_file, &token)?;
    let tls = format!("{{cert: {}, key: {}}}", cert.display(), key.display());
    let config = dir.join("cutover.yaml");
    std::fs::write(
        &config,
        format!(
            "listeners:\n  grpc: {{addr: 127.0.0.1:0, tls: {tls}}}\n  http: {{addr: 127.0.0.1:0, tls: {tls}}}\nauth:\n  tokens:\n    - {{name: bench, file: {}}}\n",
            token_file.display()
        ),
    )?;
    Ok(BenchTls {
        ca_pem: ca_cert.pem(),
        token,
        config,
    })
}

/// Measured results of one run.
struct Figures {
    items: u64,
    elapsed: f64,
    failures: u64,
    hist: Option<hdrhistogram::Histogram<u64>>,
}

fn new_hist() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    Ok(hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?)
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
    if args.kind == BenchKind::Analyze {
        return crate::bench_analyze::run(crate::bench_analyze::Options {
            events: args.events,
            data_dir: args.data_dir,
            keep: args.keep,
            reuse: args.reuse,
            export_dir: args.export_dir,
            sql_runs: args.sql_runs,
        })
        .await;
    }
    let (data_dir, remove) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cutover-bench-{}", std::process::id())),
            true,
        ),
    };
    let tls = match args.tls {
        false => None,
        true if args.kind == BenchKind::Otlp => Some(bench_tls(&data_dir.join("bench-tls"))?),
        true => bail!("--tls is supported with --kind otlp only"),
    };
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    if let Some(t) = &tls {
        command.arg("ingest").arg("--config").arg(&t.config);
    } else {
        command.arg("ingest");
    }
    let mut child = command
        .args([
            "--otlp-grpc",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
        ])
        .args(["--region", "bench", "--fsync", &args.fsync, "--data-dir"])
        .arg(&data_dir)
        .args(args.log.iter().flat_map(|l| ["--log", l.as_str()]))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting cutover ingest")?;
    let pid = child.id().context("child pid")?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await??
        .context("daemon exited before ready")?;
    let fields: HashMap<String, String> = ready
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let addr = |k: &str| {
        fields
            .get(k)
            .cloned()
            .with_context(|| format!("ready line without {k}"))
    };
    eprintln!(
        "bench: daemon pid {pid}, {} clients, {} s",
        args.concurrency, args.duration_secs
    );

    let figures = match args.kind {
        BenchKind::Otlp => otlp(&args, addr("otlp_grpc")?, tls.as_ref()).await?,
        BenchKind::RemoteWrite => {
            let (http, a) = (addr("otlp_http")?, args.clone_for_blocking());
            tokio::task::spawn_blocking(move || remote_write(&a, &http)).await??
        }
        BenchKind::Syslog => {
            let (tcp, http, a) = (addr("syslog_tcp")?, addr("otlp_http")?, args.clone_for_blocking());
            tokio::task::spawn_blocking(move || syslog(&a, &tcp, &http)).await??
        }
        BenchKind::Analyze => unreachable!("handled above"),
    };
    let rss = peak_rss_mib(pid).unwrap_or(f64::NAN);
    child.kill().await.ok();
    if remove {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    if figures.items == 0 {
        bail!("nothing was acknowledged ({} requests failed)", figures.failures);
    }
    let rate = figures.items as f64 / figures.elapsed;
    eprintln!(
        "bench: {} items durable in {:.1} s, {} requests failed",
        figures.items, figures.elapsed, figures.failures
    );
    let unit = match args.kind {
        BenchKind::Otlp => "spans",
        BenchKind::RemoteWrite => "samples",
        BenchKind::Syslog | BenchKind::Analyze => "lines",
    };
    match &figures.hist {
        Some(h) => println!(
            "{unit}_per_sec={rate:.0} p50_ms={:.2} p99_ms={:.2} peak_rss_mib={rss:.0}",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        ),
        None => println!("{unit}_per_sec={rate:.0} peak_rss_mib={rss:.0}"),
    }
    Ok(())
}

/// The arguments a blocking worker needs.
#[derive(Clone)]
struct BlockingArgs {
    duration: Duration,
    concurrency: usize,
    batch: usize,
}

impl BenchArgs {
    fn clone_for_blocking(&self) -> BlockingArgs {
        BlockingArgs {
            duration: Duration::from_secs(self.duration_secs),
            concurrency: self.concurrency,
            batch: self.batch,
        }
    }
}

async fn otlp(args: &BenchArgs, grpc: String, tls: Option<&BenchTls>) -> anyhow::Result<Figures> {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};
    let requests: Arc<Vec<ExportTraceServiceRequest>> = Arc::new((0..64).map(|n| request(n, args.batch)).collect());
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.batch as f64 * args.concurrency as f64 / r.max(1) as f64));
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let requests = requests.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{grpc}"))?;
        if let Some(t) = tls {
            endpoint = endpoint.tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&t.ca_pem)))?;
        }
        let auth: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
            tls.map(|t| format!("Bearer {}", t.token).parse()).transpose()?;
        tasks.push(tokio::spawn(async move {
            let channel = endpoint.connect().await?;
            let mut client = TraceServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
                if let Some(a) = &auth {
                    req.metadata_mut().insert("authorization", a.clone());
                }
                Ok(req)
            });
            let mut hist = new_hist()?;
            let (mut spans, mut failures) = (0u64, 0u64);
            let mut next = Instant::now();
            let mut i = w;
            while Instant::now() < deadline {
                if let Some(iv) = interval {
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
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await??);
    }
    combine(results, start)
}

/// Adds up the clients' (latencies, items acknowledged, requests failed).
fn combine(results: Vec<(hdrhistogram::Histogram<u64>, u64, u64)>, start: Instant) -> anyhow::Result<Figures> {
    let mut hist = new_hist()?;
    let (mut items, mut failures) = (0, 0);
    for (h, n, f) in results {
        hist.add(h)?;
        items += n;
        failures += f;
    }
    Ok(Figures {
        items,
        elapsed: start.elapsed().as_secs_f64(),
        failures,
        hist: Some(hist),
    })
}

fn remote_write(args: &BlockingArgs, http: &str) -> anyhow::Result<Figures> {
    use cutover_parsers::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};
    let now_ms = chrono::Utc::now().timestamp_millis();
    let series_per_req = (args.batch / 10).max(1);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..16)
            .map(|n| {
                let timeseries = (0..series_per_req)
                    .map(|s| TimeSeries {
                        labels: vec![
                            Label {
                                name: "__name__".into(),
                                value: "http_requests_total".into(),
                            },
                            Label {
                                name: "instance".into(),
                                value: format!("10.0.{n}.{s}:9100"),
                            },
                            Label {
                                name: "job".into(),
                                value: "frontend".into(),
                            },
                            Label {
                                name: "region".into(),
                                value: "us-east-1".into(),
                            },
                        ],
                        samples: (0..10)
                            .map(|i| Sample {
                                value: i as f64,
                                timestamp: now_ms + i * 1000,
                            })
                            .collect(),
                    })
                    .collect();
                encode(&WriteRequest {
                    timeseries,
                    metadata: Vec::new(),
                })
            })
            .collect(),
    );
    let samples_per_req = (series_per_req * 10) as u64;
    let url = format!("http://{http}/api/v1/write");
    let deadline = Instant::now() + args.duration;
    let start = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let (bodies, url) = (bodies.clone(), url.clone());
            std::thread::spawn(move || -> anyhow::Result<(hdrhistogram::Histogram<u64>, u64, u64)> {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut hist = new_hist()?;
                let (mut items, mut failures, mut i) = (0u64, 0u64, w);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let resp = agent
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .send(&bodies[i % bodies.len()][..]);
                    i += 1;
                    match resp {
                        Ok(r) if r.status().is_success() => {
                            hist.record(t.elapsed().as_micros().max(1) as u64)?;
                            items += samples_per_req;
                        }
                        _ => failures += 1,
                    }
                }
                Ok((hist, items, failures))
            })
        })
        .collect();
    let results = workers
        .into_iter()
        .map(|w| w.join().map_err(|_| anyhow::anyhow!("worker panicked"))?)
        .collect::<anyhow::Result<Vec<_>>>()?;
    combine(results, start)
}

/// Reads `cutover_log_records_total` from the daemon.
fn log_records(http: &str) -> anyhow::Result<u64> {
    let mut resp = ureq::get(&format!("http://{http}/metrics")).call()?;
    let text = resp.body_mut().read_to_string()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cutover_log_records_total "))
        .context("no log records metric")?;
    Ok(line.rsplit(' ').next().unwrap_or("0").parse()?)
}

fn syslog(args: &BlockingArgs, tcp: &str, http: &str) -> anyhow::Result<Figures> {
    use std::io::Write;
    let mut chunk = Vec::new();
    let mut per_chunk = 0u64;
    while chunk.len() < 256 * 1024 {
        writeln!(
            chunk,
            "<134>1 2026-11-26T10:00:00.{per_chunk:06}Z fw{} ids 77 IDS [cutover region=\"us-east-1\"] CEF:0|Acme|IDS|2.1|4001|Port scan|7|src=10.0.0.{} dst=10.1.1.1 act=alert",
            per_chunk % 16,
            per_chunk % 250
        )?;
        per_chunk += 1;
    }
    let chunk = Arc::new(chunk);
    let before = log_records(http)?;
    let deadline = Instant::now() + args.duration;
    let start = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (chunk, tcp) = (chunk.clone(), tcp.to_string());
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut s = std::net::TcpStream::connect(&tcp)?;
                let mut sent = 0;
                while Instant::now() < deadline {
                    s.write_all(&chunk)?;
                    sent += per_chunk;
                }
                Ok(sent)
            })
        })
        .collect();
    let mut sent = 0;
    for w in workers {
        sent += w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
    }
    // TCP syslog has no acknowledgement: wait until the daemon has every line durable.
    let wait_until = Instant::now() + Duration::from_secs(120);
    while log_records(http)? - before < sent {
        if Instant::now() > wait_until {
            bail!("only {} of {sent} lines became durable", log_records(http)? - before);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Figures {
        items: sent,
        elapsed: start.elapsed().as_secs_f64(),
        failures: 0,
        hist: None,
    })
}
