//! The error budget section on a fixture whose every figure is computed by hand below.
//!
//! Fixture: one SLI request per second from T0 to T0+599 s (600 requests, 20 ms each); the
//! fault at T0+60 s; `drill_started` at T0, `drill_ended` at T0+300 s. Requests T0+60..=89 s
//! fail (503, 30 bad) and the one at T0+400 s fails (after the drill). Requests T0+100..=109 s
//! succeed but take 700 ms (bad for the `fast` SLO only). Until T0+89 s requests are served by
//! us-east-1, then by us-west-2.

use crate::common::*;
use cutover_analyzer::measures::budget::{self, Budget, SloBudget};
use cutover_analyzer::queries::{self, Param};
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Body, Event};

const SPEC: &str = "name: budget
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 60, rpo_seconds: 1 }
sli: { services: [frontend] }
budget:
  step_seconds: 10
  slos:
    - { name: availability, objective: 0.99, period_days: 1 }
    - { name: fast, objective: 0.9, period_days: 1, latency_threshold_ms: 500 }
";

fn request(i: i64) -> Event {
    let region = if i < 90 { "us-east-1" } else { "us-west-2" };
    let status = if (60..90).contains(&i) || i == 400 { 503 } else { 200 };
    let start = T0 + i * S;
    let mut e = span(0, region, "frontend", 2, start, status, vec![]);
    e.trace_id = (i as u128 + 1).to_be_bytes().to_vec();
    e.span_id = (i as u64 + 1).to_be_bytes().to_vec();
    if (100..110).contains(&i)
        && let Some(Body::Span(b)) = &mut e.body
    {
        b.end_time_unix_nano = start + 700 * MS;
    }
    e
}

async fn open_fixture() -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    let mut events = vec![
        marker("drill_started", "us-east-1", T0, vec![]),
        marker("fault_injected", "us-east-1", T0 + 60 * S, vec![]),
        marker("drill_ended", "us-west-2", T0 + 300 * S, vec![]),
    ];
    events.extend((0..600).map(request));
    write_log(dir.path(), &events).await;
    opened(dir, DrillSpec::parse(SPEC).unwrap()).await
}

#[tokio::test]
async fn budget_queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open_fixture().await;
    let mut failures = Vec::new();
    // Baseline: the 60 requests T0..=T0+59 s start before the fault.
    let sql = queries::fill(budget::BASELINE, &[("fault_at", Param::Time(T0 + 60 * S))]).unwrap();
    failures.extend(check(&analyzer, "budget_baseline", &sql).await);
    // One-minute buckets from T0+30 s, so bucket −1 holds T0..=T0+29 s (30 requests); bucket 0
    // (30..=89 s) the 30 failures; bucket 1 (90..=149 s) the 10 slow ones; bucket 4
    // (270..=329 s) has 31 requests in the drill (270..=300 s); bucket 6 (390..=449 s) the
    // failure at 400 s, outside the drill; bucket 9 the last 30 requests.
    let sql = queries::fill(
        budget::BUCKETS,
        &[
            ("origin_ns", Param::Int(T0 + 30 * S)),
            ("step_ns", Param::Int(60 * S)),
            ("has_latency", Param::Int(1)),
            ("latency_ms", Param::Number(500.0)),
            ("drill_start", Param::Time(T0)),
            ("drill_end", Param::Time(T0 + 300 * S)),
        ],
    )
    .unwrap();
    failures.extend(check(&analyzer, "budget_buckets", &sql).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn slo<'a>(b: &'a Budget, name: &str) -> &'a SloBudget {
    b.slos.iter().find(|s| s.name == name).unwrap()
}

#[tokio::test]
async fn budget_consumed_by_the_drill() {
    let (_dir, spec, analyzer) = open_fixture().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let b = &report.budget;
    assert_eq!(b.reason, None);
    assert_eq!(b.drill_start.as_deref(), Some("2026-11-26T12:00:00Z"));
    assert_eq!(b.drill_end.as_deref(), Some("2026-11-26T12:05:00Z"));
    // 60 requests before the fault, 59 s apart in total: 1 request/s.
    let base = b.baseline.as_ref().unwrap();
    assert_eq!((base.requests, base.requests_per_second), (60, Some(1.0)));
    assert_eq!(base.last_start.as_deref(), Some("2026-11-26T12:00:59Z"));

    // availability: 86 400 expected requests in a day, 1 % of them may fail: 864.
    let a = slo(b, "availability");
    assert_eq!(a.expected_requests, Some(86_400.0));
    assert_eq!(a.allowed_bad_requests, Some(864.0));
    // Drill window T0..=T0+300 s: 301 requests, 30 failures; 30 / 864.
    assert_eq!((a.drill_requests, a.drill_bad_requests), (301, 30));
    assert_eq!(a.consumed_fraction, Some(0.034722222));
    assert_eq!(a.consumed_percent, Some(3.472222));
    // All 600 requests hold 31 failures; without the drill window only the one at 400 s.
    assert_eq!((a.observed_requests, a.observed_bad_requests), (600, 31));
    assert_eq!(a.period_included_fraction, Some(0.03587963)); // 31 / 864
    assert_eq!(a.period_excluded_fraction, Some(0.001157407)); // 1 / 864

    // fast: 10 % of 86 400 = 8 640 allowed; the drill adds the 10 slow requests: 40 bad.
    let f = slo(b, "fast");
    assert_eq!(f.allowed_bad_requests, Some(8640.0));
    assert_eq!(f.drill_bad_requests, 40);
    assert_eq!(f.consumed_fraction, Some(0.00462963)); // 40 / 8640
    assert_eq!(f.consumed_percent, Some(0.462963));
    assert_eq!(f.observed_bad_requests, 41);
}

#[tokio::test]
async fn burn_rates_alerts_and_series() {
    let (_dir, spec, analyzer) = open_fixture().await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let a = slo(&report.budget, "availability");
    // Every window up to T0+300 s holds all requests so far. The worst: T0+90 s, 30 bad of 90,
    // (1/3) / 0.01 = 33.33. The 5m window [T0−210 s, T0+90 s) has data for 90 s of 300.
    let peaks: Vec<_> = a
        .burn
        .iter()
        .map(|p| {
            (
                p.window.as_str(),
                p.peak_burn,
                p.peak_at.as_deref(),
                p.bad_requests,
                p.requests,
                p.coverage,
            )
        })
        .collect();
    let at90 = Some("2026-11-26T12:01:30Z");
    assert_eq!(
        peaks,
        vec![
            ("5m", Some(33.333333), at90, 30, 90, Some(0.3)),
            ("30m", Some(33.333333), at90, 30, 90, Some(0.05)),
            ("1h", Some(33.333333), at90, 30, 90, Some(0.025)),
            ("6h", Some(33.333333), at90, 30, 90, Some(0.004167)),
        ]
    );
    // A 5m window fits in the data (e.g. [T0+290, T0+590)); the widest 30m window holds the
    // whole log, T0..T0+599 s: 599 / 1800.
    assert_eq!(a.burn[0].max_coverage, 1.0);
    assert_eq!(a.burn[1].max_coverage, 0.332778);

    // 14.4× needs a ratio above 0.144: at T0+70 s it is 10/70 = 0.143, at T0+80 s 20/80.
    let alerts: Vec<_> = a
        .alerts
        .iter()
        .map(|x| (x.name.as_str(), x.fired_at.as_deref(), x.long_burn, x.short_burn))
        .collect();
    assert_eq!(
        alerts,
        vec![
            ("14.4x_1h_5m", Some("2026-11-26T12:01:20Z"), Some(25.0), Some(25.0)),
            (
                "6x_6h_30m",
                Some("2026-11-26T12:01:10Z"),
                Some(14.285714),
                Some(14.285714)
            ),
            (
                "1x_3d_6h",
                Some("2026-11-26T12:01:10Z"),
                Some(14.285714),
                Some(14.285714)
            ),
        ]
    );
    assert_eq!(a.alerts[0].long_coverage, Some(0.022222)); // 80 s of 3600
    assert_eq!(a.alerts[0].short_coverage, Some(0.266667)); // 80 s of 300

    // Series over the drill: T0+10 s .. T0+310 s (31 points).
    assert_eq!(a.series.len(), 31);
    let p = |i: usize| {
        (
            a.series[i].at.as_str(),
            a.series[i].consumed_fraction,
            a.series[i].burn_5m,
        )
    };
    assert_eq!(p(5), ("2026-11-26T12:01:00Z", Some(0.0), Some(0.0)));
    // Before T0+70 s: failures 60..=69 s, 10 / 864; 5m burn (10/70) / 0.01.
    assert_eq!(p(6), ("2026-11-26T12:01:10Z", Some(0.011574074), Some(14.285714)));
    // The last point: all 30 drill failures; 5m window T0+10..T0+310 s holds 300 requests.
    assert_eq!(p(30), ("2026-11-26T12:05:10Z", Some(0.034722222), Some(10.0)));

    // fast (objective 0.9): a burn of 14.4 or 6 needs a ratio above 1.44 or 0.6: never. 1×
    // fires at T0+70 s (10/70 > 0.1). Its peak adds the slow requests: T0+110 s, 40 of 110.
    let f = slo(&report.budget, "fast");
    let fired: Vec<_> = f.alerts.iter().map(|x| (x.fired, x.fired_at.as_deref())).collect();
    assert_eq!(
        fired,
        vec![(false, None), (false, None), (true, Some("2026-11-26T12:01:10Z"))]
    );
    assert_eq!(f.alerts[2].long_burn, Some(1.428571));
    assert_eq!(f.burn[0].peak_burn, Some(3.636364));
    assert_eq!(f.burn[0].peak_at.as_deref(), Some("2026-11-26T12:01:50Z"));
    assert_eq!((f.burn[0].bad_requests, f.burn[0].requests), (40, 110));

    let md = report.budget.markdown();
    assert!(md.contains("**3.472 % of the budget**"), "{md}");
    assert!(
        md.contains("| 14.4x_1h_5m | 2026-11-26T12:01:20Z | 25.00 | 25.00 | 2.22 % |"),
        "{md}"
    );
}

#[tokio::test]
async fn without_slos_or_fault_the_section_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &(0..5).map(request).collect::<Vec<_>>()).await;
    let bare = SPEC.split("budget:").next().unwrap();
    let spec = DrillSpec::parse(bare).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    assert_eq!(report.budget.reason.as_deref(), Some("the spec names no budget.slos"));

    // With SLOs but no fault: no baseline, so no budget figures; burn rates still measured.
    let spec = DrillSpec::parse(SPEC).unwrap();
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let a = slo(&report.budget, "availability");
    assert_eq!(a.consumed_fraction, None);
    assert_eq!(
        a.reason.as_deref(),
        Some("no baseline rate (see budget.baseline.reason)")
    );
    assert_eq!(a.drill_requests, 5);
    assert_eq!(a.burn[0].peak_burn, Some(0.0));
    assert!(
        report
            .budget
            .baseline
            .unwrap()
            .reason
            .unwrap()
            .contains("no fault_injected marker")
    );
}

#[test]
fn the_spec_refuses_meaningless_slos() {
    let with = |slos: &str| {
        DrillSpec::parse(&SPEC.replace("    - { name: availability, objective: 0.99, period_days: 1 }\n", slos))
    };
    let err = with("    - { name: a, objective: 1.0 }\n").unwrap_err().to_string();
    assert!(err.contains("budget: slos[0].objective must be in (0, 1)"), "{err}");
    let err = with("    - { name: a, objective: 0.9, period: 3 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `period`"), "{err}");
    let err = with("    - { name: fast, objective: 0.9 }\n").unwrap_err().to_string();
    assert!(err.contains("appears twice"), "{err}");
    // period_days defaults to 30.
    let s = with("    - { name: a, objective: 0.9 }\n").unwrap();
    assert_eq!(s.budget.slos[0].period_days, 30.0);
}

#[tokio::test]
async fn a_budget_target_gives_a_verdict_that_fail_on_budget_reads() {
    use cutover_analyzer::report::FailOn;
    let (dir, _, _) = open_fixture().await;
    // The drill consumes 3.472222 % of the availability budget (see above).
    for (max, met) in [(3.0, false), (4.0, true)] {
        let text = SPEC.replace(
            "period_days: 1 }",
            &format!("period_days: 1, max_drill_budget_percent: {max} }}"),
        );
        let spec = DrillSpec::parse(&text).unwrap();
        let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
        let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
        let availability = slo(&report.budget, "availability");
        assert_eq!(availability.consumed_percent, Some(3.472222));
        assert_eq!(availability.met, Some(met));
        assert_eq!(report.exit_code_for(&[FailOn::Budget]), i32::from(!met));
    }
}
