#!/usr/bin/env bash
# Builds the SDK for the browser into js/dist/ (git-ignored):
#   cargo (wasm32, release) -> pinned wasm-bindgen (--target web) -> wasm-opt -Oz -> esbuild
# Outputs: js/dist/omnitrail.js (loader + glue, one ES module), js/dist/omnitrail_bg.wasm,
#          js/dist/snippet.min.js (the inline snippet), js/dist/sizes.json (raw/gzip/brotli),
#          js/dist/index.js + index.d.ts (the npm entry, js/scripts/build-npm.mjs; not in sizes.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
out=js/dist
mkdir -p "$out/pkg"
cargo build -q --target wasm32-unknown-unknown --profile wasm-release -p omnitrail
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  target/wasm32-unknown-unknown/wasm-release/omnitrail.wasm
node js/scripts/patch-glue.mjs "$out/pkg/omnitrail.js"
# Two rounds of flatten + re-loop + -Oz: about 0.8 KB gzip smaller than one -Oz (measured
# 2026-12-06 on this SDK; docs/size.md), for ~15 s more build time.
js/node_modules/.bin/wasm-opt --flatten --rereloop -Oz -Oz --flatten --rereloop -Oz -Oz \
  --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
  --enable-call-indirect-overlong --strip-producers --strip-target-features \
  "$out/pkg/omnitrail_bg.wasm" -o "$out/omnitrail_bg.wasm"
esbuild=js/node_modules/.bin/esbuild
"$esbuild" js/src/loader.js --bundle --format=esm --minify --target=es2020 \
  --log-level=warning --outfile="$out/omnitrail.js"
"$esbuild" js/src/snippet.js --minify --target=es2017 --log-level=warning --outfile="$out/snippet.min.js"
node scripts/sizes.mjs "$out" > "$out/sizes.json"
node js/scripts/build-npm.mjs
