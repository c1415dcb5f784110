#!/usr/bin/env bash
# The SIGKILL durability test at scale: `cutover ingest` under continuous OTLP/gRPC load is
# killed and restarted CYCLES times (default 1000); every acknowledged span must survive,
# exactly once after dedupe. The suite runs the same test with 20 cycles.
#
#   ./scripts/kill-test.sh [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
CUTOVER_KILL_CYCLES="${1:-1000}" cargo test --locked --test kill -- --nocapture
