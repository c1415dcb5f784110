//! The analyzer's SQL functions, registered in every session by [`register`], and the small
//! statistics the measures compute in Rust.
//!
//! - `hdr_latency(duration_ms)`: an aggregate that puts a latency column into an HDR histogram
//!   and returns a struct with `count`, `skipped`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms` and
//!   `max_ms` (see [`hdr`] for the precision and the handling of odd inputs). In SQL:
//!   `hdr_latency(duration_ms)['p99_ms']`.
//! - `stream_times(t)` (aggregate), `stream_profile(times)`, `stream_gaps(times, …)`,
//!   `last_before(times, at)`, `first_from(times, at)`: a stream's sorted event times and the
//!   gaps section's definitions over them (see [`streams`]).
//! - `recovery_start(start_time, bad, stable_ms, success_ratio)`: the recovered moment (see
//!   [`recovery`]).
//! - [`stats`]: the Mann–Whitney U test and the normal distribution it needs.

pub mod hdr;
pub mod recovery;
pub mod stats;
pub mod streams;

use datafusion::prelude::SessionContext;

/// Registers every UDF and UDAF of this module in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(hdr::hdr_latency_udaf());
    ctx.register_udaf(streams::stream_times_udaf());
    ctx.register_udf(streams::stream_profile_udf());
    ctx.register_udf(streams::stream_gaps_udf());
    ctx.register_udf(streams::last_before_udf());
    ctx.register_udf(streams::first_from_udf());
    ctx.register_udaf(recovery::recovery_start_udaf());
}

/// Test helper: whether `sql`'s plan aggregates in two steps (partial states per partition,
/// then the merge), with the plan text for the failure message.
#[cfg(test)]
pub(crate) async fn aggregates_in_two_steps(ctx: &SessionContext, sql: &str) -> (bool, String) {
    let plan = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    (
        text.contains("mode=Partial") && text.contains("mode=FinalPartitioned"),
        text,
    )
}
