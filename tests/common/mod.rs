//! Helpers for end-to-end tests: the real `cutover` binary on ephemeral ports.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutover")
}

/// A running `cutover ingest`; killed on drop.
pub struct Ingest {
    pub child: Child,
    pub grpc: String,
    pub http: String,
    pub ready_line: String,
}

impl Ingest {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Ingest {
        let mut child = Command::new(bin())
            .args([
                "ingest",
                "--otlp-grpc",
                "127.0.0.1:0",
                "--otlp-http",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cutover ingest");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("cutover ingest ready"),
            "daemon did not start: {line:?}"
        );
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        Ingest {
            grpc: field("otlp_grpc="),
            http: field("otlp_http="),
            ready_line: line.clone(),
            child,
        }
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cutover query --format json` and returns the rows.
pub fn query(data_dir: &Path, sql: &str) -> Vec<serde_json::Value> {
    let out = Command::new(bin())
        .args(["query", "--format", "json", "--data-dir"])
        .arg(data_dir)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An OTLP trace export of `n` server spans with ids `first_id..first_id + n` (trace id: 8
/// bytes of `fill`, then the id), each named by `name(id)`.
pub fn span_batch(
    first_id: u64,
    n: u64,
    fill: u8,
    name: impl Fn(u64) -> String,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (first_id..first_id + n)
        .map(|id| {
            let mut trace_id = [fill; 16];
            trace_id[8..].copy_from_slice(&id.to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: id.to_be_bytes().to_vec(),
                name: name(id),
                kind: 2,
                start_time_unix_nano: 1_700_000_000_000_000_000 + id,
                end_time_unix_nano: 1_700_000_000_000_000_000 + id + 1000,
                ..Default::default()
            }
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource::default()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Runs `cutover ingest` on `data_dir` expecting it to refuse to start (exit 2 within 30 s);
/// its output. A daemon that starts instead is killed and the test fails.
pub fn ingest_refused(data_dir: &Path) -> std::process::Output {
    let mut child = Command::new(bin())
        .args([
            "ingest",
            "--otlp-grpc",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("cutover ingest started on {} instead of refusing", data_dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "cutover ingest did not refuse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
