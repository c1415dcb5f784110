#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds, runs the Rust tests (unit,
# log model and crash tests, kill test, demo accuracy) and the Python real-client tests.
#
#   ./scripts/test.sh            # everything
#
# Environment:
#   CARGO_TARGET_DIR   build directory (default: $HOME/.cache/cutover-target, reused across runs)
#   CUTOVER_VENV       Python venv for the real-client tests (default: $HOME/.cache/cutover-venv)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cutover-target}"
mkdir -p "$CARGO_TARGET_DIR"
venv="${CUTOVER_VENV:-$HOME/.cache/cutover-venv}"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "python venv with the OpenTelemetry SDK"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

step "build"
cargo build --workspace --all-targets --locked

step "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

step "python real-client tests"
export CUTOVER_BIN="$CARGO_TARGET_DIR/debug/cutover"
"$venv/bin/python" -m pytest -q tests/python
