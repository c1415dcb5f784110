//! The drill simulator ([`sim`], behind `cutover demo`) and the scenario library: drills
//! with a known answer, each generated from a seed.
//!
//! A scenario is the events an ingest daemon would have logged (spans, markers, metric points,
//! SIEM events, alerts), the drill spec to analyze them with, and the ground truth
//! ([`ScenarioTruth`]) computed from what the generator decided: the fault time, the phase
//! moments, recovery by the spec's definition over the generated requests, the writes the
//! replica never had, the gap intervals, the messages never consumed, … The truth is computed
//! here in plain Rust, independently of the analyzer's SQL; `tests/scenarios.rs` compares the
//! two.
//!
//! Every scenario starts from the same world ([`world::World`]): `frontend` serves
//! ~10 requests/s (its server spans are the SLI) and calls `inventory` (secondary region);
//! `orders-api` writes to `orders-db` (~4/s), publishes to `order-events` and `fulfillment`
//! consumes; each region reports gauges (10 s) and two SIEM feeds (5 s) while it serves; the SLI
//! alert fires 3–8 s after the fault and the database alert 5 s after it. The primary fails at
//! the fault; the runbook declares, promotes, cuts DNS over and shifts traffic. Each scenario
//! then changes one thing ([`library::ALL`]). Every scenario has about 6 000 events.
//!
//! Where the truths live: [`truth`] (timeline, recovery, lost writes, split brain, SLI
//! samples), [`traffic_truth`] (latency, residual traffic, session drops, capacity),
//! [`budget_truth`] (error budget, burn-rate alerts, abort criteria), [`telemetry_truth`]
//! (gaps, followed the cutover, alert audit), [`flow_truth`] (messages, trace skew). Each
//! follows the definition in the section's module doc, and each section's part of the spec
//! sits next to its truth (`BUDGET_SPEC`, `GAPS_SPEC`, `ALERTS_SPEC`, [`world::SECTION_SPECS`]).
//!
//! A crate of its own (depending on `cutover-schemas` only) so that the CLI links the
//! simulator (its `demo`) and `tests/scenarios.rs` links the library, each compiled once.

pub mod sim;

pub mod budget_truth;
pub mod events;
pub mod flow_truth;
pub mod library;
pub mod telemetry_truth;
pub mod traffic_truth;
pub mod truth;
pub mod world;

pub use truth::ScenarioTruth;

/// One generated drill with its answer.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name (`clean_failover`, …).
    pub name: &'static str,
    /// The events, in event-time order.
    pub events: Vec<cutover_schemas::Event>,
    /// The drill spec (YAML) to analyze the events with.
    pub spec: String,
    /// The ground truth.
    pub truth: ScenarioTruth,
}
