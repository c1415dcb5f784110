//! The SQL of `queries/`, embedded at build time, and the placeholder filler.

/// Views registered in every session: (name, SQL).
pub const VIEWS: &[(&str, &str)] = &[
    ("requests", include_str!("../../queries/view_requests.sql")),
    ("writes", include_str!("../../queries/view_writes.sql")),
    ("promotions", include_str!("../../queries/view_promotions.sql")),
    ("span_links", include_str!("../../queries/view_span_links.sql")),
    ("trace_stats", include_str!("../../queries/view_trace_stats.sql")),
    ("stream_times", include_str!("../../queries/view_stream_times.sql")),
];

/// The views of [`VIEWS`] that depend on the drill spec (its SLI selection): the replay cache
/// keeps them with the selection they were computed with and gives them back only for the
/// same selection.
pub const SPEC_VIEWS: &[&str] = &["requests"];

/// Views left as views (evaluated inside each query that reads them): (name, SQL). Used where
/// materializing would copy most of the log.
pub const LAZY_VIEWS: &[(&str, &str)] = &[
    ("stream_events", include_str!("../../queries/view_stream_events.sql")),
    ("messages", include_str!("../../queries/view_messages.sql")),
];

/// One measure query of `queries/` and its contract: the placeholders it takes and the columns
/// it returns, in order. [`fill`] refuses a query without a value for each declared parameter,
/// [`crate::Analyzer::sql`] refuses a result whose columns differ from the declared ones, and
/// the golden test checks the declarations against the SQL text and the golden files.
#[derive(Debug)]
pub struct Query {
    /// File stem in `queries/` (and of its golden file).
    pub name: &'static str,
    /// The report section that runs it ([`crate::report::SECTIONS`]), or `timeline`.
    pub section: &'static str,
    /// The SQL, with `{{name}}` placeholders.
    pub sql: &'static str,
    /// Its placeholders.
    pub params: &'static [&'static str],
    /// Its output columns, in order.
    pub columns: &'static [&'static str],
}

macro_rules! registry {
    ($($(#[$doc:meta])* $name:ident: $section:ident $file:ident [$($p:ident),*] -> [$($c:ident),*];)*) => {
        $(
            $(#[$doc])*
            pub const $name: Query = Query {
                name: stringify!($file),
                section: stringify!($section),
                sql: include_str!(concat!("../../queries/", stringify!($file), ".sql")),
                params: &[$(stringify!($p)),*],
                columns: &[$(stringify!($c)),*],
            };
        )*
        /// Every measure query, in section order: the one registry of `queries/` (the views
        /// are [`VIEWS`] and [`LAZY_VIEWS`]).
        pub const ALL: &[&Query] = &[$(&$name),*];
    };
}

registry! {
    /// `bounds.sql`.
    BOUNDS: timeline bounds [] -> [data_start, data_end, drill_started_at, drill_ended_at];
    /// `fault_at.sql`.
    FAULT_AT: timeline fault_at [] -> [fault_at, markers];
    /// `fault_inferred.sql`.
    FAULT_INFERRED: timeline fault_inferred [breach_ms, breach_success_ratio] -> [fault_at];
    /// `markers_timeline.sql`.
    MARKERS_TIMELINE: timeline markers_timeline [] -> [marker, time, region];
    /// `recovered_at.sql`.
    RECOVERED_AT: timeline recovered_at [stable_ms, success_ratio, fault_at] -> [recovered_at];
    /// `rto_phases.sql`.
    RTO_PHASES: timeline rto_phases [fault_at, secondary] -> [alert_detected_at, breach_detected_at, declared_at, cutover_at, first_good_secondary_at];
    /// `lag_estimate.sql`.
    LAG_ESTIMATE: rpo lag_estimate [lag_metric, fault_at] -> [lag, time];
    /// `lost_writes.sql`.
    LOST_WRITES: rpo lost_writes [primary] -> [store, seq, time, region];
    /// `split_brain.sql`.
    SPLIT_BRAIN: rpo split_brain [] -> [store, region_a, region_b, overlap_start, overlap_end, writes_a, writes_b];
    /// `surviving_writes.sql`.
    SURVIVING_WRITES: rpo surviving_writes [primary] -> [store, last_applied_seq, promoted_at, time];
    /// `latency_phases.sql`.
    LATENCY_PHASES: latency latency_phases [fault_at, recovered_at, phases_start, phases_end] -> [region, service, phase, requests, bad_requests, skipped, p50_ms, p90_ms, p99_ms, p999_ms, max_ms];
    /// `latency_samples.sql`.
    LATENCY_SAMPLES: latency latency_samples [fault_at, recovered_at, phases_start, phases_end] -> [region, service, phase, duration_ms];
    /// `latency_series.sql`.
    LATENCY_SERIES: latency latency_series [window_ms, origin] -> [region, window_start, requests, p50_ms, p99_ms];
    /// `latency_spike_edges.sql`.
    LATENCY_SPIKE_EDGES: latency latency_spike_edges [region, service, edges_from, edges_to] -> [start_time, duration_ms];
    /// `latency_spike_exemplars.sql`.
    LATENCY_SPIKE_EXEMPLARS: latency latency_spike_exemplars [region, service, edges_from, edges_to] -> [name, time, value, trace_id, span_id];
    /// `latency_windows.sql`.
    LATENCY_WINDOWS: latency latency_windows [phases_start, fault_at, window_ms, origin, spike_factor, spike_floor_ms, min_samples] -> [region, service, window_start, requests, p50_ms, p99_ms, baseline_p99_ms, baseline_scope, spike];
    /// `gaps_followed.sql`.
    GAPS_FOLLOWED: gaps gaps_followed [primary, fault_at, secondary, cutover_at] -> [service, signal, metric, primary_last_at, secondary_first_at];
    /// `gaps_silences.sql`.
    GAPS_SILENCES: gaps gaps_silences [min_events, gap_factor, min_gap_ns, data_end, spans_cadence_ns, metrics_cadence_ns, logs_cadence_ns, siem_cadence_ns] -> [region, service, signal, metric, start_at, end_at, silence_ns];
    /// `gaps_streams.sql`.
    GAPS_STREAMS: gaps gaps_streams [] -> [region, service, signal, metric, events, times, first_at, last_at, inferred_cadence_ns];
    /// `alerts_firings.sql`.
    ALERTS_FIRINGS: alerts alerts_firings [fault_at] -> [alertname, service, region, fingerprint, starts_at, received_at, notifications, resolved_at];
    /// `alerts_suppressed.sql`.
    ALERTS_SUPPRESSED: alerts alerts_suppressed [from_at, to_at, alertname] -> [alertname, service, region, fingerprint, starts_at, first_received_at, notifications];
    /// `alerts_truncated.sql`.
    ALERTS_TRUNCATED: alerts alerts_truncated [fault_at] -> [group_key, receiver, notifications, truncated_alerts, first_received_at];
    /// `alerts_window.sql`.
    ALERTS_WINDOW: alerts alerts_window [from_marker, to_marker] -> [from_at, to_at];
    /// `budget_baseline.sql`.
    BUDGET_BASELINE: budget budget_baseline [fault_at] -> [requests, first_start, last_start];
    /// `budget_buckets.sql`.
    BUDGET_BUCKETS: budget budget_buckets [origin_ns, has_latency, latency_ms, drill_start, drill_end, step_ns] -> [bucket, requests, bad, drill_requests, drill_bad];
    /// `abort_buckets.sql`.
    ABORT_BUCKETS: abort abort_buckets [origin_ns, any_region, region, step_ns] -> [bucket, requests, bad];
    /// `abort_latency.sql`.
    ABORT_LATENCY: abort abort_latency [origin_ns, any_region, region, step_ns] -> [bucket, durations_ms];
    /// `traces_broken.sql`.
    TRACES_BROKEN: traces traces_broken [limit, cutover_at] -> [trace_id, regions, spans, before_cutover, after_cutover, roots, orphans, first_start, total];
    /// `traces_cross_region.sql`.
    TRACES_CROSS_REGION: traces traces_cross_region [limit] -> [trace_id, regions, spans, first_start, total];
    /// `traces_new_edges.sql`.
    TRACES_NEW_EDGES: traces traces_new_edges [cutover_at] -> [parent_service, child_service, first_seen_at, calls];
    /// `traces_orphans.sql`.
    TRACES_ORPHANS: traces traces_orphans [] -> [trace_id, span_id, parent_span_id, service, region, start_time];
    /// `traces_skew.sql`.
    TRACES_SKEW: traces traces_skew [tolerance_ns] -> [parent_region, child_region, pairs, starts_early, ends_late, skewed, max_skew_ms, worst_trace_id, worst_span_id];
    /// `traces_summary.sql`.
    TRACES_SUMMARY: traces traces_summary [] -> [traces, spans, cross_region_traces, orphan_spans];
    /// `messages_evidence.sql`.
    MESSAGES_EVIDENCE: messages messages_evidence [limit, cutover_at] -> [problem, destination, message_id, side, published_at, first_delivery_at, deliveries];
    /// `messages_reconcile.sql`.
    MESSAGES_RECONCILE: messages messages_reconcile [cutover_at] -> [destination, side, published, received, lost, duplicated_messages, extra_deliveries, unpublished, deliveries];
    /// `traffic_residual.sql`.
    TRAFFIC_RESIDUAL: traffic traffic_residual [window_ms, cutover_at, primary] -> [window_start, requests, primary_requests, primary_bad, last_primary_at];
    /// `traffic_sessions.sql`.
    TRAFFIC_SESSIONS: traffic traffic_sessions [fault_at, cutover_at] -> [region, period, requests, auth_failures];
    /// `capacity_gauge.sql`.
    CAPACITY_GAUGE: capacity capacity_gauge [metric, service, threshold, secondary, cutover_at] -> [service, series, points, points_above, peak, peak_at, seconds_above, first_at, last_at];
    /// `series_sli.sql`.
    SERIES_SLI: validity series_sli [window_ms] -> [region, window_start, requests, bad, success_ratio];
    /// `validity_ingest_lag.sql`.
    VALIDITY_INGEST_LAG: validity validity_ingest_lag [] -> [region, events, lag_p50_s, lag_p99_s, lag_max_s, lag_min_s];
    /// `validity_ingest_losses.sql`.
    VALIDITY_INGEST_LOSSES: validity validity_ingest_losses [] -> [receiver, listener, dropped_datagrams, first_at, last_at];
    /// `validity_samples.sql`.
    VALIDITY_SAMPLES: validity validity_samples [fault_at, recovered_at] -> [region, phase, requests, bad];
}

/// The queries of one section, in registry order.
pub fn of(section: &str) -> Vec<&'static Query> {
    ALL.iter().copied().filter(|q| q.section == section).collect()
}

/// A value for a `{{name}}` placeholder. Numbers and times are rendered by Rust into the SQL
/// text; strings (which come from the drill spec) are never part of the text: they are bound
/// as typed parameters (`$name`, `Utf8`) that DataFusion substitutes into the plan.
#[derive(Debug, Clone)]
pub enum Param {
    /// A number, rendered by Rust.
    Number(f64),
    /// An integer.
    Int(i64),
    /// A timestamp (ns since the epoch) rendered as RFC 3339 UTC.
    Time(i64),
    /// A string, bound as a parameter.
    Literal(String),
}

/// A filled query: its text and the string parameters its `$name` placeholders take.
#[derive(Debug, Clone)]
pub struct Sql {
    /// The statement, with `$name` where a string goes.
    pub text: String,
    /// The values of the `$name` placeholders.
    pub params: Vec<(String, String)>,
    /// The registered query it was filled from.
    pub query: Option<&'static Query>,
}

/// What [`crate::Analyzer::sql`] runs: plain text (trusted, fixed SQL) or a filled [`Sql`].
pub trait AsSql {
    /// The statement.
    fn text(&self) -> &str;
    /// Its parameters, if it has any.
    fn param_values(&self) -> Option<datafusion::common::ParamValues> {
        None
    }
    /// The registered query, whose declared columns the result must have.
    fn declared(&self) -> Option<&'static Query> {
        None
    }
}

impl AsSql for Query {
    fn text(&self) -> &str {
        self.sql
    }
}

impl AsSql for str {
    fn text(&self) -> &str {
        self
    }
}

impl<T: AsSql + ?Sized> AsSql for &T {
    fn text(&self) -> &str {
        (**self).text()
    }

    fn param_values(&self) -> Option<datafusion::common::ParamValues> {
        (**self).param_values()
    }

    fn declared(&self) -> Option<&'static Query> {
        (**self).declared()
    }
}

impl AsSql for String {
    fn text(&self) -> &str {
        self
    }
}

impl AsSql for Sql {
    fn text(&self) -> &str {
        &self.text
    }

    fn declared(&self) -> Option<&'static Query> {
        self.query
    }

    fn param_values(&self) -> Option<datafusion::common::ParamValues> {
        if self.params.is_empty() {
            return None;
        }
        let map: std::collections::HashMap<String, datafusion::common::ScalarValue> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), datafusion::common::ScalarValue::Utf8(Some(v.clone()))))
            .collect();
        Some(map.into())
    }
}

/// Whether the end of `sql` is inside a quoted string (`--` comments and `''` escapes read
/// as SQL reads them).
fn in_string_literal(sql: &str) -> bool {
    let (mut quoted, mut comment) = (false, false);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if comment => comment = false,
            _ if comment => {}
            '\'' => quoted = !quoted,
            '-' if !quoted && chars.peek() == Some(&'-') => comment = true,
            _ => {}
        }
    }
    quoted
}

/// Fills the placeholders of a registered query ([`fill_text`]); a declared parameter without a
/// value is an error.
pub fn fill(query: &'static Query, params: &[(&str, Param)]) -> Result<Sql, crate::AnalyzeError> {
    if let Some(missing) = query.params.iter().find(|p| !params.iter().any(|(n, _)| n == *p)) {
        return Err(crate::AnalyzeError::Internal(format!(
            "query {} declares parameter {missing}, which has no value",
            query.name
        )));
    }
    let mut sql = fill_text(query.sql, params)?;
    sql.query = Some(query);
    Ok(sql)
}

/// Fills `{{name}}` placeholders in one pass over the template (inserted text is never scanned
/// again); a placeholder without a value, or a string placeholder inside quotes, is an error.
pub fn fill_text(sql: &str, params: &[(&str, Param)]) -> Result<Sql, crate::AnalyzeError> {
    let mut text = String::with_capacity(sql.len());
    let mut bound: Vec<(String, String)> = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(crate::AnalyzeError::Internal(format!(
                "unclosed query placeholder {}",
                &rest[start..rest.len().min(start + 40)]
            )));
        };
        let name = &after[..end];
        let value =
            params.iter().find(|(n, _)| *n == name).map(|(_, v)| v).ok_or_else(|| {
                crate::AnalyzeError::Internal(format!("query placeholder {{{{{name}}}}} has no value"))
            })?;
        match value {
            Param::Number(n) => text.push_str(&format!("{n:?}")),
            Param::Int(i) => text.push_str(&i.to_string()),
            Param::Time(ns) => text.push_str(&crate::report::rfc3339(*ns)),
            Param::Literal(s) => {
                if in_string_literal(&text) {
                    return Err(crate::AnalyzeError::Internal(format!(
                        "string placeholder {{{{{name}}}}} inside quotes cannot be bound"
                    )));
                }
                text.push('$');
                text.push_str(name);
                if !bound.iter().any(|(n, _)| n == name) {
                    bound.push((name.to_string(), s.clone()));
                }
            }
        }
        rest = &after[end + 2..];
    }
    text.push_str(rest);
    Ok(Sql {
        text,
        params: bound,
        query: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rendered_and_strings_bound_as_parameters() {
        let sql = fill_text(
            "x = {{a}} AND r = {{b}} AND s = {{b}}",
            &[("a", Param::Int(3)), ("b", Param::Literal("it's".into()))],
        )
        .unwrap();
        assert_eq!(sql.text, "x = 3 AND r = $b AND s = $b");
        assert_eq!(sql.params, vec![("b".to_string(), "it's".to_string())]);
        assert!(fill_text("{{missing}}", &[]).is_err());
        assert!(fill_text("r = '{{b}}'", &[("b", Param::Literal("x".into()))]).is_err());
        assert!(fill_text("r LIKE '%{{b}}%'", &[("b", Param::Literal("x".into()))]).is_err());
        assert!(fill_text("r = 'a' AND s = {{b}}", &[("b", Param::Literal("x".into()))]).is_ok());
        assert!(
            fill_text(
                "-- the primary's region\nr = {{b}}",
                &[("b", Param::Literal("x".into()))]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_string_value_cannot_become_sql() {
        // A spec string that looks like a placeholder, a quote or a comment end stays a value:
        // the old multi-pass substitution let the second pass rewrite inside the first's quotes.
        let params = [
            ("a", Param::Literal("{{b}}".into())),
            ("b", Param::Literal("x' OR 1=1 --\nDROP TABLE spans".into())),
        ];
        let sql = fill_text("-- region {{a}}\nSELECT 1 WHERE r = {{a}} AND s = {{b}}", &params).unwrap();
        assert_eq!(sql.text, "-- region $a\nSELECT 1 WHERE r = $a AND s = $b");
        assert!(!sql.text.contains("DROP"));
    }
}
