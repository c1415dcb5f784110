//! The latency section on a fixture whose every number can be worked out by hand.
//! `CUTOVER_BLESS=1 cargo test -p cutover-analyzer --test all latency::` regenerates the golden rows.
//!
//! Fixture (times are seconds after T0, durations in ms; windows are 10 s, aligned on the
//! fault at 30 s; spec: factor 3, floor 100 ms, min_samples 3):
//! - us-east-1 frontend, before the fault: 0:10 3:20 6:10 9:30 12:20 15:40 18:10 21:20 24:30
//!   27:20, and at 28 a span that ends 5 ms before it starts (skipped).
//!   Sorted: 10 10 10 20 20 20 20 30 30 40 → p50 (rank 5) 20, p90 (rank 9) 30, p99 40.
//! - us-east-1 frontend, outage: 30.5, 31.5, 32.5, all 960 ms and HTTP 503.
//! - us-west-2 frontend (no request before the fault): 33:120 34:240 35:480 36:120 41:240
//!   43:60 45:60 51:20 53:20 55:30 57:10. Recovery is at 33 s (first good request; the 4 s
//!   after it are all good).
//! - us-west-2 checkout: 5:1.5 15:2 25:2.5 (baseline p99 2.5), then 41:60 42:60 43:60 (p99 60
//!   is 24 × baseline but under the 100 ms floor) and 51:480 52:480 (only 2 requests).

use std::path::Path;

use crate::common::*;
use cutover_analyzer::measures::latency::{self, BaselineScope, Comparison, PhaseLatency, Spike};
use cutover_analyzer::queries::Param;
use cutover_analyzer::timeline::Timeline;
use cutover_analyzer::{Analyzer, DrillSpec};
use cutover_schemas::{Body, Event, EventKind, SpanBody};

/// A server span of `service` starting at `start_ms` after T0 lasting `dur_ms`.
fn req(n: u8, region: &str, service: &str, start_ms: i64, dur_ms: f64, status: i64) -> Event {
    let start = T0 + start_ms * MS;
    let body = SpanBody {
        name: "GET /".into(),
        kind: 2,
        status_code: if status >= 500 { 2 } else { 0 },
        end_time_unix_nano: start + (dur_ms * 1e6).round() as i64,
        ..Default::default()
    };
    let attrs = vec![cutover_schemas::Attribute::int("http.response.status_code", status)];
    let mut e = event(EventKind::Span, region, service, start, attrs, Body::Span(body));
    e.trace_id = vec![n; 16];
    e.span_id = vec![n; 8];
    e
}

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

async fn fixture(dir: &Path) {
    let mut events = vec![marker("fault_injected", EAST, T0 + 30 * S, vec![])];
    let mut n = 0u8;
    let mut add = |region: &str, service: &str, at: &[(f64, f64)], status: i64| {
        for (t, d) in at {
            n += 1;
            events.push(req(n, region, service, (t * 1000.0) as i64, *d, status));
        }
    };
    let baseline = [0, 3, 6, 9, 12, 15, 18, 21, 24, 27].map(f64::from);
    let durations = [10.0, 20.0, 10.0, 30.0, 20.0, 40.0, 10.0, 20.0, 30.0, 20.0];
    let east: Vec<(f64, f64)> = baseline.into_iter().zip(durations).collect();
    add(EAST, "frontend", &east, 200);
    add(EAST, "frontend", &[(28.0, -5.0)], 200);
    add(EAST, "frontend", &[(30.5, 960.0), (31.5, 960.0), (32.5, 960.0)], 503);
    let west = [
        (33.0, 120.0),
        (34.0, 240.0),
        (35.0, 480.0),
        (36.0, 120.0),
        (41.0, 240.0),
        (43.0, 60.0),
        (45.0, 60.0),
        (51.0, 20.0),
        (53.0, 20.0),
        (55.0, 30.0),
        (57.0, 10.0),
    ];
    add(WEST, "frontend", &west, 200);
    let checkout = [
        (5.0, 1.5),
        (15.0, 2.0),
        (25.0, 2.5),
        (41.0, 60.0),
        (42.0, 60.0),
        (43.0, 60.0),
        (51.0, 480.0),
        (52.0, 480.0),
    ];
    add(WEST, "checkout", &checkout, 200);
    // A duration histogram of the west frontend with two exemplars: one measured in its spike
    // (34–43 s), one after it.
    let exemplar = |at: i64, value: f64, n: u8| cutover_schemas::Exemplar {
        time_unix_nano: T0 + at * MS,
        value,
        trace_id: vec![n; 16],
        span_id: vec![n; 8],
        attributes: vec![],
    };
    events.push(event(
        EventKind::MetricPoint,
        WEST,
        "frontend",
        T0 + 50 * S,
        vec![],
        Body::Metric(cutover_schemas::MetricBody {
            name: "http.server.request.duration".into(),
            metric_type: "histogram".into(),
            exemplars: vec![exemplar(35_000, 480.0, 0xaa), exemplar(45_000, 60.0, 0xbb)],
            ..Default::default()
        }),
    ));
    write_log(dir, &events).await;
}

fn spec(min_samples: u64) -> DrillSpec {
    DrillSpec::parse(&format!(
        "name: latency\nregions: {{ primary: us-east-1, secondary: us-west-2 }}\n\
         targets: {{ rto_seconds: 60, rpo_seconds: 1 }}\nsli: {{ services: [frontend, checkout] }}\n\
         recovery: {{ success_ratio: 0.8, stable_seconds: 4 }}\n\
         latency: {{ window_seconds: 10, spike_factor: 3, spike_floor_ms: 100, min_samples: {min_samples} }}\n"
    ))
    .unwrap()
}

async fn open(min_samples: u64) -> (tempfile::TempDir, DrillSpec, Analyzer) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path()).await;
    let spec = spec(min_samples);
    let analyzer = Analyzer::open(dir.path(), Some(&spec)).await.unwrap();
    (dir, spec, analyzer)
}

#[tokio::test]
async fn queries_match_their_golden_rows() {
    let (_dir, _, analyzer) = open(3).await;
    let params = [
        ("phases_start", Param::Time(T0)),
        ("fault_at", Param::Time(T0 + 30 * S)),
        ("recovered_at", Param::Time(T0 + 33 * S)),
        ("phases_end", Param::Time(T0 + 57 * S + 1)),
        ("window_ms", Param::Int(10_000)),
        ("origin", Param::Time(T0 + 30 * S)),
        ("spike_factor", Param::Number(3.0)),
        ("spike_floor_ms", Param::Number(100.0)),
        ("min_samples", Param::Int(3)),
        ("region", Param::Literal(WEST.into())),
        ("service", Param::Literal("frontend".into())),
        ("edges_from", Param::Time(T0 + 20 * S)),
        ("edges_to", Param::Time(T0 + 60 * S)),
    ];
    let failures = check_all(&analyzer, "latency", &params).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (region, "mm:ss" of the window start, requests, p50, p99).
type Point<'a> = (&'a str, &'a str, u64, Option<f64>, Option<f64>);

fn phase(region: &str, service: &str, phase: &str, counts: [u64; 3], p: [f64; 5]) -> PhaseLatency {
    PhaseLatency {
        region: region.into(),
        service: service.into(),
        phase: phase.into(),
        requests: counts[0],
        bad_requests: counts[1],
        skipped: counts[2],
        p50_ms: Some(p[0]),
        p90_ms: Some(p[1]),
        p99_ms: Some(p[2]),
        p999_ms: Some(p[3]),
        max_ms: Some(p[4]),
    }
}

#[tokio::test]
async fn phases_spikes_and_series_as_worked_out() {
    let (_dir, spec, analyzer) = open(3).await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let l = &report.latency;
    assert_eq!(l.reason, None);
    assert_eq!(
        l.phases,
        vec![
            phase(EAST, "frontend", "baseline", [11, 0, 1], [20.0, 30.0, 40.0, 40.0, 40.0]),
            phase(EAST, "frontend", "outage", [3, 3, 0], [960.0; 5]),
            // 1.5 2 2.5: rank 2 → 2; ranks ceil(2.7) = ceil(2.97) = 3 → 2.5.
            phase(WEST, "checkout", "baseline", [3, 0, 0], [2.0, 2.5, 2.5, 2.5, 2.5]),
            // 60 60 60 480 480: rank 3 → 60; rank ceil(4.5) = 5 → 480.
            phase(
                WEST,
                "checkout",
                "recovered",
                [5, 0, 0],
                [60.0, 480.0, 480.0, 480.0, 480.0]
            ),
            // 10 20 20 30 60 60 120 120 240 240 480: rank 6 → 60; rank 10 → 240; rank 11 → 480.
            phase(
                WEST,
                "frontend",
                "recovered",
                [11, 0, 0],
                [60.0, 240.0, 480.0, 480.0, 480.0]
            ),
        ]
    );
    // East 30–40 s: p99 960 > 3 × 40 and > 100 with 3 requests. West frontend 30–40 s (p99 480)
    // and 40–50 s (p99 240) against the frontend baseline of all regions (40): one spike.
    // Edges (slow above 120 ms = 3 × 40): east 30.5 s to the end of its window (no east request
    // follows); west 34 s (33 s is exactly 120) over 36 s (fast) to 41 s (slow), ended by 43 s.
    let spike = |region: &str, edges: [&str; 2], windows: [&str; 2], w: u64, n: u64, peak: f64, scope| Spike {
        region: region.into(),
        service: "frontend".into(),
        start: cutover_analyzer::time::Time::parse(edges[0]).unwrap(),
        end: cutover_analyzer::time::Time::parse(edges[1]).unwrap(),
        windows_start: cutover_analyzer::time::Time::parse(windows[0]).unwrap(),
        windows_end: cutover_analyzer::time::Time::parse(windows[1]).unwrap(),
        slow_threshold_ms: 120.0,
        windows: w,
        requests: n,
        peak_p99_ms: peak,
        baseline_p99_ms: 40.0,
        baseline_scope: scope,
        exemplars: Vec::new(),
    };
    let west = l.spikes.iter().find(|s| s.region == WEST).expect("west spike");
    assert_eq!(
        west.exemplars,
        vec![latency::SpikeExemplar {
            metric: "http.server.request.duration".into(),
            time: cutover_analyzer::time::Time::parse("2026-11-26T12:00:35Z").unwrap(),
            value: 480.0,
            trace_id: Some("aa".repeat(16)),
            span_id: Some("aa".repeat(8)),
        }]
    );
    let mut spikes = l.spikes.clone();
    spikes.iter_mut().for_each(|s| s.exemplars.clear());
    assert_eq!(
        spikes,
        vec![
            spike(
                EAST,
                ["2026-11-26T12:00:30.500Z", "2026-11-26T12:00:40Z"],
                ["2026-11-26T12:00:30Z", "2026-11-26T12:00:40Z"],
                1,
                3,
                960.0,
                BaselineScope::Region
            ),
            spike(
                WEST,
                ["2026-11-26T12:00:34Z", "2026-11-26T12:00:43Z"],
                ["2026-11-26T12:00:30Z", "2026-11-26T12:00:50Z"],
                2,
                7,
                480.0,
                BaselineScope::Service
            ),
        ]
    );
    // The checkout windows that are not spikes: under the floor, and too few requests.
    let checkout: Vec<(u64, Option<f64>, bool)> = l
        .windows
        .iter()
        .filter(|w| w.service == "checkout" && w.window_start.as_str() >= "2026-11-26T12:00:40Z")
        .map(|w| (w.requests, w.p99_ms, w.spike))
        .collect();
    assert_eq!(checkout, vec![(3, Some(60.0), false), (2, Some(480.0), false)]);
    assert_eq!(l.windows.len(), 4 + 5 + 3);
    let series: Vec<Point> = l
        .series
        .iter()
        .map(|p| {
            (
                p.region.as_str(),
                &p.window_start[14..19],
                p.requests,
                p.p50_ms,
                p.p99_ms,
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![
            (EAST, "00:00", 4, Some(10.0), Some(30.0)),
            (EAST, "00:10", 3, Some(20.0), Some(40.0)),
            // The skipped span counts as a request but has no latency: p50 of 20 20 30.
            (EAST, "00:20", 4, Some(20.0), Some(30.0)),
            (EAST, "00:30", 3, Some(960.0), Some(960.0)),
            (WEST, "00:00", 1, Some(1.5), Some(1.5)),
            (WEST, "00:10", 1, Some(2.0), Some(2.0)),
            (WEST, "00:20", 1, Some(2.5), Some(2.5)),
            (WEST, "00:30", 4, Some(120.0), Some(480.0)),
            // 60 60 60 60 60 240 and 10 20 20 30 480 480: rank 3, rank 6.
            (WEST, "00:40", 6, Some(60.0), Some(240.0)),
            (WEST, "00:50", 6, Some(20.0), Some(480.0)),
        ]
    );
    let md = l.markdown();
    assert!(
        md.contains("| us-east-1 | frontend | outage | 3 | 3 | 960 | 960 | 960 | 960 | 960 |"),
        "{md}"
    );
    assert!(md.contains("| us-west-2 | frontend | 2026-11-26T12:00:34Z | 2026-11-26T12:00:43Z | 120 | 2 | 2026-11-26T12:00:30Z | 2026-11-26T12:00:50Z | 7 | 480 | 40 | service (all regions) |"), "{md}");
}

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 1e-6)
}

/// (region, service, phase, n, baseline n, scope, U, z, p, r, p99 Δ).
type Expected<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u64,
    u64,
    BaselineScope,
    f64,
    f64,
    f64,
    f64,
    f64,
);

fn assert_comparison(c: &Comparison, e: Expected) {
    let (region, service, phase, n, bn, scope, u, z, p, r, diff) = e;
    assert_eq!(
        (c.region.as_str(), c.service.as_str(), c.phase.as_str()),
        (region, service, phase)
    );
    assert_eq!(
        (c.requests, c.baseline_requests, c.baseline_scope),
        (n, bn, Some(scope))
    );
    assert_eq!((c.u, c.p99_diff_ms), (Some(u), Some(diff)), "{c:?}");
    assert!(
        close(c.z, z) && close(c.p_value, p) && close(c.rank_biserial, r),
        "{c:?}"
    );
}

/// Mann–Whitney by hand (tie groups t, variance n1 n2 / 12 × ((n + 1) − Σ(t³ − t) / (n(n − 1))),
/// z = (|U − n1 n2 / 2| − 0.5) / σ, p = erfc(z / √2)).
#[tokio::test]
async fn comparisons_as_worked_out() {
    let (_dir, spec, analyzer) = open(3).await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let c = &report.latency.comparisons;
    assert_eq!(c.len(), 3);
    assert!(c.iter().all(|c| c.valid && c.reason.is_none()));
    // East outage 960 ×3 over baseline 10 ×3, 20 ×4, 30 ×2, 40: every pair higher, U = 30.
    // Σ(t³ − t) = 24 + 60 + 6 + 24 = 114; σ² = 30/12 × (14 − 114/156) = 33.173077;
    // z = 14.5 / 5.759607 = 2.517533; p = 0.011818; p99 960 − 40.
    assert_comparison(
        &c[0],
        (
            EAST,
            "frontend",
            "outage",
            3,
            10,
            BaselineScope::Region,
            30.0,
            2.517533,
            0.011818,
            1.0,
            920.0,
        ),
    );
    // Checkout 60 ×3, 480 ×2 over 1.5 2 2.5: U = 15; Σ = 24 + 6 = 30;
    // σ² = 15/12 × (9 − 30/56) = 10.580357; z = 7 / 3.252746 = 2.152028; p = 0.031395.
    assert_comparison(
        &c[1],
        (
            WEST,
            "checkout",
            "recovered",
            5,
            3,
            BaselineScope::Region,
            15.0,
            2.152028,
            0.031395,
            1.0,
            477.5,
        ),
    );
    // West frontend (11) over the frontend baseline of all regions (10): U = 10: 1.5,
    // 20: 2 × 5, 30: 8, 60, 120, 240: 10 each ×2, 480: 10 → 89.5; r = 179/110 − 1 = 0.627273;
    // Σ = 60 + 210 + 24 + 6 + 6 + 6 = 312; σ² = 110/12 × (22 − 312/420) = 194.857143;
    // z = 34 / 13.959124 = 2.435683; p = 0.014864; p99 480 − 40.
    assert_comparison(
        &c[2],
        (
            WEST,
            "frontend",
            "recovered",
            11,
            10,
            BaselineScope::Service,
            89.5,
            2.435683,
            0.014864,
            0.627273,
            440.0,
        ),
    );
    let md = report.latency.markdown();
    assert!(
        md.contains(
            "| us-west-2 | frontend | recovered | 11 | 10 | service (all regions) | 89.5 | 0.0149 | 0.627 | 440 | yes |"
        ),
        "{md}"
    );
}

#[tokio::test]
async fn min_samples_invalidates_and_unspikes() {
    let (_dir, spec, analyzer) = open(4).await;
    let report = cutover_analyzer::measures::measure(&analyzer, &spec).await.unwrap();
    let l = &report.latency;
    let valid: Vec<(bool, Option<&str>)> = l.comparisons.iter().map(|c| (c.valid, c.reason.as_deref())).collect();
    assert_eq!(
        valid,
        vec![
            (
                false,
                Some("too few samples: 3 in the phase, 10 in the baseline; at least 4 each")
            ),
            (
                false,
                Some("too few samples: 5 in the phase, 3 in the baseline; at least 4 each")
            ),
            (true, None),
        ]
    );
    // The east window has 3 requests and the west 40–50 s window too: one spike left. Its
    // edges still follow the slow requests, the one at 41 s included.
    let spikes: Vec<(&str, &str, &str, u64)> = l
        .spikes
        .iter()
        .map(|s| (s.region.as_str(), s.windows_end.as_str(), s.end.as_str(), s.windows))
        .collect();
    assert_eq!(spikes, vec![(WEST, "2026-11-26T12:00:40Z", "2026-11-26T12:00:43Z", 1)]);
}

#[tokio::test]
async fn without_a_fault_only_the_series_is_measured() {
    let (_dir, spec, analyzer) = open(3).await;
    let timeline = Timeline {
        data_start: Some(T0),
        data_end: Some(T0 + 57 * S),
        ..Default::default()
    };
    let l = latency::measure(&analyzer, &spec, &timeline).await.unwrap();
    assert!(l.reason.as_deref().unwrap().starts_with("no fault"), "{:?}", l.reason);
    assert!(l.phases.is_empty() && l.spikes.is_empty() && l.comparisons.is_empty());
    // Windows now start at T0 (no fault to align on); 1 + 3 + 4 + … requests per region.
    assert_eq!(l.series.len(), 10);
    assert_eq!(l.series.iter().map(|p| p.requests).sum::<u64>(), 14 + 19);
}

#[test]
fn the_spec_section_defaults_rejects_unknown_keys_and_validates() {
    let base = "name: x\nregions: { primary: a, secondary: b }\ntargets: { rto_seconds: 1, rpo_seconds: 1 }\nsli: { services: [f] }\n";
    let d = DrillSpec::parse(base).unwrap().latency;
    assert_eq!(
        (d.window_seconds, d.spike_factor, d.spike_floor_ms, d.min_samples),
        (10.0, 3.0, 100.0, 20)
    );
    let partial = DrillSpec::parse(&format!("{base}latency: {{ min_samples: 5 }}\n"))
        .unwrap()
        .latency;
    assert_eq!((partial.window_seconds, partial.min_samples), (10.0, 5));
    let unknown = DrillSpec::parse(&format!("{base}latency: {{ window: 5 }}\n"))
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("window"), "{unknown}");
    let zero = DrillSpec::parse(&format!("{base}latency: {{ window_seconds: 0 }}\n"))
        .unwrap_err()
        .to_string();
    assert!(zero.contains("latency: window_seconds"), "{zero}");
}
