//! The drill report's sections as SQL tables, so that a dashboard and `cutover analyze` read
//! the same numbers: each table below is filled from the JSON report (`docs/report.md`) that
//! the analyzer produced for a drill spec, one row per element of a report array.
//!
//! Naming: `report_<section>` holds a section's single values (nested objects flattened with
//! `_`: `budget.baseline.requests` → `report_budget.baseline_requests`); `report_<section>_<array>`
//! one row per element of an array of that section (`rto.phases` → `report_rto_phases`); an
//! array inside such an element becomes `report_<section>_<array>_<inner>` with the parent's
//! name in a link column and `parent_row`, the element's 0-based position. Every table starts
//! with `drill` (the spec's name), so that several drills share one table; a table with a
//! timestamp column also ends with `time`, a copy of its first timestamp column, which is what
//! Grafana looks for. Arrays of plain values inside an element are JSON text.
//!
//! The column lists are declared here, not inferred from a report, so that a table exists with
//! its columns even when a drill has no row for it; `tests` check every declaration against
//! the scenario library's reports (no report field left undeclared, no declared column
//! missing from every report).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `text`.
    Text,
    /// `bigint`.
    Int,
    /// `double precision`.
    Float,
    /// `boolean`.
    Bool,
    /// `timestamptz` (UTC, nanoseconds), from an RFC 3339 string.
    Time,
    /// `text` holding JSON (a list of plain values).
    Json,
}

/// How a table's rows come out of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One row: the object at the path.
    One,
    /// One row per element of the array at the path.
    Rows,
    /// An object of lists: one row per (key, element).
    Map {
        /// Column of the object's key.
        key: &'static str,
        /// Column of each element.
        value: &'static str,
    },
}

/// One report table.
#[derive(Debug)]
pub struct TableDef {
    /// SQL name.
    pub name: &'static str,
    /// Path of the object or array in the JSON report.
    pub path: &'static [&'static str],
    /// How rows are made.
    pub shape: Shape,
    /// For an array inside the elements of another array: (the parent's column copied into
    /// each row, the name it gets here).
    pub link: Option<(&'static str, &'static str)>,
    /// Declared columns, in table order (after `drill` and the link columns).
    pub columns: &'static [(&'static str, Col)],
}

/// Columns of a log's lost ranges (`validity.log` and `replay.log` carry the same list).
const SALVAGE_LOST: &[(&str, Col)] = &[
    ("segment", Col::Text),
    ("from_offset", Col::Int),
    ("to_offset", Col::Int),
    ("from_seq", Col::Int),
    ("to_seq", Col::Int),
    ("acknowledged", Col::Bool),
];

/// Every report table.
pub static TABLES: &[TableDef] = &[
    TableDef {
        name: "report_drills",
        path: &[],
        shape: Shape::One,
        link: None,
        columns: &[
            ("report_version", Col::Int),
            ("verdict", Col::Text),
            ("regions_primary", Col::Text),
            ("regions_secondary", Col::Text),
        ],
    },
    TableDef {
        name: "report_markers",
        path: &["markers"],
        shape: Shape::Rows,
        link: None,
        columns: &[("marker", Col::Text), ("time", Col::Time), ("region", Col::Text)],
    },
    TableDef {
        name: "report_rto",
        path: &["rto"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("actual_seconds", Col::Float),
            ("fault_at", Col::Time),
            ("fault_inferred", Col::Bool),
            ("recovered_at", Col::Time),
            ("target_seconds", Col::Float),
            ("met", Col::Bool),
            ("reason", Col::Text),
            ("requests", Col::Int),
            ("detected_by", Col::Text),
            ("sli", Col::Text),
            ("resolution_seconds", Col::Float),
            ("sli_note", Col::Text),
            ("sampling", Col::Text),
            ("estimated_requests", Col::Float),
            ("sampling_note", Col::Text),
        ],
    },
    TableDef {
        name: "report_rto_phases",
        path: &["rto", "phases"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("name", Col::Text),
            ("started_at", Col::Time),
            ("ended_at", Col::Time),
            ("seconds", Col::Float),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_rpo",
        path: &["rpo"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("actual_seconds", Col::Float),
            ("lost_writes", Col::Int),
            ("target_seconds", Col::Float),
            ("met", Col::Bool),
            ("reason", Col::Text),
            ("estimate_seconds", Col::Float),
            ("estimate_reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_rpo_stores",
        path: &["rpo", "stores"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("store", Col::Text),
            ("promoted_at", Col::Time),
            ("last_applied_seq", Col::Int),
            ("newest_surviving_write_at", Col::Time),
            ("newest_lost_write_at", Col::Time),
            ("lost_writes", Col::Int),
            ("rpo_seconds", Col::Float),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_rpo_split_brain",
        path: &["rpo", "split_brain"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("store", Col::Text),
            ("regions", Col::Json),
            ("overlap_start", Col::Time),
            ("overlap_end", Col::Time),
            ("writes", Col::Json),
        ],
    },
    TableDef {
        name: "report_latency",
        path: &["latency"],
        shape: Shape::One,
        link: None,
        columns: &[("reason", Col::Text), ("window_seconds", Col::Float)],
    },
    TableDef {
        name: "report_latency_phases",
        path: &["latency", "phases"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("service", Col::Text),
            ("phase", Col::Text),
            ("requests", Col::Int),
            ("bad_requests", Col::Int),
            ("skipped", Col::Int),
            ("p50_ms", Col::Float),
            ("p90_ms", Col::Float),
            ("p99_ms", Col::Float),
            ("p999_ms", Col::Float),
            ("max_ms", Col::Float),
        ],
    },
    TableDef {
        name: "report_latency_windows",
        path: &["latency", "windows"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("service", Col::Text),
            ("window_start", Col::Time),
            ("requests", Col::Int),
            ("p50_ms", Col::Float),
            ("p99_ms", Col::Float),
            ("baseline_p99_ms", Col::Float),
            ("baseline_scope", Col::Text),
            ("spike", Col::Bool),
        ],
    },
    TableDef {
        name: "report_latency_spikes",
        path: &["latency", "spikes"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("service", Col::Text),
            ("start", Col::Time),
            ("end", Col::Time),
            ("windows_start", Col::Time),
            ("windows_end", Col::Time),
            ("slow_threshold_ms", Col::Float),
            ("windows", Col::Int),
            ("requests", Col::Int),
            ("peak_p99_ms", Col::Float),
            ("baseline_p99_ms", Col::Float),
            ("baseline_scope", Col::Text),
        ],
    },
    TableDef {
        name: "report_latency_spikes_exemplars",
        path: &["latency", "spikes", "exemplars"],
        shape: Shape::Rows,
        link: Some(("start", "spike_start")),
        columns: &[
            ("metric", Col::Text),
            ("time", Col::Time),
            ("value", Col::Float),
            ("trace_id", Col::Text),
            ("span_id", Col::Text),
        ],
    },
    TableDef {
        name: "report_latency_comparisons",
        path: &["latency", "comparisons"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("service", Col::Text),
            ("phase", Col::Text),
            ("requests", Col::Int),
            ("baseline_requests", Col::Int),
            ("baseline_scope", Col::Text),
            ("u", Col::Float),
            ("z", Col::Float),
            ("p_value", Col::Float),
            ("rank_biserial", Col::Float),
            ("p99_ms", Col::Float),
            ("baseline_p99_ms", Col::Float),
            ("p99_diff_ms", Col::Float),
            ("valid", Col::Bool),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_latency_series",
        path: &["latency", "series"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("window_start", Col::Time),
            ("requests", Col::Int),
            ("p50_ms", Col::Float),
            ("p99_ms", Col::Float),
        ],
    },
    TableDef {
        name: "report_gaps",
        path: &["gaps"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("gap_factor", Col::Float),
            ("data_end", Col::Time),
            ("streams_checked", Col::Int),
            ("unexpected_gaps", Col::Int),
            ("cutover_at", Col::Time),
            ("follow_delay_seconds", Col::Float),
            ("followed_reason", Col::Text),
            ("late_followed", Col::Int),
            ("never_followed", Col::Int),
        ],
    },
    TableDef {
        name: "report_gaps_streams",
        path: &["gaps", "streams"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("key", Col::Text),
            ("region", Col::Text),
            ("service", Col::Text),
            ("signal", Col::Text),
            ("metric", Col::Text),
            ("events", Col::Int),
            ("times", Col::Int),
            ("first_at", Col::Time),
            ("last_at", Col::Time),
            ("cadence_seconds", Col::Float),
            ("cadence_inferred", Col::Bool),
            ("threshold_seconds", Col::Float),
            ("checked", Col::Bool),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_gaps_gaps",
        path: &["gaps", "gaps"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("stream", Col::Text),
            ("region", Col::Text),
            ("service", Col::Text),
            ("signal", Col::Text),
            ("metric", Col::Text),
            ("start", Col::Time),
            ("end", Col::Time),
            ("seconds", Col::Float),
            ("open", Col::Bool),
            ("class", Col::Text),
        ],
    },
    TableDef {
        name: "report_gaps_followed",
        path: &["gaps", "followed"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("key", Col::Text),
            ("service", Col::Text),
            ("signal", Col::Text),
            ("metric", Col::Text),
            ("primary_last_at", Col::Time),
            ("secondary_first_at", Col::Time),
            ("delay_seconds", Col::Float),
            ("status", Col::Text),
        ],
    },
    TableDef {
        name: "report_alerts",
        path: &["alerts"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("fault_at", Col::Time),
            ("expected_reason", Col::Text),
            ("not_fired", Col::Int),
            ("late", Col::Int),
            ("delivered_late", Col::Int),
            ("suppressed_firing", Col::Int),
            ("silences_after_drill_end", Col::Int),
            ("silences_reason", Col::Text),
            ("truncated_notifications", Col::Int),
            ("truncated_alerts", Col::Int),
            ("truncated_reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_alerts_expected",
        path: &["alerts", "expected"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("alertname", Col::Text),
            ("service", Col::Text),
            ("max_delay_seconds", Col::Float),
            ("fired", Col::Bool),
            ("firing_alertname", Col::Text),
            ("firing_service", Col::Text),
            ("firing_region", Col::Text),
            ("firing_fingerprint", Col::Text),
            ("firing_starts_at", Col::Time),
            ("firing_received_at", Col::Time),
            ("firing_notifications", Col::Int),
            ("firing_resolved_at", Col::Time),
            ("delay_seconds", Col::Float),
            ("delivery_seconds", Col::Float),
            ("resolved", Col::Bool),
            ("late", Col::Bool),
            ("max_delivery_seconds", Col::Float),
            ("delivery_late", Col::Bool),
        ],
    },
    TableDef {
        name: "report_alerts_unexpected",
        path: &["alerts", "unexpected"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("alertname", Col::Text),
            ("service", Col::Text),
            ("region", Col::Text),
            ("fingerprint", Col::Text),
            ("starts_at", Col::Time),
            ("received_at", Col::Time),
            ("notifications", Col::Int),
            ("resolved_at", Col::Time),
        ],
    },
    TableDef {
        name: "report_alerts_suppression_windows",
        path: &["alerts", "suppression_windows"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("from_marker", Col::Text),
            ("to_marker", Col::Text),
            ("alertname", Col::Text),
            ("from_at", Col::Time),
            ("to_at", Col::Time),
            ("to_data_end", Col::Bool),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_alerts_suppression_windows_firing",
        path: &["alerts", "suppression_windows", "firing"],
        shape: Shape::Rows,
        link: Some(("alertname", "window_alertname")),
        columns: &[
            ("alertname", Col::Text),
            ("service", Col::Text),
            ("region", Col::Text),
            ("fingerprint", Col::Text),
            ("starts_at", Col::Time),
            ("first_received_at", Col::Time),
            ("notifications", Col::Int),
        ],
    },
    TableDef {
        name: "report_budget",
        path: &["budget"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("step_seconds", Col::Int),
            ("drill_start", Col::Time),
            ("drill_end", Col::Time),
            ("baseline_requests", Col::Int),
            ("baseline_first_start", Col::Time),
            ("baseline_last_start", Col::Time),
            ("baseline_requests_per_second", Col::Float),
            ("baseline_reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_budget_slos",
        path: &["budget", "slos"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("name", Col::Text),
            ("objective", Col::Float),
            ("period_days", Col::Float),
            ("latency_threshold_ms", Col::Float),
            ("expected_requests", Col::Float),
            ("allowed_bad_requests", Col::Float),
            ("drill_requests", Col::Int),
            ("drill_bad_requests", Col::Int),
            ("consumed_fraction", Col::Float),
            ("consumed_percent", Col::Float),
            ("max_drill_budget_percent", Col::Float),
            ("met", Col::Bool),
            ("observed_requests", Col::Int),
            ("observed_bad_requests", Col::Int),
            ("period_included_fraction", Col::Float),
            ("period_excluded_fraction", Col::Float),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_budget_slos_burn",
        path: &["budget", "slos", "burn"],
        shape: Shape::Rows,
        link: Some(("name", "slo")),
        columns: &[
            ("window", Col::Text),
            ("window_seconds", Col::Int),
            ("peak_burn", Col::Float),
            ("peak_at", Col::Time),
            ("requests", Col::Int),
            ("bad_requests", Col::Int),
            ("coverage", Col::Float),
            ("max_coverage", Col::Float),
        ],
    },
    TableDef {
        name: "report_budget_slos_alerts",
        path: &["budget", "slos", "alerts"],
        shape: Shape::Rows,
        link: Some(("name", "slo")),
        columns: &[
            ("name", Col::Text),
            ("factor", Col::Float),
            ("long_window_seconds", Col::Int),
            ("short_window_seconds", Col::Int),
            ("fired", Col::Bool),
            ("fired_at", Col::Time),
            ("long_burn", Col::Float),
            ("short_burn", Col::Float),
            ("long_coverage", Col::Float),
            ("short_coverage", Col::Float),
        ],
    },
    TableDef {
        name: "report_budget_slos_series",
        path: &["budget", "slos", "series"],
        shape: Shape::Rows,
        link: Some(("name", "slo")),
        columns: &[
            ("at", Col::Time),
            ("consumed_fraction", Col::Float),
            ("burn_5m", Col::Float),
        ],
    },
    TableDef {
        name: "report_abort",
        path: &["abort"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("step_seconds", Col::Int),
            ("drill_ended_at", Col::Time),
            ("first_abort_at", Col::Time),
        ],
    },
    TableDef {
        name: "report_abort_criteria",
        path: &["abort", "criteria"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("name", Col::Text),
            ("error_ratio_above", Col::Float),
            ("latency_p99_above_ms", Col::Float),
            ("for_seconds", Col::Int),
            ("region", Col::Text),
            ("should_have_aborted", Col::Bool),
            ("abort_at", Col::Time),
            ("window_start", Col::Time),
            ("requests", Col::Int),
            ("bad_requests", Col::Int),
            ("error_ratio", Col::Float),
            ("p99_ms", Col::Float),
            ("drill_ended_after_seconds", Col::Float),
            ("peak_error_ratio", Col::Float),
            ("peak_at", Col::Time),
            ("peak_p99_ms", Col::Float),
            ("peak_p99_at", Col::Time),
            ("reason", Col::Text),
        ],
    },
    TableDef {
        name: "report_traces",
        path: &["traces"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("traces", Col::Int),
            ("spans", Col::Int),
            ("cross_region_traces", Col::Int),
            ("orphan_spans", Col::Int),
            ("cutover_at", Col::Time),
            ("cutover_reason", Col::Text),
            ("broken_traces", Col::Int),
            ("skew_tolerance_ms", Col::Float),
        ],
    },
    TableDef {
        name: "report_traces_cross_region",
        path: &["traces", "cross_region"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("trace_id", Col::Text),
            ("regions", Col::Json),
            ("spans", Col::Int),
            ("first_start", Col::Time),
        ],
    },
    TableDef {
        name: "report_traces_orphans_by_phase",
        path: &["traces", "orphans_by_phase"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("phase", Col::Text),
            ("start", Col::Time),
            ("end", Col::Time),
            ("orphans", Col::Int),
        ],
    },
    TableDef {
        name: "report_traces_orphans",
        path: &["traces", "orphans"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("trace_id", Col::Text),
            ("span_id", Col::Text),
            ("parent_span_id", Col::Text),
            ("service", Col::Text),
            ("region", Col::Text),
            ("start", Col::Time),
        ],
    },
    TableDef {
        name: "report_traces_broken",
        path: &["traces", "broken"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("trace_id", Col::Text),
            ("regions", Col::Json),
            ("spans", Col::Int),
            ("before_cutover", Col::Int),
            ("after_cutover", Col::Int),
            ("roots", Col::Int),
            ("orphans", Col::Int),
            ("first_start", Col::Time),
        ],
    },
    TableDef {
        name: "report_traces_new_edges",
        path: &["traces", "new_edges"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("parent_service", Col::Text),
            ("child_service", Col::Text),
            ("first_seen_at", Col::Time),
            ("calls", Col::Int),
        ],
    },
    TableDef {
        name: "report_traces_skew",
        path: &["traces", "skew"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("parent_region", Col::Text),
            ("child_region", Col::Text),
            ("pairs", Col::Int),
            ("starts_early", Col::Int),
            ("ends_late", Col::Int),
            ("skewed", Col::Int),
            ("max_skew_ms", Col::Float),
            ("worst_trace_id", Col::Text),
            ("worst_span_id", Col::Text),
        ],
    },
    TableDef {
        name: "report_messages",
        path: &["messages"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("cutover_at", Col::Time),
            ("split_reason", Col::Text),
            ("totals_published", Col::Int),
            ("totals_received", Col::Int),
            ("totals_lost", Col::Int),
            ("totals_duplicated", Col::Int),
            ("totals_duplicated_messages", Col::Int),
            ("totals_unpublished", Col::Int),
            ("totals_deliveries", Col::Int),
        ],
    },
    TableDef {
        name: "report_messages_destinations",
        path: &["messages", "destinations"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("destination", Col::Text),
            ("before_published", Col::Int),
            ("before_received", Col::Int),
            ("before_lost", Col::Int),
            ("before_duplicated", Col::Int),
            ("before_duplicated_messages", Col::Int),
            ("before_unpublished", Col::Int),
            ("before_deliveries", Col::Int),
            ("after_published", Col::Int),
            ("after_received", Col::Int),
            ("after_lost", Col::Int),
            ("after_duplicated", Col::Int),
            ("after_duplicated_messages", Col::Int),
            ("after_unpublished", Col::Int),
            ("after_deliveries", Col::Int),
            ("total_published", Col::Int),
            ("total_received", Col::Int),
            ("total_lost", Col::Int),
            ("total_duplicated", Col::Int),
            ("total_duplicated_messages", Col::Int),
            ("total_unpublished", Col::Int),
            ("total_deliveries", Col::Int),
        ],
    },
    TableDef {
        name: "report_messages_lost",
        path: &["messages", "lost"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("destination", Col::Text),
            ("message_id", Col::Text),
            ("side", Col::Text),
            ("published_at", Col::Time),
            ("first_delivery_at", Col::Time),
            ("deliveries", Col::Int),
        ],
    },
    TableDef {
        name: "report_messages_duplicated",
        path: &["messages", "duplicated"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("destination", Col::Text),
            ("message_id", Col::Text),
            ("side", Col::Text),
            ("published_at", Col::Time),
            ("first_delivery_at", Col::Time),
            ("deliveries", Col::Int),
        ],
    },
    TableDef {
        name: "report_traffic",
        path: &["traffic"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("reason", Col::Text),
            ("cutover_at", Col::Time),
            ("primary", Col::Text),
            ("window_seconds", Col::Float),
            ("residual_threshold", Col::Float),
            ("residual_requests", Col::Int),
            ("residual_failed", Col::Int),
            ("last_residual_at", Col::Time),
            ("settled_at", Col::Time),
            ("settle_seconds", Col::Float),
            ("settle_reason", Col::Text),
            ("sessions_reason", Col::Text),
            ("sessions_factor", Col::Float),
            ("sessions_floor", Col::Float),
            ("sessions_baseline_requests", Col::Int),
            ("sessions_baseline_auth_failures", Col::Int),
        ],
    },
    TableDef {
        name: "report_traffic_windows",
        path: &["traffic", "windows"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("start", Col::Time),
            ("requests", Col::Int),
            ("primary_requests", Col::Int),
            ("primary_failed", Col::Int),
            ("primary_share", Col::Float),
        ],
    },
    TableDef {
        name: "report_traffic_sessions_regions",
        path: &["traffic", "sessions", "regions"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("baseline_scope", Col::Text),
            ("baseline_requests", Col::Int),
            ("baseline_auth_failures", Col::Int),
            ("baseline_rate", Col::Float),
            ("after_requests", Col::Int),
            ("after_auth_failures", Col::Int),
            ("after_rate", Col::Float),
            ("flagged", Col::Bool),
        ],
    },
    TableDef {
        name: "report_capacity",
        path: &["capacity"],
        shape: Shape::One,
        link: None,
        columns: &[("reason", Col::Text), ("region", Col::Text), ("from", Col::Time)],
    },
    TableDef {
        name: "report_capacity_gauges",
        path: &["capacity", "gauges"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("metric", Col::Text),
            ("service", Col::Text),
            ("threshold", Col::Float),
            ("reason", Col::Text),
            ("points", Col::Int),
            ("peak", Col::Float),
            ("peak_at", Col::Time),
            ("seconds_above", Col::Float),
        ],
    },
    TableDef {
        name: "report_capacity_gauges_series",
        path: &["capacity", "gauges", "series"],
        shape: Shape::Rows,
        link: Some(("metric", "gauge")),
        columns: &[
            ("service", Col::Text),
            ("series", Col::Text),
            ("points", Col::Int),
            ("points_above", Col::Int),
            ("peak", Col::Float),
            ("peak_at", Col::Time),
            ("seconds_above", Col::Float),
            ("first_at", Col::Time),
            ("last_at", Col::Time),
        ],
    },
    TableDef {
        name: "report_validity",
        path: &["validity"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("coverage", Col::Float),
            ("coverage_reason", Col::Text),
            ("series_window_seconds", Col::Float),
            ("log_first_seq", Col::Int),
            ("log_next_seq", Col::Int),
            ("log_segments", Col::Int),
            ("log_sealed_segments", Col::Int),
            ("log_head", Col::Text),
        ],
    },
    TableDef {
        name: "report_validity_pipeline",
        path: &["validity", "pipeline"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("events", Col::Int),
            ("lag_p50_seconds", Col::Float),
            ("lag_p99_seconds", Col::Float),
            ("lag_max_seconds", Col::Float),
            ("lag_min_seconds", Col::Float),
            ("lagging", Col::Bool),
        ],
    },
    TableDef {
        name: "report_validity_samples",
        path: &["validity", "samples"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("phase", Col::Text),
            ("requests", Col::Int),
            ("bad", Col::Int),
            ("enough", Col::Bool),
        ],
    },
    TableDef {
        name: "report_validity_sli_series",
        path: &["validity", "sli_series"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("region", Col::Text),
            ("window_start", Col::Time),
            ("requests", Col::Int),
            ("bad", Col::Int),
            ("success_ratio", Col::Float),
        ],
    },
    TableDef {
        name: "report_validity_log_salvage_lost",
        path: &["validity", "log", "salvage_lost"],
        shape: Shape::Rows,
        link: None,
        columns: SALVAGE_LOST,
    },
    TableDef {
        name: "report_replay_log_salvage_lost",
        path: &["replay", "log", "salvage_lost"],
        shape: Shape::Rows,
        link: None,
        columns: SALVAGE_LOST,
    },
    TableDef {
        name: "report_validity_ingest_losses",
        path: &["validity", "ingest_losses"],
        shape: Shape::Rows,
        link: None,
        columns: &[
            ("receiver", Col::Text),
            ("listener", Col::Text),
            ("dropped_datagrams", Col::Int),
            ("first_at", Col::Time),
            ("last_at", Col::Time),
        ],
    },
    TableDef {
        name: "report_replay",
        path: &["replay"],
        shape: Shape::One,
        link: None,
        columns: &[
            ("records", Col::Int),
            ("duplicate_spans", Col::Int),
            ("undecodable", Col::Int),
            ("other_kinds", Col::Int),
            ("log_first_seq", Col::Int),
            ("log_next_seq", Col::Int),
            ("log_segments", Col::Int),
            ("log_sealed_segments", Col::Int),
            ("log_head", Col::Text),
        ],
    },
    TableDef {
        name: "report_rpo_lost",
        path: &["rpo", "lost"],
        shape: Shape::Map {
            key: "store",
            value: "seq",
        },
        link: None,
        columns: &[("store", Col::Text), ("seq", Col::Int)],
    },
];

fn arrow_type(c: Col) -> DataType {
    match c {
        Col::Text | Col::Json => DataType::Utf8,
        Col::Int => DataType::Int64,
        Col::Float => DataType::Float64,
        Col::Bool => DataType::Boolean,
        Col::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
    }
}

impl TableDef {
    /// Every column in table order: `drill`, the link columns, the declared ones, `time`.
    pub fn all_columns(&self) -> Vec<(&'static str, Col)> {
        let mut cols = vec![("drill", Col::Text)];
        if let Some((_, as_name)) = self.link {
            cols.push((as_name, Col::Text));
            cols.push(("parent_row", Col::Int));
        }
        cols.extend(self.columns.iter().copied());
        if self.time_source().is_some() && !self.columns.iter().any(|(n, _)| *n == "time") {
            cols.push(("time", Col::Time));
        }
        cols
    }

    /// The column `time` copies: the first timestamp column.
    fn time_source(&self) -> Option<&'static str> {
        self.columns.iter().find(|(_, c)| *c == Col::Time).map(|(n, _)| *n)
    }

    /// The table's Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.all_columns()
                .into_iter()
                .map(|(n, c)| Field::new(n, arrow_type(c), n != "drill"))
                .collect::<Vec<_>>(),
        ))
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn is_table_path(path: &[&str]) -> bool {
    TABLES.iter().any(|t| t.path == path)
}

/// The plain values under `obj` (nested objects flattened with `_`), leaving out what is a
/// table of its own.
fn flatten<'a>(obj: &'a Value, path: &mut Vec<&'a str>, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some(map) = obj.as_object() else { return };
    for (k, v) in map {
        path.push(k.as_str());
        if !is_table_path(path) {
            let name = format!("{prefix}{k}");
            match v {
                Value::Object(_) => flatten(v, path, &format!("{name}_"), out),
                // Arrays of objects are tables (declared, or reported as undeclared below).
                Value::Array(a) if a.iter().any(Value::is_object) => out.push((name, v)),
                _ => out.push((name, v)),
            }
        }
        path.pop();
    }
}

/// One row: column name → value, and the columns copied from a parent.
type Row<'a> = (Vec<(String, &'a Value)>, Option<(String, i64)>);

fn rows_of<'a>(def: &TableDef, report: &'a Value) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    let elem = |e: &'a Value, path: &[&'a str], link: Option<(String, i64)>| {
        let mut cols = Vec::new();
        flatten(e, &mut path.to_vec(), "", &mut cols);
        (cols, link)
    };
    match def.shape {
        Shape::One => {
            if let Some(v) = at(report, def.path) {
                rows.push(elem(v, def.path, None));
            }
        }
        Shape::Rows => match def.link {
            None => {
                for e in at(report, def.path).and_then(Value::as_array).into_iter().flatten() {
                    rows.push(elem(e, def.path, None));
                }
            }
            Some((parent_col, _)) => {
                let (parent, last) = def.path.split_at(def.path.len() - 1);
                for (i, p) in at(report, parent)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let key = match p.get(parent_col) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    };
                    for e in p.get(last[0]).and_then(Value::as_array).into_iter().flatten() {
                        rows.push(elem(e, def.path, Some((key.clone(), i as i64))));
                    }
                }
            }
        },
        Shape::Map { key, value } => {
            for (k, list) in at(report, def.path).and_then(Value::as_object).into_iter().flatten() {
                for v in list.as_array().into_iter().flatten() {
                    rows.push((vec![(key.to_string(), &Value::Null), (value.to_string(), v)], None));
                    // The key is text, not a JSON value: kept in the link slot.
                    rows.last_mut().expect("pushed").1 = Some((k.clone(), 0));
                }
            }
        }
    }
    rows
}

/// Column builders of one table.
enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampNanosecondBuilder),
}

impl Builder {
    fn new(c: Col) -> Builder {
        match c {
            Col::Text | Col::Json => Builder::Text(StringBuilder::new()),
            Col::Int => Builder::Int(Int64Builder::new()),
            Col::Float => Builder::Float(Float64Builder::new()),
            Col::Bool => Builder::Bool(BooleanBuilder::new()),
            Col::Time => Builder::Time(TimestampNanosecondBuilder::new().with_timezone("UTC")),
        }
    }

    /// Appends `v` read as `c`; a value of another type is appended as null and described.
    fn push(&mut self, c: Col, v: &Value) -> Result<(), String> {
        let bad = || Err(format!("expected {c:?}, found {v}"));
        match (self, v) {
            (Builder::Text(b), Value::Null) => b.append_null(),
            (Builder::Int(b), Value::Null) => b.append_null(),
            (Builder::Float(b), Value::Null) => b.append_null(),
            (Builder::Bool(b), Value::Null) => b.append_null(),
            (Builder::Time(b), Value::Null) => b.append_null(),
            (Builder::Text(b), Value::String(s)) => b.append_value(s),
            (Builder::Text(b), other) if c == Col::Json => b.append_value(other.to_string()),
            (Builder::Int(b), Value::Number(n)) => match n.as_i64() {
                Some(i) => b.append_value(i),
                None => {
                    b.append_null();
                    return bad();
                }
            },
            (Builder::Float(b), Value::Number(n)) => b.append_option(n.as_f64()),
            (Builder::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Builder::Time(b), Value::String(s)) => {
                match chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .and_then(|t| t.timestamp_nanos_opt())
                {
                    Some(ns) => b.append_value(ns),
                    None => {
                        b.append_null();
                        return bad();
                    }
                }
            }
            (b, _) => {
                b.push(c, &Value::Null)?;
                return bad();
            }
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Time(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The report tables of several drills, and what did not fit the declarations.
#[derive(Debug, Default)]
pub struct SectionTables {
    /// One batch per table of [`TABLES`], in that order (empty when no drill has rows).
    pub batches: Vec<(&'static str, RecordBatch)>,
    /// Report fields no table declares, and values of another type than declared, as
    /// `table.column: problem` (the tests require none; at run time they are logged).
    pub problems: Vec<String>,
}

/// Builds every report table from `(drill name, JSON report)` pairs.
pub fn tables(reports: &[(String, Value)]) -> SectionTables {
    let mut out = SectionTables::default();
    let mut problems = std::collections::BTreeSet::new();
    for def in TABLES {
        let cols = def.all_columns();
        let mut builders: Vec<Builder> = cols.iter().map(|(_, c)| Builder::new(*c)).collect();
        let index: BTreeMap<&str, usize> = cols.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
        let time_at = def.time_source().and_then(|n| index.get(n).copied());
        let time_col = if def.columns.iter().any(|(n, _)| *n == "time") {
            None
        } else {
            index.get("time").copied()
        };
        let mut rows = 0usize;
        for (drill, report) in reports {
            for (values, link) in rows_of(def, report) {
                rows += 1;
                let mut row: Vec<&Value> = vec![&Value::Null; cols.len()];
                let drill_v = Value::String(drill.clone());
                let link_v = link.as_ref().map(|(k, _)| Value::String(k.clone()));
                let row_v = link.as_ref().map(|(_, i)| Value::from(*i));
                row[0] = &drill_v;
                if let (Some((_, as_name)), Some(k), Some(i)) = (def.link, &link_v, &row_v) {
                    row[index[as_name]] = k;
                    row[index["parent_row"]] = i;
                }
                if let (Shape::Map { key, .. }, Some(k)) = (def.shape, &link_v) {
                    row[index[key]] = k;
                }
                for (name, v) in values {
                    match index.get(name.as_str()) {
                        Some(&i) if row[i].is_null() => row[i] = v,
                        Some(_) => {}
                        None if v.is_null() => {}
                        None => {
                            problems.insert(format!("{}.{name}: not declared", def.name));
                        }
                    }
                }
                let time_v = time_at.map(|i| row[i]);
                for (i, b) in builders.iter_mut().enumerate() {
                    let v = match (Some(i) == time_col, time_v) {
                        (true, Some(t)) => t,
                        _ => row[i],
                    };
                    if let Err(e) = b.push(cols[i].1, v) {
                        problems.insert(format!("{}.{}: {e}", def.name, cols[i].0));
                    }
                }
            }
        }
        let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
        match RecordBatch::try_new(def.schema(), arrays) {
            Ok(b) => out.batches.push((def.name, b)),
            Err(e) => {
                problems.insert(format!("{}: {e} ({rows} rows)", def.name));
                out.batches.push((def.name, RecordBatch::new_empty(def.schema())));
            }
        }
    }
    out.problems = problems.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampNanosecondType};

    fn batch<'a>(t: &'a SectionTables, name: &str) -> &'a RecordBatch {
        &t.batches.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn sections_arrays_nested_arrays_and_maps_become_rows() {
        let report = serde_json::json!({
            "report_version": 1, "drill": "d1", "verdict": "met",
            "regions": {"primary": "a", "secondary": "b"},
            "rto": {"actual_seconds": 1.5, "fault_at": "2026-01-01T00:00:00.000000001Z",
                    "phases": [{"name": "p1", "started_at": "2026-01-01T00:00:01Z", "seconds": 2}]},
            "rpo": {"lost": {"orders": [3, 4], "users": [9]}},
            "budget": {"slos": [{"name": "avail", "series": [{"at": "2026-01-01T00:00:02Z", "consumed_fraction": 0.5}, {"at": "2026-01-01T00:00:03Z"}]}]},
            "surprise": {"x": 1}
        });
        let t = tables(&[("d1".into(), report)]);
        let drills = batch(&t, "report_drills");
        assert_eq!(drills.num_rows(), 1);
        assert_eq!(
            drills
                .column_by_name("regions_secondary")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "b"
        );
        let rto = batch(&t, "report_rto");
        assert_eq!(
            rto.column_by_name("fault_at")
                .unwrap()
                .as_primitive::<TimestampNanosecondType>()
                .value(0),
            1_767_225_600_000_000_001
        );
        // `time` copies the first timestamp column.
        assert_eq!(
            rto.column_by_name("time")
                .unwrap()
                .as_primitive::<TimestampNanosecondType>()
                .value(0),
            1_767_225_600_000_000_001
        );
        let phases = batch(&t, "report_rto_phases");
        assert_eq!(phases.num_rows(), 1);
        assert_eq!(
            phases.column_by_name("drill").unwrap().as_string::<i32>().value(0),
            "d1"
        );
        let lost = batch(&t, "report_rpo_lost");
        assert_eq!(lost.num_rows(), 3);
        assert_eq!(
            lost.column_by_name("store").unwrap().as_string::<i32>().value(2),
            "users"
        );
        assert_eq!(
            lost.column_by_name("seq").unwrap().as_primitive::<Int64Type>().value(2),
            9
        );
        let series = batch(&t, "report_budget_slos_series");
        assert_eq!(series.num_rows(), 2);
        assert_eq!(
            series.column_by_name("slo").unwrap().as_string::<i32>().value(1),
            "avail"
        );
        assert!(series.column_by_name("consumed_fraction").unwrap().is_null(1));
        // A declared table with no data is empty but has its columns.
        let alerts = batch(&t, "report_alerts_expected");
        assert_eq!(alerts.num_rows(), 0);
        assert!(alerts.schema().column_with_name("delay_seconds").is_some());
        // A section nobody declared is reported (the scenario tests require no problem).
        assert_eq!(t.problems, vec!["report_drills.surprise_x: not declared".to_string()]);
    }

    #[test]
    fn undeclared_fields_and_wrong_types_are_reported() {
        let report = serde_json::json!({
            "rto": {"actual_seconds": "soon", "brand_new": 3, "phases": []}
        });
        let t = tables(&[("d".into(), report)]);
        assert_eq!(
            t.problems,
            vec![
                "report_rto.actual_seconds: expected Float, found \"soon\"".to_string(),
                "report_rto.brand_new: not declared".to_string()
            ]
        );
    }

    #[test]
    fn table_names_are_unique() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
    }
}
