#!/usr/bin/env bash
# The demo: builds the SDK and the collector, starts both on 127.0.0.1, runs a scripted
# customer journey on the demo shop in headless Chromium, and prints what the collector
# received. `--serve` keeps the shop (http://127.0.0.1:8080) and the collector running.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cargo build -q -p omnitrail-collector
exec node tests/demo/journey.mjs "$@"
