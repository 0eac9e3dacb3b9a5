#!/usr/bin/env bash
# Runs every test: installs what is missing (scripts/setup.sh), then
#   0. the SDK crate's guard rails: rustfmt, clippy (warnings are errors), and in the wasm
#      build the size rules of scripts/clippy-wasm/clippy.toml (no format!, str::find,
#      str::parse, to_string, panicking index/slice);
#   1. the Rust workspace natively (the pure core, the collector), with every feature, then the
#      collector's key suites again on PostgreSQL;
#   2. the browser build (cargo -> wasm-bindgen -> wasm-opt -> esbuild) and its size budget;
#   3. the end-to-end suites in real headless Chromium against the collector on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/setup.sh

echo "== rustfmt and clippy (the SDK crate omnitrail; the collector keeps its own style)"
cargo fmt -p omnitrail --check
cargo clippy -q -p omnitrail --all-targets --all-features -- -D warnings
CLIPPY_CONF_DIR=scripts/clippy-wasm cargo clippy -q -p omnitrail --target wasm32-unknown-unknown -- -D warnings
# The small core the script tag serves to pages without a cart (no `cart` feature).
CLIPPY_CONF_DIR=scripts/clippy-wasm cargo clippy -q -p omnitrail --no-default-features --target wasm32-unknown-unknown -- -D warnings

echo "== cargo test (native: core + collector)"
cargo test --workspace --all-features
# The small core's stand-ins (tracker/cart_off.rs, tracker/cross_domain_off.rs) and every test
# that holds for it.
cargo test -q -p omnitrail --no-default-features --lib

echo "== cargo test (collector on PostgreSQL: a private throwaway cluster)"
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  pg_start=$(date +%s)
  OMNITRAIL_TEST_STORE=postgres cargo test -p omnitrail-collector \
    --test ingest --test cart --test control --test security --test marketing --test process --test postgres
  echo "== collector on PostgreSQL: $(( $(date +%s) - pg_start )) s"
else
  echo "SKIPPED: collector on PostgreSQL (no /usr/lib/postgresql/15/bin/initdb; scripts/setup.sh installs it)"
fi

echo "== build (wasm) and size budget"
./scripts/build.sh
node scripts/check-size.mjs

echo "== end-to-end (Chromium + collector)"
cargo build -q -p omnitrail-collector
# --test-force-exit: a browser a failed test left open cannot hang the run; --test-timeout
# bounds any one test (the longest take ~10 s).
(cd tests && node --test --test-concurrency=1 --test-force-exit --test-timeout=180000 --test-reporter=spec e2e/)

echo "== all tests passed in $(( $(date +%s) - start )) s"
