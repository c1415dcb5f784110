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
