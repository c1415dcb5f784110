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
            .args(["analyze", "--format", "json", "--data-dir"])
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
