//! Demo accuracy: for several seeds the measured RTO is within 1 s of the simulator's truth,
//! lost writes match exactly and RPO is within 100 ms.

mod common;

use std::process::Command;

#[test]
fn demo_measures_match_the_truth_for_several_seeds() {
    for seed in [1u64, 7, 42] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(common::bin())
            .args(["demo", "--format", "json", "--seed", &seed.to_string(), "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let truth = &v["truth"];
        let report = &v["report"];
        let rto = report["rto"]["actual_seconds"].as_f64().expect("RTO measured");
        let rto_truth = truth["rto_seconds"].as_f64().unwrap();
        assert!(
            (rto - rto_truth).abs() <= 1.0,
            "seed {seed}: RTO {rto} vs truth {rto_truth}"
        );
        let lost = report["rpo"]["lost_writes"].as_u64().expect("lost writes measured");
        assert_eq!(lost, truth["lost_writes"].as_u64().unwrap(), "seed {seed}: lost writes");
        assert!(lost > 0, "seed {seed}: the demo should lose writes");
        let rpo = report["rpo"]["actual_seconds"].as_f64().expect("RPO measured");
        let rpo_truth = truth["rpo_seconds"].as_f64().unwrap();
        assert!(
            (rpo - rpo_truth).abs() <= 0.1,
            "seed {seed}: RPO {rpo} vs truth {rpo_truth}"
        );
        assert!(
            report["replay"]["duplicate_spans"].as_u64().unwrap() > 0,
            "seed {seed}: no retried duplicates were dropped"
        );
        // The same log analyzed again gives the same report.
        let again = Command::new(common::bin())
            .args(["analyze", "--no-cache", "--format", "json", "--data-dir"])
            .arg(dir.path())
            .arg("--drill")
            .arg(dir.path().join("drill.yaml"))
            .output()
            .unwrap();
        assert!(
            again.status.code() != Some(2),
            "seed {seed}: analyze failed: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(&again, report, "seed {seed}: re-analysis differs");
    }
}

#[test]
fn analyze_uses_the_replay_cache_of_an_unchanged_log() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let demo = Command::new(common::bin())
        .args(["demo", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let analyze = |extra: &[&str]| {
        let out = Command::new(common::bin())
            .args(["analyze", "--format", "json", "--data-dir"])
            .arg(dir.path())
            .arg("--drill")
            .arg(dir.path().join("drill.yaml"))
            .args(extra)
            .env("CUTOVER_LOG", "cutover_analyzer=info")
            .env("CUTOVER_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let entries = || std::fs::read_dir(cache.path()).unwrap().count();
    // --no-cache: replays and writes nothing.
    let (plain, log) = analyze(&["--no-cache"]);
    assert!(log.contains("replayed the log"), "{log}");
    assert_eq!(entries(), 0);
    // The first cached run replays and writes the cache (CUTOVER_CACHE_DIR); the second loads it.
    let (first, log) = analyze(&[]);
    assert!(log.contains("wrote the replay cache"), "{log}");
    assert_eq!(entries(), 1);
    let (second, log) = analyze(&[]);
    assert!(
        log.contains("loaded the replay cache") && !log.contains("replayed the log"),
        "{log}"
    );
    assert_eq!(first, plain);
    assert_eq!(second, plain);
    // --cache-dir wins over the environment.
    let other = tempfile::tempdir().unwrap();
    let (_, log) = analyze(&["--cache-dir", other.path().to_str().unwrap()]);
    assert!(log.contains("replayed the log"), "{log}");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
}
