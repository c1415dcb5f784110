//! Smoke test of `cutover bench --kind analyze` on a small log: the bench itself fails when
//! the replayed row counts differ from what its generator wrote; here the report of
//! `cutover analyze` over the same log is checked against the generator's counts and the
//! drill it scripted.

mod common;

use std::process::Command;

fn figures(stdout: &[u8]) -> std::collections::HashMap<String, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("events="))
        .expect("figures line");
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn small_bench_log_replays_and_measures_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(common::bin())
        .args([
            "bench",
            "--kind",
            "analyze",
            "--events",
            "20000",
            "--sql-runs",
            "1",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = figures(&out.stdout);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("written.json")).unwrap()).unwrap();
    let events = written["events"].as_u64().unwrap();
    assert_eq!(f["events"], events.to_string());
    assert!((15_000..25_000).contains(&events), "{events} events for --events 20000");
    assert!(f["df_latency_rows"].parse::<u64>().unwrap() > 0);

    let out = Command::new(common::bin())
        .args(["analyze", "--format", "json", "--data-dir"])
        .arg(&data)
        .arg("--drill")
        .arg(data.join("drill.yaml"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replay"]["records"].as_u64(), Some(events));
    assert_eq!(report["replay"]["duplicate_spans"], written["duplicate_spans"]);
    assert_eq!(report["replay"]["undecodable"].as_u64(), Some(0));
    // The primary fails from the fault on; the secondary only serves after dns_cutover, 120 s
    // later, so recovery comes after that and well within the drill.
    let rto = report["rto"]["actual_seconds"].as_f64().expect("RTO measured");
    assert!((120.0..300.0).contains(&rto), "RTO {rto}");
}
