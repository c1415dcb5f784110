//! The scenario library: drills with a known answer, each generated from a seed.
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
//! ~10 requests/s (its server spans are the SLI), `orders-api` writes to `orders-db` (~4/s),
//! publishes to `order-events` and `fulfillment` consumes; each region reports gauges and a
//! SIEM feed; the SLI alert fires after the fault. The primary fails at the fault; the
//! runbook declares, promotes, cuts DNS over and shifts traffic. Each scenario then changes one
//! thing (see [`ALL`]).
//!
//! Used by `tests/scenarios.rs` (which mounts this module tree next to `sim.rs`); the CLI
//! does not call it yet, hence the `dead_code` allowance.
#![allow(dead_code)]

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
