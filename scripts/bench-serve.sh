#!/usr/bin/env bash
# The SQL endpoint's benchmark (docs/benchmarks.md, "SQL endpoint"):
#   scripts/bench-serve.sh [EVENTS]
# Builds the release binary, generates the analyze benchmark's drill log of EVENTS events
# (default 10,000,000) once in ${BENCH_DIR:-$HOME/.cache/cutover-bench}/data (reused when
# there), then times `cutover serve` on it: ready line, first answer, snapshot build (what a
# live refresh recomputes), and every dashboard's refresh, 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
dir=${BENCH_DIR:-$HOME/.cache/cutover-bench}
venv=${CUTOVER_VENV:-$HOME/.cache/cutover-venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
mkdir -p "$dir"
cp "$CARGO_TARGET_DIR/release/cutover" "$dir/cutover-serve-bench"
if [ ! -f "$dir/data/drill.yaml" ]; then
  "$dir/cutover-serve-bench" bench --kind analyze --events "$events" --data-dir "$dir/data" --keep --sql-runs 0
fi
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
"$venv/bin/python" scripts/bench-serve.py --bin "$dir/cutover-serve-bench" --data-dir "$dir/data" --runs 5
