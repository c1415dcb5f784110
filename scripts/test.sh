#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds, runs the Rust tests (unit,
# log model and crash tests, kill test, demo accuracy), the Python tests against real clients
# and servers (OpenTelemetry SDK, Prometheus, Alertmanager, syslog-ng, headless Chromium for the
# HTML report, a Kafka-protocol broker) and a short fuzz smoke.
#
#   ./scripts/test.sh            # everything
#
# Environment:
#   CARGO_TARGET_DIR   build directory (default: ./target, the one `cargo run` builds into;
#                      .ci/run sets $HOME/.cache/cutover-target, kept across runs)
#   CUTOVER_VENV       Python venv for the real-client tests (default: $HOME/.cache/cutover-venv)
#   CUTOVER_FUZZ_SECONDS  seconds per fuzz target in the smoke run (default 10; 0 skips it)
#   CUTOVER_TOOLS      where tools built for the tests are kept (default: $HOME/.cache/cutover-tools;
#                      tansu, the Kafka-protocol broker, about 8 minutes to build the first time)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$CARGO_TARGET_DIR"
venv="${CUTOVER_VENV:-$HOME/.cache/cutover-venv}"
# Replay caches of the tests' throwaway logs go to a directory removed at the end, not to
# ~/.cache/cutover.
CUTOVER_CACHE_DIR="$(mktemp -d -t cutover-test-cache.XXXXXX)"
export CUTOVER_CACHE_DIR
trap 'rm -rf "$CUTOVER_CACHE_DIR"' EXIT

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "Debian packages: prometheus, alertmanager, syslog-ng, chromium, postgresql-client, kcat"
pkgs=(prometheus prometheus-alertmanager syslog-ng-core chromium postgresql-client kcat)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    # Install without starting the packages' own services: the tests start their own.
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
    [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
fi

step "python venv with the OpenTelemetry SDK"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

step "tansu 0.6.0, the Kafka-protocol broker of the Kafka tests (built once, then cached)"
tools="${CUTOVER_TOOLS:-$HOME/.cache/cutover-tools}"
if [ ! -x "$tools/bin/tansu" ] || ! "$tools/bin/tansu" --version 2>/dev/null | grep -q '0\.6\.0'; then
    # Its own throwaway target directory: the broker's dependencies stay out of ours.
    env -u CARGO_TARGET_DIR cargo install tansu --version 0.6.0 --locked --features dynostore --root "$tools"
fi
export CUTOVER_TANSU="$tools/bin/tansu"

step "build"
cargo build --workspace --all-targets --locked

fuzz_seconds="${CUTOVER_FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" != 0 ]; then
    step "fuzz smoke: ${fuzz_seconds}s per target (parsers, request decoding and conversion, the log segment decoder)"
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
    for t in syslog cef framing remote_write log_segment otlp_protobuf otlp_json alertmanager markers remote_write_convert; do
        mkdir -p "fuzz/corpus/$t"
        seeds=()
        [ -d "fuzz/seeds/$t" ] && seeds=("seeds/$t")
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$fuzz_seconds" 2>&1 | tail -n 3)
    done
fi

step "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

step "python tests against real clients and servers"
export CUTOVER_BIN="$CARGO_TARGET_DIR/debug/cutover"
"$venv/bin/python" -m pytest -q tests/python
