//! Golden tests of `queries/`: every SQL file runs on a small fixture log and its rows are
//! compared with `queries/golden/<file>.txt`. After a deliberate change, regenerate with
//! `CUTOVER_BLESS=1 cargo test -p cutover-analyzer --test all golden::` and review the diff.

use std::path::Path;

use crate::common::*;
use cutover_analyzer::queries::{self, Param};
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_eventlog::{LogConfig, LogWriter};
use cutover_schemas::{AlertBody, Attribute, Body, Event, EventKind, LogBody, MetricBody};

/// A drill in miniature: fault at T0+10s, requests fail until T0+13s in the secondary,
/// writes 1..=5 in the primary with 3 applied by the replica, seq 4 and 5 reused later in the
/// secondary, a duplicate span and a write also reported as a log record.
async fn fixture(dir: &Path) {
    let (w, _) = LogWriter::open(&dir.join("log"), LogConfig::default()).unwrap();
    let mut events = vec![
        marker("fault_injected", "us-east-1", T0 + 10 * S, vec![]),
        marker("failover_declared", "us-west-2", T0 + 11 * S, vec![]),
        marker("dns_cutover", "us-west-2", T0 + 12_500 * MS, vec![]),
    ];
    let mut n = 1u8;
    for i in 0..10 {
        events.push(span(n, "us-east-1", "frontend", 2, T0 + i * S, 200, vec![]));
        n += 1;
    }
    for i in 0..3 {
        events.push(span(
            n,
            "us-east-1",
            "frontend",
            2,
            T0 + 10 * S + i * S + 500 * MS,
            503,
            vec![],
        ));
        n += 1;
    }
    for i in 0..8 {
        let status = if i == 0 { 502 } else { 200 };
        events.push(span(n, "us-west-2", "frontend", 2, T0 + 13 * S + i * S, status, vec![]));
        n += 1;
    }
    // A client span of the same service is not an SLI request.
    events.push(span(n, "us-west-2", "frontend", 3, T0 + 15 * S, 500, vec![]));
    n += 1;
    for seq in 1..=5 {
        let t = T0 + 5 * S + seq * 700 * MS;
        events.push(span(n, "us-east-1", "orders", 3, t, 200, write(seq)));
        n += 1;
    }
    // The replica's promotion: it has seq 3.
    events.push(marker(
        "db_promoted",
        "us-west-2",
        T0 + 12 * S,
        vec![
            Attribute::str("cutover.write.store", "orders"),
            Attribute::int("cutover.write.last_applied_seq", 3),
        ],
    ));
    // The new primary reuses 4 and 5: not lost.
    for seq in 4..=5 {
        let t = T0 + 14 * S + seq * 100 * MS;
        events.push(span(n, "us-west-2", "orders", 3, t, 200, write(seq)));
        n += 1;
    }
    // Write 5 also reported as a log record: counts once.
    events.push(event(
        EventKind::Log,
        "us-east-1",
        "orders",
        T0 + 5 * S + 5 * 700 * MS,
        write(5),
        Body::Log(LogBody {
            body: "committed".into(),
            ..Default::default()
        }),
    ));
    // Store "carts": us-east-1 writes from 3 s to 13 s, us-west-2 from 12 s to 14 s, so both
    // accept writes between 12 s and 13 s: split brain.
    for (region, t) in [
        ("us-east-1", T0 + 3 * S),
        ("us-east-1", T0 + 13 * S),
        ("us-west-2", T0 + 12 * S),
        ("us-west-2", T0 + 14 * S),
    ] {
        let attrs = vec![
            Attribute::str("cutover.write.store", "carts"),
            Attribute::int("cutover.write.seq", t / S % 100),
        ];
        events.push(event(
            EventKind::Log,
            region,
            "carts",
            t,
            attrs,
            Body::Log(LogBody::default()),
        ));
    }
    // The replication-lag gauge: 0.9 s, then 1.2 s just before the fault, 30 s after it.
    for (t, v) in [(T0 + 5 * S, 0.9), (T0 + 9_900 * MS, 1.2), (T0 + 11 * S, 30.0)] {
        let body = MetricBody {
            name: "pg_replication_lag_seconds".into(),
            metric_type: "gauge".into(),
            value: v,
            ..Default::default()
        };
        events.push(event(
            EventKind::MetricPoint,
            "us-east-1",
            "orders-db",
            t,
            vec![],
            Body::Metric(body),
        ));
    }
    // The page for the SLI service: firing since T0+10.2 s, delivered at T0+10.4 s; and an
    // alert of another service, which does not count as detection.
    for (service, starts) in [("frontend", T0 + 10_200 * MS), ("batch", T0 + 10_100 * MS)] {
        events.push(event(
            EventKind::Alert,
            "us-east-1",
            service,
            T0 + 10_400 * MS,
            vec![Attribute::str("alertname", "HighErrorRate")],
            Body::Alert(AlertBody {
                status: "firing".into(),
                alertname: "HighErrorRate".into(),
                starts_at_unix_nano: starts,
                ..Default::default()
            }),
        ));
    }
    // A retried duplicate of span 1.
    events.push(span(1, "us-east-1", "frontend", 2, T0, 200, vec![]));
    w.append(events.iter().map(Event::to_bytes).collect()).await.unwrap();
}

const SPEC: &str = "name: golden\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 5, rpo_seconds: 1 }\nsli: { services: [frontend] }\nrecovery: { success_ratio: 0.8, stable_seconds: 4 }\nreplication: { lag_metric: pg_replication_lag_seconds }\n";

/// The fixture log, replayed with the fixture spec (the directory lives as long as the guard).
async fn open_fixture() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn every_query_matches_its_golden_rows() {
    let (_dir, _, analyzer) = open_fixture().await;
    let params = [
        ("fault_at", Param::Time(T0 + 10 * S)),
        ("stable_ms", Param::Int(4000)),
        ("success_ratio", Param::Number(0.8)),
        ("primary", Param::Literal("us-east-1".into())),
        ("secondary", Param::Literal("us-west-2".into())),
        ("lag_metric", Param::Literal("pg_replication_lag_seconds".into())),
        ("breach_ms", Param::Int(2000)),
        ("breach_success_ratio", Param::Number(0.8)),
        ("recovered_at", Param::Time(T0 + 14 * S)),
        ("window_ms", Param::Int(5000)),
    ];
    let mut failures = Vec::new();
    for (name, _) in queries::VIEWS {
        // Ordered by up to the first four columns (stream_times needs all four for a unique
        // order).
        let columns = analyzer.context().table(*name).await.unwrap().schema().fields().len();
        let by: Vec<String> = (1..=columns.min(4)).map(|i| i.to_string()).collect();
        let q = format!("SELECT * FROM {name} ORDER BY {}", by.join(", "));
        failures.extend(check(&analyzer, &format!("view_{name}"), &q).await);
    }
    for (name, _) in queries::LAZY_VIEWS {
        let q = format!("SELECT * FROM {name} ORDER BY 1, 2, 3, 4, 5");
        failures.extend(check(&analyzer, &format!("view_{name}"), &q).await);
    }
    for q in queries::of("timeline")
        .into_iter()
        .chain(queries::of("rpo"))
        .chain(queries::of("validity"))
    {
        let filled = queries::fill(q, &params).unwrap();
        failures.extend(check(&analyzer, q.name, &filled).await);
    }
    // Every file in queries/ is embedded and has golden rows (the sections' own test files
    // compare them on their fixtures).
    let covered: Vec<String> = queries::VIEWS
        .iter()
        .chain(queries::LAZY_VIEWS)
        .map(|(n, _)| format!("view_{n}.sql"))
        .chain(queries::ALL.iter().map(|q| format!("{}.sql", q.name)))
        .collect();
    let queries_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
    let readme = std::fs::read_to_string(queries_dir.join("README.md")).unwrap();
    for entry in std::fs::read_dir(&queries_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".sql") {
            assert!(
                readme.contains(&format!("| `{name}` |")),
                "queries/README.md does not list {name}"
            );
            assert!(
                covered.contains(&name),
                "queries/{name} is not embedded in the analyzer"
            );
            assert!(
                golden_dir().join(format!("{stem}.txt")).exists(),
                "queries/{name} has no golden rows"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_fixture_measures_as_designed() {
    let (_dir, spec, analyzer) = open_fixture().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    // First good request after the fault: T0+14s (T0+13s is a 502); window [14, 18] all good.
    assert_eq!(report.rto.actual_seconds, Some(4.0));
    assert_eq!(report.rpo.lost.get("orders"), Some(&vec![4, 5]));
    // Newest lost write (seq 5, T0+8.5s) − newest surviving (seq 3, T0+7.1s).
    assert_eq!(report.rpo.actual_seconds, Some(1.4));
    assert_eq!(report.rpo.met, Some(false));
    // RTO met (4 s ≤ 5 s), RPO missed (1.4 s > 1 s): --fail-on picks which of them fail a run.
    use cutover_analyzer::report::FailOn;
    assert_eq!(report.rto.met, Some(true));
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.exit_code_for(&[FailOn::Rto]), 0);
    assert_eq!(report.exit_code_for(&[FailOn::Rpo]), 1);
    assert_eq!(report.exit_code_for(&[FailOn::Unmeasurable]), 0);
    assert_eq!(report.replay.duplicate_spans, 1);
    // The gauge said 1.2 s at the fault; the lost writes say 1.4 s.
    assert_eq!(report.rpo.estimate_seconds, Some(1.2));
    assert_eq!(report.rpo.split_brain.len(), 1);
    let sb = &report.rpo.split_brain[0];
    assert_eq!(
        (sb.store.as_str(), sb.regions.clone(), sb.writes),
        ("carts", ["us-east-1".to_string(), "us-west-2".to_string()], [1, 1])
    );
    assert_eq!(
        (sb.overlap_start.as_str(), sb.overlap_end.as_str()),
        ("2026-11-26T12:00:12Z", "2026-11-26T12:00:13Z")
    );
    // Phases: fault 10 s, the frontend alert firing since 10.2 s (before the first bad request
    // at 10.5 s), declared 11 s, dns_cutover 12.5 s, first good request in us-west-2 14 s,
    // recovered 14 s.
    assert_eq!(report.rto.detected_by.as_deref(), Some("alert"));
    let phases: Vec<(&str, Option<f64>)> = report.rto.phases.iter().map(|p| (p.name.as_str(), p.seconds)).collect();
    assert_eq!(
        phases,
        vec![
            ("fault_to_detection", Some(0.2)),
            ("detection_to_declared", Some(0.8)),
            ("declared_to_cutover", Some(1.5)),
            ("cutover_to_first_good_secondary", Some(1.5)),
            ("first_good_secondary_to_recovered", Some(0.0)),
        ]
    );
    // Sample sizes per region and phase (fault 10 s, recovered 14 s).
    let samples: Vec<(&str, &str, u64, u64)> = report
        .validity
        .samples
        .iter()
        .map(|s| (s.region.as_str(), s.phase.as_str(), s.requests, s.bad))
        .collect();
    assert_eq!(
        samples,
        vec![
            ("us-east-1", "baseline", 10, 0),
            ("us-east-1", "outage", 3, 3),
            ("us-west-2", "outage", 1, 1),
            ("us-west-2", "recovered", 7, 0),
        ]
    );
    assert!(report.validity.samples.iter().all(|s| !s.enough));
    // Every event was ingested 5 ms after its event time.
    assert!(
        report
            .validity
            .pipeline
            .iter()
            .all(|p| p.lag_max_seconds == 0.005 && !p.lagging)
    );
}

#[tokio::test]
async fn without_a_fault_marker_the_fault_is_inferred_from_the_first_sustained_breach() {
    let dir = tempfile::tempdir().unwrap();
    // One request per second: good for 0..10 s, a lone bad one at 4 s (not sustained), bad
    // from 10 s to 14 s, good again from 15 s to 30 s.
    let events: Vec<Event> = (0..31)
        .map(|i| {
            let status = if i == 4 || (10..15).contains(&i) { 503 } else { 200 };
            span(i as u8 + 1, "us-east-1", "frontend", 2, T0 + i * S, status, vec![])
        })
        .collect();
    write_log(dir.path(), &events).await;
    let spec = DrillSpec::parse(&SPEC.replace(
        "stable_seconds: 4 }",
        "stable_seconds: 4, breach_seconds: 5, breach_success_ratio: 0.8 }",
    ))
    .unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    // At 4 s the 5 s window [4, 9] holds 6 requests, 5 good: 0.83 >= 0.8, no breach. At 10 s
    // the window [10, 15] holds 1 good of 6: the breach is sustained. With the default
    // breach_success_ratio (0.9) the lone bad request at 4 s would count: 0.83 < 0.9.
    assert!(report.rto.fault_inferred);
    assert_eq!(report.rto.fault_at.as_deref(), Some("2026-11-26T12:00:10Z"));
    // Recovered at 15 s (window [15, 19] all good): RTO 5 s from the inferred fault.
    assert_eq!(report.rto.actual_seconds, Some(5.0));
}

#[test]
fn the_readme_drill_spec_parses() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let after = readme.split("A drill spec").nth(1).expect("README has a drill spec");
    let yaml = after.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    let spec = DrillSpec::parse(yaml).unwrap_or_else(|e| panic!("README spec: {e}"));
    // The other SLI forms, each in place of the spec's sli line.
    let forms = readme
        .split("Two other forms")
        .nth(1)
        .expect("README shows the other SLI forms");
    for block in forms.split("```yaml\n").skip(1).take(2) {
        let sli = block.split("```").next().unwrap();
        let with = yaml
            .lines()
            .map(|l| if l.starts_with("sli:") { sli.trim_end() } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        DrillSpec::parse(&with).unwrap_or_else(|e| panic!("README SLI form {sli}: {e}"));
    }
    assert_eq!(spec.budget.slos[0].max_drill_budget_percent, Some(5.0));
    assert_eq!(spec.alerts.expected.len(), 1);
    assert_eq!(spec.capacity.gauges[0].threshold, 0.8);
}

/// Each registered query declares the placeholders its SQL has and the columns its golden
/// file shows (the golden rows come from running it, and [`Analyzer::sql`] refuses a result
/// whose columns differ from the declaration); names are unique and each section's queries
/// carry a section name of the report (or `timeline`).
#[test]
fn every_query_declares_its_parameters_and_columns() {
    let mut names = std::collections::BTreeSet::new();
    for q in queries::ALL {
        assert!(names.insert(q.name), "{} registered twice", q.name);
        let mut placeholders: Vec<&str> = q
            .sql
            .split("{{")
            .skip(1)
            .map(|rest| rest.split("}}").next().unwrap())
            .collect();
        placeholders.sort();
        placeholders.dedup();
        let mut declared = q.params.to_vec();
        declared.sort();
        assert_eq!(
            placeholders, declared,
            "{}: placeholders of the SQL vs declared params",
            q.name
        );
        let golden = std::fs::read_to_string(golden_dir().join(format!("{}.txt", q.name))).unwrap();
        let header: Vec<&str> = golden
            .lines()
            .nth(1)
            .unwrap_or_default()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(header, q.columns, "{}: golden columns vs declared columns", q.name);
        assert!(
            q.section == "timeline" || cutover_analyzer::report::SECTIONS.contains(&q.section),
            "{}: section {} is not a report section",
            q.name,
            q.section
        );
    }
    for section in cutover_analyzer::report::SECTIONS {
        let _ = queries::of(section);
    }
}

/// A registered query whose result has other columns than it declares is refused before any
/// row is read (a renamed column cannot turn into empty values).
#[tokio::test]
async fn a_query_returning_other_columns_than_declared_is_refused() {
    static RENAMED: queries::Query = queries::Query {
        name: "renamed",
        section: "timeline",
        sql: "SELECT COUNT(*) AS total FROM spans WHERE service = {{service}}",
        params: &["service"],
        columns: &["n"],
    };
    let (_dir, _, analyzer) = open_fixture().await;
    let sql = queries::fill(&RENAMED, &[("service", Param::Literal("frontend".into()))]).unwrap();
    let err = analyzer.sql(&sql).await.unwrap_err().to_string();
    assert!(
        err.contains("query renamed returns columns [total] but declares [n]"),
        "{err}"
    );
    // A declared parameter without a value is refused too.
    let err = queries::fill(&RENAMED, &[]).unwrap_err().to_string();
    assert!(err.contains("declares parameter service"), "{err}");
}
