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
}

/// What [`crate::Analyzer::sql`] runs: plain text (trusted, fixed SQL) or a filled [`Sql`].
pub trait AsSql {
    /// The statement.
    fn text(&self) -> &str;
    /// Its parameters, if it has any.
    fn param_values(&self) -> Option<datafusion::common::ParamValues> {
        None
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

/// Fills `{{name}}` placeholders in one pass over the template (inserted text is never scanned
/// again); a placeholder without a value, or a string placeholder inside quotes, is an error.
pub fn fill(sql: &str, params: &[(&str, Param)]) -> Result<Sql, crate::AnalyzeError> {
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
    Ok(Sql { text, params: bound })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rendered_and_strings_bound_as_parameters() {
        let sql = fill(
            "x = {{a}} AND r = {{b}} AND s = {{b}}",
            &[("a", Param::Int(3)), ("b", Param::Literal("it's".into()))],
        )
        .unwrap();
        assert_eq!(sql.text, "x = 3 AND r = $b AND s = $b");
        assert_eq!(sql.params, vec![("b".to_string(), "it's".to_string())]);
        assert!(fill("{{missing}}", &[]).is_err());
        assert!(fill("r = '{{b}}'", &[("b", Param::Literal("x".into()))]).is_err());
        assert!(fill("r LIKE '%{{b}}%'", &[("b", Param::Literal("x".into()))]).is_err());
        assert!(fill("r = 'a' AND s = {{b}}", &[("b", Param::Literal("x".into()))]).is_ok());
        assert!(
            fill(
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
        let sql = fill("-- region {{a}}\nSELECT 1 WHERE r = {{a}} AND s = {{b}}", &params).unwrap();
        assert_eq!(sql.text, "-- region $a\nSELECT 1 WHERE r = $a AND s = $b");
        assert!(!sql.text.contains("DROP"));
    }
}
