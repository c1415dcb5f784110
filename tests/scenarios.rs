//! The scenario library (`scenarios/`, crate `cutover-scenarios`) against the analyzer: each scenario's events
//! go into a fresh log, `measures::measure` analyzes them with the scenario's spec, and the
//! report is compared with the generator's ground truth within the issue's tolerances (RTO and
//! phase times ±1 s, lost writes and messages exact, RPO ±100 ms, gaps exact, budget within
//! 0.5 %). Each test also checks the scenario's own finding.

mod scenario_checks;

/// The library crate under the paths the checks use.
mod demo {
    pub(crate) use cutover_scenarios as scenarios;
    pub(crate) use cutover_scenarios::sim;
}

use cutover_analyzer::measures::gaps::{FollowStatus, GapClass};
use cutover_analyzer::report::Report;
use cutover_analyzer::{Analyzer, DrillSpec, measures};
use cutover_eventlog::{LogConfig, LogWriter};
use cutover_schemas::Event;
use demo::scenarios::{Scenario, library};
use demo::sim::SEC;
use scenario_checks::ns;

/// Seeds every scenario runs with: `CUTOVER_SCENARIO_SEEDS=1,2,3` (default 3).
fn seeds() -> Vec<u64> {
    std::env::var("CUTOVER_SCENARIO_SEEDS")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().parse().expect("seeds are integers"))
                .collect()
        })
        .unwrap_or_else(|| vec![3])
}

/// Writes the scenario into a fresh log and analyzes it.
async fn analyze(s: &Scenario) -> Report {
    let dir = tempfile::tempdir().unwrap();
    // `CUTOVER_SCENARIO_LOGS=DIR` keeps each scenario's data directory and spec under
    // DIR/<name>/ (to analyze them with another build of `cutover analyze`).
    let data_dir = match std::env::var("CUTOVER_SCENARIO_LOGS") {
        Ok(root) => {
            let d = std::path::Path::new(&root).join(s.name.replace(' ', "_"));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("drill.yaml"), &s.spec).unwrap();
            d
        }
        Err(_) => dir.path().to_path_buf(),
    };
    let (w, _) = LogWriter::open(&data_dir.join("log"), LogConfig::default()).unwrap();
    w.append(s.events.iter().map(Event::to_bytes).collect()).await.unwrap();
    w.close();
    let spec = DrillSpec::parse(&s.spec).unwrap_or_else(|e| panic!("{}: spec: {e}\n{}", s.name, s.spec));
    let analyzer = Analyzer::open(&data_dir, Some(&spec)).await.unwrap();
    let report = measures::measure(&analyzer, &spec).await.unwrap();
    // `CUTOVER_SCENARIO_REPORTS=DIR` keeps each report as JSON and Markdown (to compare two
    // builds' reports; the SQL endpoint's section tables are checked against the JSON).
    if let Ok(out) = std::env::var("CUTOVER_SCENARIO_REPORTS") {
        let path = std::path::Path::new(&out).join(format!("{}.json", s.name.replace(' ', "_")));
        std::fs::write(&path, report.to_json()).unwrap();
        std::fs::write(path.with_extension("md"), report.to_markdown(None)).unwrap();
    }
    report
}

/// Generates and analyzes `scenario` for every seed; checks the common truths and returns the
/// pairs for the scenario's own assertions.
async fn run(scenario: library::Generator) -> Vec<(Scenario, Report)> {
    let mut out = Vec::new();
    for seed in seeds() {
        let s = scenario(seed);
        let r = analyze(&s).await;
        let ctx = format!("{} seed {seed}", s.name);
        scenario_checks::all(&ctx, &s, &r);
        // The SQL endpoint's report tables declare every field of this report, typed right.
        let json = serde_json::to_value(&r).unwrap();
        let tables = cutover_sqlwire::sections::tables(&[(s.name.to_string(), json)]);
        assert!(
            tables.problems.is_empty(),
            "{ctx}: report tables: {:?}",
            tables.problems
        );
        out.push((s, r));
    }
    out
}

#[test]
fn the_library_has_every_scenario_of_the_issue() {
    let names: std::collections::BTreeSet<&str> = library::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 12, "the issue's eleven and one without a fault marker");
    for (name, make) in library::ALL {
        let s = make(1);
        assert_eq!(s.name, *name);
        assert!(
            (4_000..8_000).contains(&s.events.len()),
            "{name}: {} events",
            s.events.len()
        );
        assert!(DrillSpec::parse(&s.spec).is_ok(), "{name}: {}", s.spec);
    }
}

#[tokio::test]
async fn clean_failover() {
    for (s, r) in run(library::clean_failover).await {
        assert_eq!(s.truth.residual_requests, 0, "{}: DNS cut over at once", s.name);
        assert!(r.latency.spikes.is_empty(), "{}: {:?}", s.name, r.latency.spikes);
        assert!(
            !r.abort.criteria[1].should_have_aborted,
            "{}: no slow secondary",
            s.name
        );
        let fast = &r.budget.slos[1];
        assert!(
            fast.consumed_fraction.unwrap() > 0.0,
            "{}: the outage burns budget",
            s.name
        );
        assert_eq!(r.rpo.lost_writes, Some(0));
        assert_eq!(r.rpo.actual_seconds, Some(0.0));
        assert!(r.rpo.split_brain.is_empty());
        assert_eq!(r.rto.met, Some(true), "{:?}", r.rto);
        assert_eq!(r.rto.detected_by.as_deref(), Some("alert"));
        // Nothing else to find.
        assert_eq!(r.traffic.residual_requests, 0, "{}: residual traffic", s.name);
        assert_eq!(
            r.traffic.settle_seconds,
            Some(0.0),
            "{}: {:?}",
            s.name,
            r.traffic.settle_reason
        );
        assert!(
            r.traffic.sessions.regions.iter().all(|x| x.flagged != Some(true)),
            "{}",
            s.name
        );
        assert_eq!(
            (r.gaps.unexpected_gaps, r.gaps.never_followed, r.gaps.late_followed),
            (0, 0, 0),
            "{}",
            s.name
        );
        assert_eq!(r.alerts.not_fired, 0, "{}", s.name);
        assert!(r.alerts.suppression_windows[0].firing.is_empty(), "{}", s.name);
        assert_eq!(
            (r.messages.totals.lost, r.messages.totals.duplicated),
            (0, 0),
            "{}",
            s.name
        );
        assert!(
            r.traces.skew.iter().all(|x| x.skewed == 0),
            "{}: {:?}",
            s.name,
            r.traces.skew
        );
        assert_eq!(r.capacity.gauges[0].seconds_above, Some(0.0), "{}", s.name);
    }
}

#[tokio::test]
async fn slow_dns_residual_traffic() {
    for (s, r) in run(library::slow_dns_residual_traffic).await {
        assert!(
            r.traffic.residual_requests > 100,
            "{}: {}",
            s.name,
            r.traffic.residual_requests
        );
        assert_eq!(
            r.traffic.residual_requests, r.traffic.residual_failed,
            "{}: the old primary fails",
            s.name
        );
        let settle = r
            .traffic
            .settle_seconds
            .unwrap_or_else(|| panic!("{}: {:?}", s.name, r.traffic.settle_reason));
        assert!(settle >= 30.0, "{}: a 60–90 s TTL settled after {settle} s", s.name);
        let west = r
            .traffic
            .sessions
            .regions
            .iter()
            .find(|x| x.region == "us-west-2")
            .unwrap();
        assert_eq!(
            west.flagged,
            Some(true),
            "{}: 5 % session drops in the secondary: {west:?}",
            s.name
        );
        assert_eq!(r.rpo.lost_writes, Some(0));
    }
}

#[tokio::test]
async fn async_replication_lost_writes() {
    for (s, r) in run(library::async_replication_lost_writes).await {
        let lost = &r.rpo.lost["orders-db"];
        assert!(!lost.is_empty(), "{}: async replication lost nothing", s.name);
        assert!(r.rpo.actual_seconds.unwrap() > 0.0);
        // The estimate is the lag gauge's last value at or before the fault.
        let g = &s.truth.generated.streams;
        let lag = g.iter().find(|x| x.name == "pg_replication_lag_seconds").unwrap();
        let i = lag.times.iter().rposition(|t| *t <= s.truth.fault_at).unwrap();
        assert_eq!(r.rpo.estimate_seconds, Some(lag.values[i]), "{}: lag estimate", s.name);
    }
}

#[tokio::test]
async fn sync_replication_zero_loss() {
    for (s, r) in run(library::sync_replication_zero_loss).await {
        assert!(s.truth.lost_writes.values().all(Vec::is_empty));
        assert_eq!(r.rpo.lost_writes, Some(0), "{}", s.name);
        assert_eq!(r.rpo.actual_seconds, Some(0.0));
        assert_eq!(r.rpo.met, Some(true));
    }
}

#[tokio::test]
async fn metrics_never_resumed() {
    for (s, r) in run(library::metrics_never_resumed).await {
        let never: Vec<_> = r
            .gaps
            .followed
            .iter()
            .filter(|f| f.status == FollowStatus::Never)
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(
            never,
            ["orders-api/metrics", "orders-api/metrics/db.client.connections.usage"],
            "{}",
            s.name
        );
        let hole: Vec<_> = r.gaps.gaps.iter().filter(|g| g.class == GapClass::Unexpected).collect();
        assert_eq!(
            hole.len(),
            2,
            "{}: the secondary's 60 s silence (stream and metric): {hole:?}",
            s.name
        );
        assert!(
            hole.iter()
                .all(|g| g.region == "us-west-2" && g.service == "frontend" && g.seconds >= 60.0),
            "{}",
            s.name
        );
    }
}

#[tokio::test]
async fn siem_feed_missing() {
    for (s, r) in run(library::siem_feed_missing).await {
        let never: Vec<_> = r
            .gaps
            .followed
            .iter()
            .filter(|f| f.status == FollowStatus::Never)
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(never, ["keycloak/siem"], "{}", s.name);
        assert_eq!(r.gaps.unexpected_gaps, 0, "{}", s.name);
    }
}

#[tokio::test]
async fn alert_missing_and_late() {
    for (s, r) in run(library::alert_missing_and_late).await {
        let sli = s
            .truth
            .generated
            .alerts
            .iter()
            .find(|a| a.name == library::SLI_ALERT)
            .unwrap();
        assert_eq!(sli.received_at - sli.starts_at, 90 * SEC);
        assert_eq!(r.rto.detected_by.as_deref(), Some("alert"));
        let [sli, db] = &r.alerts.expected[..] else {
            panic!("{}: two expected alerts", s.name)
        };
        assert_eq!(
            (sli.fired, sli.delivery_seconds, sli.delivery_late),
            (true, Some(90.0), Some(true)),
            "{}",
            s.name
        );
        assert_eq!(
            (db.alertname.as_str(), db.fired),
            (library::DB_ALERT, false),
            "{}",
            s.name
        );
        assert_eq!(r.alerts.not_fired, 1, "{}", s.name);
        let inside: Vec<_> = r.alerts.suppression_windows[0]
            .firing
            .iter()
            .map(|f| f.alertname.as_str())
            .collect();
        assert_eq!(inside, ["InstanceDown"], "{}", s.name);
    }
}

#[tokio::test]
async fn split_brain_writes() {
    for (s, r) in run(library::split_brain_writes).await {
        assert_eq!(r.rpo.split_brain.len(), 1, "{}: split brain not flagged", s.name);
        let sb = &r.rpo.split_brain[0];
        assert!(sb.writes[0] > 0 && sb.writes[1] > 0, "{}: {sb:?}", s.name);
    }
}

#[tokio::test]
async fn lost_and_duplicated_messages() {
    for (s, r) in run(library::lost_and_duplicated_messages).await {
        let m = &s.truth.generated.messages;
        let lost = m.iter().filter(|m| m.consumed.is_empty()).count() as u64;
        let dup = m.iter().filter(|m| m.consumed.len() > 1).count() as u64;
        assert!(lost > 0 && dup > 0, "{}: lost {lost}, duplicated {dup}", s.name);
        let t = &r.messages.totals;
        assert_eq!((t.lost, t.duplicated_messages), (lost, dup), "{}: {t:?}", s.name);
        // Every lost and duplicated message was published before the cutover.
        let before = &r.messages.destinations[0].before;
        assert_eq!((before.lost, before.duplicated_messages), (lost, dup), "{}", s.name);
    }
}

#[tokio::test]
async fn latency_spike_in_secondary() {
    for (s, r) in run(library::latency_spike_in_secondary).await {
        let slow = &s.truth.generated.spikes[0];
        assert_eq!(r.latency.spikes.len(), 1, "{}: {:?}", s.name, r.latency.spikes);
        let spike = &r.latency.spikes[0];
        assert_eq!(spike.region, "us-west-2", "{}: the spike is the secondary's", s.name);
        let (start, end) = (
            ns(s.name, "spike", Some(&spike.start)),
            ns(s.name, "spike", Some(&spike.end)),
        );
        // The merged windows cover the slow window; the edges, found at request resolution,
        // overlap it by at least 0.9 (intersection over union).
        let (ws, we) = (
            ns(s.name, "spike", Some(&spike.windows_start)),
            ns(s.name, "spike", Some(&spike.windows_end)),
        );
        assert!(
            ws <= slow.start && we >= slow.end,
            "{}: spike windows {spike:?} vs slow window {slow:?}",
            s.name
        );
        let overlap = (end.min(slow.end) - start.max(slow.start)).max(0) as f64
            / (end.max(slow.end) - start.min(slow.start)) as f64;
        let windows_overlap = (slow.end - slow.start) as f64 / (we - ws) as f64;
        eprintln!(
            "{}: spike overlap with the truth {overlap:.4} (windows alone {windows_overlap:.4})",
            s.name
        );
        assert!(
            overlap >= 0.9,
            "{}: overlap {overlap} of {spike:?} with {slow:?}",
            s.name
        );
        assert!(spike.peak_p99_ms >= 800.0, "{}: {spike:?}", s.name);
        assert!(r.abort.criteria[1].should_have_aborted, "{}: slow secondary", s.name);
        let c = r
            .latency
            .comparisons
            .iter()
            .find(|c| c.region == "us-west-2" && c.phase == "recovered")
            .unwrap();
        assert!(c.valid && c.p99_diff_ms.unwrap() > 500.0, "{}: {c:?}", s.name);
        assert!(
            c.rank_biserial.unwrap() > 0.0,
            "{}: the recovered phase is slower: {c:?}",
            s.name
        );
        let (avail, fast) = (&r.budget.slos[0], &r.budget.slos[1]);
        assert!(
            fast.drill_bad_requests > avail.drill_bad_requests + 100,
            "{}: slow requests are bad for `fast`",
            s.name
        );
        let cpu = &r.capacity.gauges[0];
        assert_eq!(cpu.peak, Some(0.95), "{}: {cpu:?}", s.name);
        assert!(cpu.seconds_above.unwrap() >= 10.0, "{}: {cpu:?}", s.name);
    }
}

#[tokio::test]
async fn clock_skew_between_regions() {
    for (s, r) in run(library::clock_skew_between_regions).await {
        let calls = &s.truth.generated.calls;
        assert!(
            !calls.is_empty() && calls.iter().all(|c| c.child_start < c.parent_start),
            "{}",
            s.name
        );
        let cross = r
            .traces
            .skew
            .iter()
            .find(|x| x.parent_region == "us-east-1" && x.child_region == "us-west-2");
        let cross = cross.unwrap_or_else(|| panic!("{}: no cross-region skew: {:?}", s.name, r.traces.skew));
        assert!(
            cross.skewed > 0 && cross.starts_early == cross.skewed,
            "{}: {cross:?}",
            s.name
        );
        let worst = cross.max_skew_ms.unwrap();
        assert!(
            (worst - 398.0).abs() < 1.0,
            "{}: the child starts 398 ms early, not {worst}",
            s.name
        );
    }
}

#[tokio::test]
async fn fault_marker_missing() {
    for (s, r) in run(library::fault_marker_missing).await {
        assert!(r.rto.fault_inferred, "{}: the fault is inferred", s.name);
        let real = s.truth.moments.fault;
        assert!(
            s.truth.fault_at > real && s.truth.fault_at - real <= SEC,
            "{}: truth {}",
            s.name,
            s.truth.fault_at
        );
        assert_eq!(r.rto.met, Some(true), "{}", s.name);
    }
}

async fn markers(a: &Analyzer) -> i64 {
    let b = a.sql("SELECT COUNT(*) AS n FROM markers").await.unwrap();
    b[0].column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

/// Opens `data_dir` with the replay cache under `root` and measures.
async fn analyze_cached(
    data_dir: &std::path::Path,
    root: &std::path::Path,
    spec: &DrillSpec,
) -> (Report, cutover_analyzer::TablesFrom) {
    let options = cutover_analyzer::OpenOptions {
        progress: None,
        cache_root: Some(root.to_path_buf()),
    };
    let analyzer = Analyzer::open_with(data_dir, Some(spec), options).await.unwrap();
    let report = measures::measure(&analyzer, spec).await.unwrap();
    (report, analyzer.tables_from())
}

#[tokio::test]
async fn the_replay_cache_gives_the_same_report_and_follows_the_log() {
    // A scenario with lost writes, messages and split brain exercises every cached view.
    let s = library::split_brain_writes(3);
    let spec = DrillSpec::parse(&s.spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (w, _) = LogWriter::open(&log, LogConfig::default()).unwrap();
    w.append(s.events.iter().map(Event::to_bytes).collect()).await.unwrap();
    w.close();
    let plain = {
        let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
        measures::measure(&analyzer, &spec).await.unwrap().to_json()
    };

    // First open replays and writes the cache; the second loads it: same report.
    let (first, from) = analyze_cached(dir.path(), root.path(), &spec).await;
    assert_eq!(from, cutover_analyzer::TablesFrom::Replay);
    assert_eq!(first.to_json(), plain);
    let caches: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    let cache = &caches[0];
    for file in [
        "manifest.json",
        "spans.arrow",
        "markers.arrow",
        "writes.arrow",
        "span_links.arrow",
        "trace_stats.arrow",
        "stream_times.arrow",
        "promotions.arrow",
        "requests.arrow",
    ] {
        assert!(cache.join(file).is_file(), "{file} missing in {}", cache.display());
    }
    let manifest = std::fs::read_to_string(cache.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("sli_services"),
        "requests is kept with its SLI selection"
    );
    let (second, from) = analyze_cached(dir.path(), root.path(), &spec).await;
    assert_eq!(from, cutover_analyzer::TablesFrom::Cache);
    assert_eq!(second.to_json(), plain);

    // Another SLI selection with the same cache: requests is recomputed from the spec, not
    // taken from the cache.
    let mut other = spec.clone();
    other.sli.services = vec!["inventory".into()];
    let (r, from) = analyze_cached(dir.path(), root.path(), &other).await;
    assert_eq!(from, cutover_analyzer::TablesFrom::Cache);
    assert!(
        r.rto.requests > 0 && r.rto.requests < first.rto.requests,
        "inventory's requests, not frontend's: {} vs {}",
        r.rto.requests,
        first.rto.requests
    );
    // A misspelled SLI service is an error naming the services the log has, before any
    // section runs.
    other.sli.services = vec!["frontnd".into()];
    let analyzer = Analyzer::open(dir.path(), Some(&other)).await.unwrap();
    let err = measures::measure(&analyzer, &other).await.unwrap_err().to_string();
    assert!(
        err.starts_with("drill spec: sli matches no span: services [frontnd] with span_kinds [server]; the log has spans of frontend (server ")
            && err.contains("inventory (server "),
        "{err}"
    );

    // A corrupt cache file is a miss (the log is replayed and the cache rewritten), not an error.
    let spans = cache.join("spans.arrow");
    let mut bytes = std::fs::read(&spans).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&spans, bytes).unwrap();
    let (r, from) = analyze_cached(dir.path(), root.path(), &spec).await;
    assert_eq!(from, cutover_analyzer::TablesFrom::Replay);
    assert_eq!(r.to_json(), plain);
    assert_eq!(
        analyze_cached(dir.path(), root.path(), &spec).await.1,
        cutover_analyzer::TablesFrom::Cache
    );

    // The log grows: the cache no longer matches, the new event is seen, and the cache is
    // rewritten for the log as it is now.
    let (w, _) = LogWriter::open(&log, LogConfig::default()).unwrap();
    let mut extra = s
        .events
        .iter()
        .find(|e| e.kind == cutover_schemas::EventKind::Marker as i32)
        .unwrap()
        .clone();
    extra.event_time_unix_nano += 1;
    w.append(vec![extra.to_bytes()]).await.unwrap();
    w.close();
    let options = |root: &std::path::Path| cutover_analyzer::OpenOptions {
        progress: None,
        cache_root: Some(root.to_path_buf()),
    };
    let before = s
        .events
        .iter()
        .filter(|e| e.kind == cutover_schemas::EventKind::Marker as i32)
        .count() as i64;
    let grown = Analyzer::open_with(dir.path(), Some(&spec), options(root.path()))
        .await
        .unwrap();
    assert_eq!(grown.tables_from(), cutover_analyzer::TablesFrom::Replay);
    assert_eq!(markers(&grown).await, before + 1);
    drop(grown);
    let again = Analyzer::open_with(dir.path(), Some(&spec), options(root.path()))
        .await
        .unwrap();
    assert_eq!(again.tables_from(), cutover_analyzer::TablesFrom::Cache);
    assert_eq!(markers(&again).await, before + 1);
}

/// Analyzes `s` with its spec's `sli` replaced by the metrics SLI over its counters.
async fn analyze_with_metrics_sli(s: &Scenario) -> Report {
    let mut metrics = s.clone();
    metrics.spec = s.spec.replace(
        "sli: { services: [frontend], span_kinds: [server] }",
        library::METRICS_SLI_SPEC,
    );
    assert!(metrics.spec.contains("sli:\n  metrics:"), "{}", metrics.spec);
    analyze(&metrics).await
}

/// A metrics SLI's RTO against the truth (computed from the requests by the span definition):
/// within the scrape interval plus the 1 s of the other checks.
fn check_metrics_rto(ctx: &str, s: &Scenario, r: &Report) -> f64 {
    let truth = s.truth.rto_seconds.expect("the clean failover recovers");
    let got = r
        .rto
        .actual_seconds
        .unwrap_or_else(|| panic!("{ctx}: no RTO: {:?}", r.rto.reason));
    assert_eq!(r.rto.sli, "metrics", "{ctx}");
    let resolution = r.rto.resolution_seconds.expect("a metrics SLI has a resolution");
    assert!(
        (resolution - library::SCRAPE as f64 / 1e9).abs() < 1e-9,
        "{ctx}: {resolution}"
    );
    assert!(
        (got - truth).abs() <= resolution + 1.0,
        "{ctx}: metrics RTO {got} s vs true {truth} s (resolution {resolution} s)"
    );
    assert_eq!(r.rto.met, Some(true), "{ctx}");
    // The budget reads the same requests: the availability SLO is measured from the counters;
    // the latency SLO (`fast`) says counters have no durations instead of passing silently.
    for slo in &r.budget.slos {
        match slo.latency_threshold_ms {
            None => assert!(slo.reason.is_none() && slo.drill_bad_requests > 0, "{ctx}: {slo:?}"),
            Some(_) => assert_eq!(
                slo.reason.as_deref(),
                Some(cutover_analyzer::measures::NO_DURATIONS),
                "{ctx}"
            ),
        }
    }
    got
}

#[tokio::test]
async fn metrics_only_sli_measures_the_rto_from_counters() {
    for seed in seeds() {
        let s = library::metrics_only_sli(seed);
        let r = analyze(&s).await;
        let ctx = format!("{} seed {seed}", s.name);
        let got = check_metrics_rto(&ctx, &s, &r);
        eprintln!("{ctx}: RTO from counters {got} s, true {:?} s", s.truth.rto_seconds);
        assert!(r.latency.reason.is_some(), "{ctx}: no durations from counters");
    }
}

#[tokio::test]
async fn spans_and_metrics_sli_give_two_rtos_side_by_side() {
    for seed in seeds() {
        let s = library::spans_and_metrics_sli(seed);
        let ctx = format!("{} seed {seed}", s.name);
        let spans = analyze(&s).await;
        scenario_checks::all(&ctx, &s, &spans);
        let metrics = analyze_with_metrics_sli(&s).await;
        let from_metrics = check_metrics_rto(&ctx, &s, &metrics);
        eprintln!(
            "{ctx}: RTO from spans {:?} s, from counters {from_metrics} s (resolution {:?} s), true {:?} s",
            spans.rto.actual_seconds, metrics.rto.resolution_seconds, s.truth.rto_seconds
        );
        assert_eq!(spans.rto.sli, "spans");
    }
}

#[tokio::test]
async fn head_sampled_traces_estimate_counts_and_keep_the_rto() {
    for seed in seeds() {
        let s = library::head_sampled_traces(seed);
        let r = analyze(&s).await;
        let ctx = format!("{} seed {seed}", s.name);
        let truth = s.truth.rto_seconds.expect("the clean failover recovers");
        let got = r
            .rto
            .actual_seconds
            .unwrap_or_else(|| panic!("{ctx}: {:?}", r.rto.reason));
        let all = s.truth.generated.requests.len() as f64;
        let estimated = r.rto.estimated_requests.expect("sampled");
        eprintln!(
            "{ctx}: RTO from 10 % of the spans {got} s, true {truth} s; {} spans for about {estimated} requests of {all}",
            r.rto.requests
        );
        assert_eq!(r.rto.sampling, "head", "{ctx}");
        // About one in ten kept: the estimate within 10 % of the real count.
        assert!((estimated - all).abs() <= 0.1 * all, "{ctx}: {estimated} vs {all}");
        assert!(
            r.rto
                .sampling_note
                .as_deref()
                .is_some_and(|n| n.contains("with probabilities 0.1")),
            "{ctx}"
        );
        // One span a second instead of ten: the recovery moment moves by a few seconds at most.
        assert!((got - truth).abs() <= 5.0, "{ctx}: RTO {got} vs {truth}");
    }
}

#[tokio::test]
async fn tail_sampled_traces_do_not_pass_for_an_outage() {
    for seed in seeds() {
        let s = library::tail_sampled_traces(seed);
        let r = analyze(&s).await;
        let ctx = format!("{} seed {seed}", s.name);
        assert_eq!(r.rto.sampling, "tail", "{ctx}");
        for (what, reason) in [
            ("rto", &r.rto.reason),
            ("budget", &r.budget.reason),
            ("abort", &r.abort.reason),
            ("latency", &r.latency.reason),
        ] {
            assert!(
                reason.as_deref().is_some_and(|x| x.contains("tail-sampled")),
                "{ctx}: {what}: {reason:?}"
            );
        }
        assert_eq!((r.rto.actual_seconds, r.rto.met), (None, None), "{ctx}");
        // What does not rest on the span ratio is still measured: the fault, the lost writes,
        // the timeline's markers.
        assert_eq!(ns(s.name, "fault", r.rto.fault_at.as_ref()), s.truth.fault_at, "{ctx}");
        assert_eq!(r.rpo.lost_writes, Some(0), "{ctx}");
        assert!(r.timeline.cutover_at.is_some(), "{ctx}");
    }
}
