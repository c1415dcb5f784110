#!/usr/bin/env bash
# The analyze benchmark in one command (see docs/benchmarks.md):
#   scripts/bench-analyze.sh [EVENTS]
# Builds the release binary, generates a drill log of EVENTS events (default 10,000,000) once,
# times `cutover bench --kind analyze` on it three times, exports the tables once and times the
# same core queries in DuckDB. Prints the medians and the DataFusion/DuckDB table.
# Work files go to ${BENCH_DIR:-$HOME/.cache/cutover-bench}; delete it afterwards (~5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
dir=${BENCH_DIR:-$HOME/.cache/cutover-bench}
venv=$HOME/.cache/cutover-bench-venv
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
rm -rf "$dir" && mkdir -p "$dir"
# A copy: the target dir is shared, another build may replace the binary while this runs.
cp "$CARGO_TARGET_DIR/release/cutover" "$dir/cutover"
bin=$dir/cutover
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r scripts/bench-requirements.txt
fi
"$bin" bench --kind analyze --events "$events" --data-dir "$dir/data" --export-dir "$dir/export" | tee "$dir/run1.txt"
for run in 2 3; do
  "$bin" bench --kind analyze --events "$events" --data-dir "$dir/data" --reuse --sql-runs 0 | tee "$dir/run$run.txt"
done
"$venv/bin/python" scripts/bench-duckdb.py --export-dir "$dir/export" \
  --bench-out "$dir/run1.txt" --bench-out "$dir/run2.txt" --bench-out "$dir/run3.txt"
