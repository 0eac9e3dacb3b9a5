#!/usr/bin/env bash
# Runs the collector load benchmark (src/bin/loadgen.rs) with server-grade optimisation.
# The workspace's release profile is tuned for the wasm SDK (opt-level "z", fat LTO), which
# roughly halves the collector's throughput, so this builds into its own target dir with
# opt-level 3 instead. Extra arguments go to loadgen (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build --release -p omnitrail-collector --bins
exec "$CARGO_TARGET_DIR/release/loadgen" --json "${LOADGEN_JSON:-target/loadgen-result.json}" "$@"
