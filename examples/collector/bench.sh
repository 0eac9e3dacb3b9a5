#!/usr/bin/env bash
# Runs the collector load benchmark (src/bin/loadgen.rs) with server-grade optimisation.
# It builds into its own target dir with opt-level 3 and thin LTO (the workspace's `release`
# profile is the collector's, opt-level 3 without LTO; the wasm has its own `wasm-release`).
# Extra arguments go to loadgen (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build --release -p omnitrail-collector --bins
exec "$CARGO_TARGET_DIR/release/loadgen" --json "${LOADGEN_JSON:-target/loadgen-result.json}" "$@"
