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

/// The measure queries: (file stem, SQL with placeholders).
pub const MEASURES: &[(&str, &str)] = &[
    ("fault_at", FAULT_AT),
    ("recovered_at", RECOVERED_AT),
    ("lost_writes", LOST_WRITES),
    ("surviving_writes", SURVIVING_WRITES),
    ("rto_phases", RTO_PHASES),
    ("split_brain", SPLIT_BRAIN),
    ("lag_estimate", LAG_ESTIMATE),
    ("bounds", BOUNDS),
    ("fault_inferred", FAULT_INFERRED),
    ("markers_timeline", MARKERS_TIMELINE),
];

/// `markers_timeline.sql`.
pub const MARKERS_TIMELINE: &str = include_str!("../../queries/markers_timeline.sql");
/// `fault_inferred.sql`.
pub const FAULT_INFERRED: &str = include_str!("../../queries/fault_inferred.sql");
/// `bounds.sql`.
pub const BOUNDS: &str = include_str!("../../queries/bounds.sql");

/// Every measure query of every section: the spine's [`MEASURES`] and each section's
/// `QUERIES`. The golden test covers exactly these (plus the views).
pub fn all_measures() -> Vec<(&'static str, &'static str)> {
    use crate::measures::*;
    let sections: [&[(&str, &str)]; 11] = [
        MEASURES,
        latency::QUERIES,
        gaps::QUERIES,
        alerts::QUERIES,
        budget::QUERIES,
        abort::QUERIES,
        traces::QUERIES,
        messages::QUERIES,
        traffic::QUERIES,
        capacity::QUERIES,
        validity::QUERIES,
    ];
    sections.iter().flat_map(|s| s.iter().copied()).collect()
}

/// `split_brain.sql`.
pub const SPLIT_BRAIN: &str = include_str!("../../queries/split_brain.sql");
/// `lag_estimate.sql`.
pub const LAG_ESTIMATE: &str = include_str!("../../queries/lag_estimate.sql");

/// `rto_phases.sql`.
pub const RTO_PHASES: &str = include_str!("../../queries/rto_phases.sql");

/// `fault_at.sql`.
pub const FAULT_AT: &str = include_str!("../../queries/fault_at.sql");
/// `recovered_at.sql`.
pub const RECOVERED_AT: &str = include_str!("../../queries/recovered_at.sql");
/// `lost_writes.sql`.
pub const LOST_WRITES: &str = include_str!("../../queries/lost_writes.sql");
/// `surviving_writes.sql`.
pub const SURVIVING_WRITES: &str = include_str!("../../queries/surviving_writes.sql");

/// A value for a `{{name}}` placeholder; each variant renders itself safely.
#[derive(Debug, Clone)]
pub enum Param {
    /// A number, rendered by Rust.
    Number(f64),
    /// An integer.
    Int(i64),
    /// A timestamp (ns since the epoch) rendered as RFC 3339 UTC.
    Time(i64),
    /// A string rendered as a quoted SQL literal.
    Literal(String),
}

impl Param {
    fn render(&self) -> String {
        match self {
            Param::Number(n) => format!("{n:?}"),
            Param::Int(i) => i.to_string(),
            Param::Time(ns) => crate::report::rfc3339(*ns),
            Param::Literal(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }
}

/// Fills `{{name}}` placeholders; a placeholder without a value is an error.
pub fn fill(sql: &str, params: &[(&str, Param)]) -> Result<String, crate::AnalyzeError> {
    let mut out = sql.to_string();
    for (name, value) in params {
        out = out.replace(&format!("{{{{{name}}}}}"), &value.render());
    }
    if let Some(start) = out.find("{{") {
        let rest = &out[start..];
        let end = rest.find("}}").map(|e| e + 2).unwrap_or(rest.len());
        return Err(crate::AnalyzeError::Internal(format!(
            "query placeholder {} has no value",
            &rest[..end]
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_literals_quoted() {
        let sql = fill(
            "x = {{a}} AND r = {{b}}",
            &[("a", Param::Int(3)), ("b", Param::Literal("it's".into()))],
        )
        .unwrap();
        assert_eq!(sql, "x = 3 AND r = 'it''s'");
        assert!(fill("{{missing}}", &[]).is_err());
    }
}
