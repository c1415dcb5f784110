//! The analyzer's integration tests, one test binary: each module was a binary of its own,
//! and each linked DataFusion (13 links per change of the analyzer; now one). Run one
//! module with a filter: `cargo test -p cutover-analyzer --test all latency::`;
//! `CUTOVER_BLESS=1` with that filter regenerates its golden rows.

mod common;

mod abort;
mod alerts;
mod budget;
mod capacity;
mod equivalence;
mod gaps;
mod golden;
mod ingest_losses;
mod latency;
mod messages;
mod metrics_sli;
mod replay;
mod traces;
mod traffic;
