//! The reworked queries against the ones they replaced: the SQL of `tests/before/` (the
//! queries before the gaps, traces, recovery and session-drop rework, kept verbatim: window
//! functions and self-joins) and the current `queries/` must give the same rows on random
//! logs full of ties, duplicate times, orphans, several roots, cross-region traces and
//! asynchronous spans, under several parameter sets.

use crate::common::*;
use cutover_analyzer::Analyzer;
use cutover_analyzer::DrillSpec;
use cutover_analyzer::measures::gaps;
use cutover_analyzer::queries::{self, Param};
use cutover_schemas::{Attribute, Body, Event, EventKind, LogBody, MetricBody, SiemBody, SpanBody};

/// A small xorshift generator: the logs are random but the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];

/// Traces of 1–6 spans: parents earlier in the trace, sometimes a parent id never sent
/// (orphan) or no parent (a second root); random regions, services, kinds (producer and
/// consumer included), statuses; start times on a coarse grid (ties); 2 % sent twice.
fn spans(rng: &mut Rng, traces: u32) -> Vec<Event> {
    let mut out = Vec::new();
    for t in 0..traces {
        let n = 1 + rng.below(6) as usize;
        let mut ids: Vec<Vec<u8>> = Vec::new();
        for i in 0..n {
            let id = [t.to_be_bytes(), (i as u32).to_be_bytes()].concat();
            let parent = match (i, rng.below(10)) {
                (0, _) | (_, 0) => vec![],
                (_, 1) => vec![0xee; 8],
                _ => ids[rng.below(i as u64) as usize].clone(),
            };
            let start = T0 + rng.below(24) as i64 * 5 * S;
            let status = [200, 200, 200, 401, 403, 500, 503][rng.below(7) as usize];
            let body = SpanBody {
                name: "GET /".into(),
                kind: 1 + rng.below(5) as i32,
                status_code: if rng.below(8) == 0 { 2 } else { 0 },
                end_time_unix_nano: start + rng.below(3000) as i64 * MS,
                parent_span_id: parent,
                ..Default::default()
            };
            // "audit" calls only start late: new service edges after the cutover.
            let service = match start >= T0 + 100 * S && i > 0 && rng.below(3) == 0 {
                true => "audit",
                false => rng.pick(&["frontend", "frontend", "api", "db"]),
            };
            let attrs = vec![Attribute::int("http.response.status_code", status)];
            let mut e = event(
                EventKind::Span,
                rng.pick(&REGIONS),
                service,
                start,
                attrs,
                Body::Span(body),
            );
            e.trace_id = [t.to_be_bytes(); 4].concat();
            e.span_id = id.clone();
            ids.push(id);
            if rng.below(50) == 0 {
                out.push(e.clone());
            }
            out.push(e);
        }
    }
    out
}

/// Telemetry of every signal with bursts, pauses and duplicate times.
fn telemetry(rng: &mut Rng) -> Vec<Event> {
    let mut out = Vec::new();
    for region in REGIONS {
        for service in ["api", "db", "fw"] {
            let mut t = 0i64;
            while t < 120_000 {
                t += [0, 250, 1000, 1000, 1000, 9000, 31_000][rng.below(7) as usize];
                let at = T0 + t * MS;
                match rng.below(4) {
                    0 => out.push(event(
                        EventKind::Log,
                        region,
                        service,
                        at,
                        vec![],
                        Body::Log(LogBody::default()),
                    )),
                    1 => out.push(event(
                        EventKind::Siem,
                        region,
                        service,
                        at,
                        vec![],
                        Body::Siem(SiemBody {
                            format: "rfc5424".into(),
                            ..Default::default()
                        }),
                    )),
                    _ => {
                        let body = MetricBody {
                            name: rng.pick(&["cpu", "mem"]).into(),
                            metric_type: "gauge".into(),
                            value: 1.0,
                            is_stale: rng.below(20) == 0,
                            ..Default::default()
                        };
                        out.push(event(
                            EventKind::MetricPoint,
                            region,
                            service,
                            at,
                            vec![],
                            Body::Metric(body),
                        ));
                    }
                }
            }
        }
    }
    out
}

const SPEC: &str = "name: eq\nregions: { primary: us-east-1, secondary: us-west-2 }\ntargets: { rto_seconds: 60, rpo_seconds: 1 }\nsli: { services: [frontend] }\n";

async fn rows(analyzer: &Analyzer, sql: &queries::Sql) -> (String, usize) {
    let batches = analyzer.sql(sql).await.unwrap_or_else(|e| panic!("{e}\n{}", sql.text));
    let n = batches.iter().map(|b| b.num_rows()).sum();
    (
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string(),
        n,
    )
}

/// Each pair (before, now) filled with `params` gives the same rows; counts, per query, the
/// cases with at least one non-null value in `seen` (so that no comparison is of nothing).
async fn same(
    analyzer: &Analyzer,
    pairs: &[(&str, &str, &str)],
    params: &[(&str, Param)],
    ctx: &str,
    seen: &mut std::collections::BTreeMap<String, usize>,
) {
    for (name, before, now) in pairs {
        let (b, n) = (
            queries::fill_text(before, params).unwrap(),
            queries::fill_text(now, params).unwrap(),
        );
        let ((b, rows_b), (n, _)) = (rows(analyzer, &b).await, rows(analyzer, &n).await);
        assert_eq!(b, n, "{ctx}: {name} differs from before\n--- before\n{b}\n--- now\n{n}");
        // A one-row aggregate of nothing prints only empty cells.
        let something = rows_b > 0
            && b.lines()
                .filter(|l| l.starts_with('|'))
                .skip(1)
                .any(|l| l.split('|').any(|c| !c.trim().is_empty()));
        *seen.entry(name.to_string()).or_default() += usize::from(something);
    }
}

#[tokio::test]
async fn reworked_queries_give_the_rows_of_the_queries_they_replaced() {
    let mut seen = std::collections::BTreeMap::new();
    for seed in [1u64, 2, 3] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut events = spans(&mut rng, 400);
        events.extend(telemetry(&mut rng));
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), &events).await;
        let (_dir, _, analyzer) = opened(dir, DrillSpec::parse(SPEC).unwrap()).await;
        let ctx = format!("seed {seed}");

        for (fault_s, stable_ms, ratio) in [(10, 5000, 0.5), (30, 20_000, 0.8), (60, 1000, 1.0), (0, 60_000, 0.3)] {
            let params = [
                ("fault_at", Param::Time(T0 + fault_s * S)),
                ("stable_ms", Param::Int(stable_ms)),
                ("success_ratio", Param::Number(ratio)),
            ];
            let pair = [(
                "recovered_at",
                include_str!("before/recovered_at.sql"),
                queries::RECOVERED_AT.sql,
            )];
            same(
                &analyzer,
                &pair,
                &params,
                &format!("{ctx} fault {fault_s} s"),
                &mut seen,
            )
            .await;
        }

        for (factor, min_gap_s, min_events, metrics_cadence_s) in [(3.0, 0, 3, 0), (1.5, 5, 2, 10), (4.0, 0, 5, 1)] {
            let params = [
                ("min_events", Param::Int(min_events)),
                ("gap_factor", Param::Number(factor)),
                ("min_gap_ns", Param::Int(min_gap_s * S)),
                ("data_end", Param::Time(T0 + 150 * S)),
                ("spans_cadence_ns", Param::Int(0)),
                ("metrics_cadence_ns", Param::Int(metrics_cadence_s * S)),
                ("logs_cadence_ns", Param::Int(0)),
                ("siem_cadence_ns", Param::Int(0)),
                ("primary", Param::Literal(REGIONS[0].into())),
                ("secondary", Param::Literal(REGIONS[1].into())),
                ("fault_at", Param::Time(T0 + 60 * S)),
                ("cutover_at", Param::Time(T0 + 70 * S)),
            ];
            let pairs = [
                (
                    "gaps_streams",
                    include_str!("before/gaps_streams.sql"),
                    gaps::STREAMS.sql,
                ),
                (
                    "gaps_silences",
                    include_str!("before/gaps_silences.sql"),
                    gaps::SILENCES.sql,
                ),
                (
                    "gaps_followed",
                    include_str!("before/gaps_followed.sql"),
                    gaps::FOLLOWED.sql,
                ),
            ];
            same(&analyzer, &pairs, &params, &format!("{ctx} factor {factor}"), &mut seen).await;
        }

        let now = |name: &str| queries::ALL.iter().find(|q| q.name == name).unwrap().sql;
        let traffic_sessions = queries::TRAFFIC_SESSIONS.sql;
        for (cutover_s, limit, tolerance_ms) in [(60, 5, 0), (30, 1000, 1), (119, 3, 500)] {
            let params = [
                ("cutover_at", Param::Time(T0 + cutover_s * S)),
                ("fault_at", Param::Time(T0 + (cutover_s - 10) * S)),
                ("limit", Param::Int(limit)),
                ("tolerance_ns", Param::Int(tolerance_ms * MS)),
            ];
            let pairs = [
                (
                    "traces_summary",
                    include_str!("before/traces_summary.sql"),
                    now("traces_summary"),
                ),
                (
                    "traces_cross_region",
                    include_str!("before/traces_cross_region.sql"),
                    now("traces_cross_region"),
                ),
                (
                    "traces_orphans",
                    include_str!("before/traces_orphans.sql"),
                    now("traces_orphans"),
                ),
                (
                    "traces_broken",
                    include_str!("before/traces_broken.sql"),
                    now("traces_broken"),
                ),
                (
                    "traces_new_edges",
                    include_str!("before/traces_new_edges.sql"),
                    now("traces_new_edges"),
                ),
                (
                    "traces_skew",
                    include_str!("before/traces_skew.sql"),
                    now("traces_skew"),
                ),
                (
                    "traffic_sessions",
                    include_str!("before/traffic_sessions.sql"),
                    traffic_sessions,
                ),
            ];
            same(
                &analyzer,
                &pairs,
                &params,
                &format!("{ctx} cutover {cutover_s} s"),
                &mut seen,
            )
            .await;
        }
    }
    // Every query found something in some case (recovered_at: a moment; traces: orphans,
    // broken traces, skewed pairs; gaps: gaps and followers).
    assert_eq!(seen.len(), 11, "{seen:?}");
    assert!(
        seen.values().all(|n| *n > 0),
        "some query never returned anything: {seen:?}"
    );
}
