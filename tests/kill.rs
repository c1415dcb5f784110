//! Kill test: `cutover ingest` under continuous OTLP/gRPC load is SIGKILLed and restarted;
//! every span whose export was acknowledged must be present afterwards, exactly once after
//! dedupe. 20 cycles here; `scripts/kill-test.sh` runs 1000.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Ingest, query};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

fn cycles() -> usize {
    std::env::var("CUTOVER_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn batch(first_id: u64, n: u64) -> ExportTraceServiceRequest {
    common::span_batch(first_id, n, 7, |_| "kill-load".into())
}

#[test]
fn acknowledged_spans_survive_sigkill_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut next_id = 1u64;
    let mut truncations = 0;
    for cycle in 0..cycles() {
        // Tiny segments so kills land around rolls too.
        let daemon = Ingest::start(dir.path(), &["--segment-bytes", "262144"]);
        if !daemon.ready_line.contains("truncated_bytes=0") {
            truncations += 1;
        }
        let endpoint = format!("http://{}", daemon.grpc);
        let base = next_id;
        next_id += 1_000_000;
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let endpoint = endpoint.clone();
                let acked = acked.clone();
                rt.spawn(async move {
                    let Ok(mut client) = TraceServiceClient::connect(endpoint).await else {
                        return;
                    };
                    let mut id = base + w * 200_000;
                    loop {
                        let n = 20;
                        match client.export(batch(id, n)).await {
                            Ok(resp) => {
                                let rejected = resp.into_inner().partial_success.map(|p| p.rejected_spans).unwrap_or(0);
                                assert_eq!(rejected, 0);
                                acked.lock().unwrap().extend(id..id + n);
                            }
                            Err(_) => return, // the daemon died mid-request: not acknowledged
                        }
                        id += n;
                    }
                })
            })
            .collect();
        let run_ms = 150 + (cycle as u64 * 37) % 300;
        std::thread::sleep(Duration::from_millis(run_ms));
        daemon.kill();
        rt.block_on(async {
            for w in workers {
                w.await.unwrap();
            }
        });
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 1000,
        "load too small to mean anything: {} spans acknowledged",
        acked.len()
    );
    // A last clean start must recover whatever tail the last kill left.
    let daemon = Ingest::start(dir.path(), &[]);
    drop(daemon);

    let rows = query(dir.path(), "SELECT span_id FROM spans");
    let present: Vec<u64> = rows
        .iter()
        .map(|r| u64::from_str_radix(r["span_id"].as_str().unwrap(), 16).unwrap())
        .collect();
    let unique: HashSet<u64> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "a span appears twice after dedupe");
    let missing: Vec<u64> = acked.iter().copied().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged spans lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "kill test: {} cycles, {} spans acknowledged, {} present ({} stored but never acknowledged), {} restarts truncated a torn tail",
        cycles(),
        acked.len(),
        present.len(),
        present.len() - acked.len(),
        truncations
    );
}
