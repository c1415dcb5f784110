//! The log's integrity end to end, through the real binary: two daemons on one data dir, the
//! demo refusing a foreign log, a segment removed, cut short or flipped (sealed and active),
//! `verify` and `salvage` on each, reports naming their evidence, and a full tmpfs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Ingest, bin, ingest_refused, query};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

fn spans(first_id: u64, n: u64) -> ExportTraceServiceRequest {
    common::span_batch(first_id, n, 9, |id| format!("integrity-{id}-{}", "z".repeat(200)))
}

/// Sends `batches` batches of 10 spans; returns how many spans were acknowledged.
fn send(grpc: &str, first_id: u64, batches: u64) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}")).await.unwrap();
        let mut acked = 0;
        for b in 0..batches {
            if client.export(spans(first_id + b * 10, 10)).await.is_ok() {
                acked += 10;
            }
        }
        acked
    })
}

fn cutover(args: &[&str], dir: &Path) -> Output {
    let mut c = Command::new(bin());
    c.args(args).arg("--data-dir").arg(dir);
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs the demo into `dir` (a new directory).
fn demo_log(dir: &Path) {
    let out = Command::new(bin())
        .args(["demo", "--format", "json", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// Runs `cutover salvage --data-dir src --into into`.
fn salvage(src: &Path, into: &Path) -> Output {
    Command::new(bin())
        .args(["salvage", "--data-dir"])
        .arg(src)
        .arg("--into")
        .arg(into)
        .output()
        .unwrap()
}

fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("log")).unwrap();
    for e in std::fs::read_dir(from.join("log")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join("log").join(e.file_name())).unwrap();
        }
    }
}

/// A stopped daemon's data dir with 600 spans in several sealed segments.
fn sealed_log(root: &Path) -> PathBuf {
    let dir = root.join("base");
    let daemon = Ingest::start(&dir, &["--segment-bytes", "16384"]);
    assert_eq!(send(&daemon.grpc, 1, 60), 600);
    daemon.kill();
    let last = segments(&dir).pop().unwrap();
    if std::fs::metadata(&last).unwrap().len() == cutover_eventlog::SEGMENT_HEADER_BYTES as u64 {
        // The last batch rolled: one more batch gives the active segment records to damage.
        let daemon = Ingest::start(&dir, &["--segment-bytes", "16384"]);
        assert_eq!(send(&daemon.grpc, 100_000, 1), 10);
        daemon.kill();
    }
    assert!(segments(&dir).len() >= 4, "{} segments", segments(&dir).len());
    dir
}

fn count(dir: &Path) -> Result<u64, String> {
    let out = Command::new(bin())
        .args(["query", "--no-cache", "--format", "json", "--data-dir"])
        .arg(dir)
        .arg("SELECT count(*) AS n FROM spans")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!("exit {:?}: {}", out.status.code(), text(&out)));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(v["n"].as_u64().unwrap())
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Ingest::start(tmp.path(), &[]);
    let second = ingest_refused(tmp.path());
    let msg = text(&second);
    assert!(msg.contains("already open for writing"), "{msg}");
    assert!(msg.contains(&format!("pid {}", first.child.id())), "{msg}");
    // The first one is untouched and keeps acknowledging.
    assert_eq!(send(&first.grpc, 1, 3), 30);
    first.kill();
    assert_eq!(count(tmp.path()).unwrap(), 30);
}

#[test]
fn the_demo_refuses_a_data_dir_that_holds_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Ingest::start(tmp.path(), &[]);
    send(&daemon.grpc, 1, 1);
    daemon.kill();
    let before = std::fs::read(&segments(tmp.path())[0]).unwrap();
    let out = Command::new(bin())
        .args(["demo", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("already holds an event log"), "{}", text(&out));
    assert_eq!(std::fs::read(&segments(tmp.path())[0]).unwrap(), before);
}

#[test]
fn damaged_logs_are_errors_never_smaller_reports_and_salvage_lists_the_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let base = sealed_log(tmp.path());
    let total = count(&base).unwrap();
    assert!(total == 600 || total == 610, "{total}");
    let ok = cutover(&["verify"], &base);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(
        text(&ok).contains(&format!("log whole: records 0..{total}, head ")),
        "{}",
        text(&ok)
    );

    // Each damage a real machine or operator produces, on its own copy.
    type Damage = fn(&[PathBuf]) -> PathBuf;
    let damages: [(&str, Damage); 4] = [
        ("segment removed", |s| {
            std::fs::remove_file(&s[1]).unwrap();
            s[2].clone()
        }),
        ("sealed segment cut at a record boundary", |s| {
            let len = std::fs::metadata(&s[1]).unwrap().len();
            let cut = len - (cutover_eventlog::RECORD_HEADER_BYTES + cutover_eventlog::SEAL_PAYLOAD_BYTES) as u64;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&s[1])
                .unwrap()
                .set_len(cut)
                .unwrap();
            s[1].clone()
        }),
        ("bit flipped in a sealed segment", |s| {
            let mut b = std::fs::read(&s[1]).unwrap();
            b[200] ^= 0x08;
            std::fs::write(&s[1], b).unwrap();
            s[1].clone()
        }),
        ("bit flipped in the active segment", |s| {
            let last = s.last().unwrap();
            let mut b = std::fs::read(last).unwrap();
            b[cutover_eventlog::SEGMENT_HEADER_BYTES + 2] ^= 0x01; // the first record's len
            std::fs::write(last, b).unwrap();
            last.clone()
        }),
    ];
    for (i, (name, damage)) in damages.iter().enumerate() {
        let dir = tmp.path().join(format!("damaged-{i}"));
        copy_dir(&base, &dir);
        let named = damage(&segments(&dir));
        let file = named.file_name().unwrap().to_string_lossy().into_owned();
        // Readers: an error naming the segment, exit 2, no rows.
        let err = count(&dir).expect_err(name);
        assert!(err.starts_with("exit Some(2)"), "{name}: {err}");
        assert!(err.contains(&file), "{name}: the error does not name {file}: {err}");
        // verify: exit 1, the damage named.
        let v = cutover(&["verify"], &dir);
        assert_eq!(v.status.code(), Some(1), "{name}: {}", text(&v));
        assert!(
            text(&v).contains("DAMAGE:") && text(&v).contains(&file),
            "{name}: {}",
            text(&v)
        );
        // salvage: what is valid is copied, the loss listed, and the copy is whole.
        let into = tmp.path().join(format!("salvaged-{i}"));
        let s = salvage(&dir, &into);
        assert_eq!(s.status.code(), Some(0), "{name}: {}", text(&s));
        let n = count(&into).unwrap();
        let total = count(&base).unwrap();
        if i == 1 {
            // Only the seal was cut off: every record is still there.
            assert!(text(&s).contains("nothing lost"), "{name}: {}", text(&s));
            assert_eq!(n, total, "{name}");
        } else {
            assert!(text(&s).contains("LOST:"), "{name}: {}", text(&s));
            assert!(n < total && n > 0, "{name}: {n} spans salvaged");
        }
        assert_eq!(cutover(&["verify"], &into).status.code(), Some(0), "{name}");
    }
    // A daemon does not start on a log whose active segment or chain is damaged.
    for damaged in ["damaged-3", "damaged-0"] {
        let out = ingest_refused(&tmp.path().join(damaged));
        assert!(text(&out).contains("corrupt log"), "{damaged}: {}", text(&out));
    }
}

#[test]
fn reports_name_their_evidence_and_a_salvaged_log_carries_its_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    demo_log(&demo);
    let analyze = |dir: &Path| -> serde_json::Value {
        let out = Command::new(bin())
            .args(["analyze", "--no-cache", "--format", "json", "--drill"])
            .arg(demo.join("drill.yaml"))
            .arg("--data-dir")
            .arg(dir)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = analyze(&demo);
    let log = &report["validity"]["log"];
    let head = log["head"].as_str().unwrap().to_string();
    assert_eq!(head.len(), 64);
    let v = text(&cutover(&["verify"], &demo));
    assert!(
        v.contains(&format!("records 0..{}, head {head}", log["next_seq"])),
        "{v}\n{log}"
    );
    // Damage one record in the middle, salvage, analyze the salvaged log.
    let seg = segments(&demo).pop().unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x55;
    std::fs::write(&seg, b).unwrap();
    let into = tmp.path().join("salvaged");
    let s = salvage(&demo, &into);
    assert!(s.status.success(), "{}", text(&s));
    let report = analyze(&into);
    let lost = report["validity"]["log"]["salvage_lost"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["acknowledged"], true);
    assert_eq!(lost[0]["segment"], seg.file_name().unwrap().to_string_lossy().as_ref());
}

/// A tmpfs the test mounts (the suite runs as root), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mounting a tmpfs failed: the suite runs as root");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn healthz(http: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(&format!("http://{http}/healthz")).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn a_full_disk_refuses_with_retry_loses_nothing_and_resumes_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("fs");
    let _fs = Tmpfs::mount(&mnt, "4m");
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![1u8; 2 << 20]).unwrap();
    let data = mnt.join("data");
    let daemon = Ingest::start(&data, &["--segment-bytes", "65536", "--min-free-bytes", "262144"]);
    // Fill the rest: appends start failing with UNAVAILABLE before the disk is full.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (acked, refused) = rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", daemon.grpc))
            .await
            .unwrap();
        let (mut acked, mut refused) = (0u64, None);
        for b in 0..2000u64 {
            match client.export(spans(1 + b * 10, 10)).await {
                Ok(_) => acked += 10,
                Err(status) => {
                    refused = Some(status);
                    break;
                }
            }
        }
        (acked, refused)
    });
    let status = refused.expect("the disk never filled");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("disk space"), "{status:?}");
    assert!(acked > 0);
    let (code, body) = healthz(&daemon.http);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("out of disk space"), "{body}");
    // Space returns: ingest resumes without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while healthz(&daemon.http).0 != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(healthz(&daemon.http).0, 200);
    let more = send(&daemon.grpc, 1_000_000, 5);
    assert_eq!(more, 50);
    daemon.kill();
    let rows = query(&data, "SELECT count(*) AS n FROM spans");
    assert_eq!(
        rows[0]["n"].as_u64().unwrap(),
        acked + more,
        "acknowledged spans lost or duplicated"
    );
    assert_eq!(cutover(&["verify"], &data).status.code(), Some(0));
}

#[test]
fn the_replay_cache_cannot_lie() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let cache = tmp.path().join("cache");
    demo_log(&demo);
    let analyze = || {
        Command::new(bin())
            .args(["analyze", "--format", "json", "--drill"])
            .arg(demo.join("drill.yaml"))
            .arg("--data-dir")
            .arg(&demo)
            .env("CUTOVER_LOG", "cutover_analyzer=info")
            .env("CUTOVER_CACHE_DIR", &cache)
            .output()
            .unwrap()
    };
    let first = analyze();
    assert!(matches!(first.status.code(), Some(0 | 1)), "{}", text(&first));
    assert!(text(&first).contains("wrote the replay cache"), "{}", text(&first));
    let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    assert_eq!(
        std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
        0o700,
        "cache not private"
    );
    let hit = analyze();
    assert!(text(&hit).contains("loaded the replay cache"), "{}", text(&hit));
    assert_eq!(hit.stdout, first.stdout);

    // Same-size damage with the old modification time put back: not a report from the old bytes.
    let seg = segments(&demo).pop().unwrap();
    let mtime = std::fs::metadata(&seg).unwrap().modified().unwrap();
    let good = std::fs::read(&seg).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    let restore = |bytes: &[u8]| {
        std::fs::write(&seg, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    restore(&bad);
    let damaged = analyze();
    assert_eq!(
        damaged.status.code(),
        Some(2),
        "a cached report was served for damaged evidence: {}",
        text(&damaged)
    );
    assert!(text(&damaged).contains("corrupt log"), "{}", text(&damaged));
    assert!(
        !text(&damaged).contains("loaded the replay cache"),
        "{}",
        text(&damaged)
    );
    restore(&good);
    let again = analyze();
    assert_eq!(again.stdout, first.stdout);

    // A cache owned by another user is ignored, not trusted.
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&cache)
        .status()
        .unwrap();
    assert!(st.success());
    let foreign = analyze();
    assert!(text(&foreign).contains("ignoring a replay cache"), "{}", text(&foreign));
    assert!(text(&foreign).contains("replayed the log"), "{}", text(&foreign));
    assert_eq!(foreign.stdout, first.stdout);
}
