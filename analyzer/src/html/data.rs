//! What the charts draw, taken from the report's sections.

use super::chart::{LineSeries, Rows};
use crate::report::Report;

/// p50 and p99 per region over time.
pub fn latency(_report: &Report) -> Vec<LineSeries> {
    Vec::new()
}

/// One row per stream that had a gap.
pub fn gaps(_report: &Report) -> Rows {
    Vec::new()
}

/// Budget consumed over time.
pub fn budget(_report: &Report) -> Vec<LineSeries> {
    Vec::new()
}
