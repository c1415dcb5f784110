#!/usr/bin/env bash
# The power-loss simulation at length: SEEDS workloads (default 1000, about 105,000 crash points,
# a third with a second power loss during recovery) against the simulated disk of
# `cutover_eventlog::testing::SimStorage`. The suite runs 100 (about 10,500 crash points).
#
#   ./scripts/power-loss.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
CUTOVER_POWER_LOSS_SEEDS="${1:-1000}" cargo test --locked -p cutover-eventlog --test power_loss -- --nocapture
