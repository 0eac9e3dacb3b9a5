#!/usr/bin/env bash
# Builds the SDK for the browser into js/dist/ (git-ignored):
#   cargo (wasm32, release) -> pinned wasm-bindgen (--target web) -> wasm-opt -Oz -> esbuild
# Outputs: js/dist/omnitrail.js (the loader: picks a variant, js/src/variant.js; the small
#          core's glue is bundled into it), each variant's wasm: js/dist/omnitrail_core_bg.wasm
#          (the small core, no cart, app bridge or linkedDomains) and js/dist/omnitrail_bg.wasm
#          (everything) with its glue js/dist/omnitrail_full.js,
#          js/dist/snippet.min.js (the inline snippet), js/dist/sizes.json (raw/gzip/brotli),
#          js/dist/index.js + index.d.ts (the npm entry, js/scripts/build-npm.mjs; not in sizes.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
out=js/dist
mkdir -p "$out/pkg"
# The wasm is built with the nightly pinned in scripts/wasm-nightly.txt, with panics that abort
# at once (`-Cpanic=immediate-abort`, std rebuilt with it): no panic formatter, no
# `core::fmt` kept by it (docs/size.md); `-Zlocation-detail=none` drops the file names and
# lines that panic locations (never printed now) kept in the data: −234 B gzip. Everything else
# (native tests, the collector, clippy) stays on stable. A machine served another nightly (dated names cannot be installed here)
# does not get an unchecked build: it builds on stable, says so loudly, and sizes.json records
# the toolchain, so scripts/check-size.mjs checks it against the stable fallback budget.
pinned="$(cat scripts/wasm-nightly.txt)"
served="$(rustup run nightly rustc -V 2>/dev/null || true)"
# setup.sh adds these; without them the nightly cannot build std for wasm32.
rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' || served="$served (without rust-src)"
rustup target list --toolchain nightly --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || served="$served (without wasm32-unknown-unknown)"
if [ "${OMNITRAIL_WASM_TOOLCHAIN:-}" != stable ] && [ "$served" = "$pinned" ]; then
  toolchain=nightly
else
  toolchain=stable
  if [ "${OMNITRAIL_WASM_TOOLCHAIN:-}" != stable ]; then
    printf '[build] WARNING: the wasm is built on STABLE (about 4 %% larger), not the pinned nightly:\n' >&2
    printf '[build]   pinned (scripts/wasm-nightly.txt):    %s\n[build]   served (rustup run nightly rustc -V): %s\n' \
      "$pinned" "${served:-none}" >&2
    printf '[build]   to adopt the served nightly: write its version into scripts/wasm-nightly.txt, rebuild,\n' >&2
    printf '[build]   run the tests and set the budgets from the new js/dist/sizes.json (docs/size.md).\n' >&2
  fi
fi

# One wasm variant: $1 = the wasm-bindgen output name, then cargo's feature arguments.
#   omnitrail      the full SDK (default features): pages that use the cart, and the npm entry
#   omnitrail_core the small core (no `cart`, `bridge`, `handover`): what the script-tag loader
#                  serves by default
# js/src/variant.js picks one per page; docs/size.md has the bytes of each.
variant() {
  local name="$1"; shift
  local wasm_in
  if [ "$toolchain" = nightly ]; then
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Csymbol-mangling-version=legacy -Zlocation-detail=none" CARGO_TARGET_DIR=target/nightly \
      cargo +nightly build -q -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown \
      --profile wasm-release -p omnitrail "$@"
    wasm_in=target/nightly/wasm32-unknown-unknown/wasm-release/omnitrail.wasm
  else
    cargo build -q --target wasm32-unknown-unknown --profile wasm-release -p omnitrail "$@"
    wasm_in=target/wasm32-unknown-unknown/wasm-release/omnitrail.wasm
  fi
  wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" --out-name "$name" "$wasm_in"
  node js/scripts/patch-glue.mjs "$out/pkg/$name.js"
  # Two rounds of flatten + re-loop + -Oz: about 0.8 KB gzip smaller than one -Oz (measured
  # 2026-12-06 on this SDK; docs/size.md), for ~15 s more build time. Then the imports, their
  # module and the exports get one- or two-letter names (wasm-opt prints the mapping on stdout)
  # and js/scripts/minify-glue.mjs renames them in the glue: −3.7 KB gzip per page (docs/size.md).
  # `--low-memory-unused` (−0.3 KB) lets wasm-opt fold `p + small constant` into a load's offset:
  # it assumes nothing lives below address 1024, which holds for rustc's wasm32 layout (the
  # 1 MiB stack sits first and grows down from 1 MiB; static data starts above it), as it does
  # for Emscripten, which passes the flag by default.
  # `--one-caller-inline-max-function-size=20` (−2.3 KB gzip on the core wasm): wasm-opt inlines
  # every function with one caller by default, however large; the setup then becomes one
  # 25 KB constructor whose merged locals and re-laid-out blocks compress worse than the same
  # code left in its functions. Only functions up to 20 bytes are inlined into a single caller.
  # One plain `-Oz` before the two rounds: −34 B gzip on the core wasm, −179 on the full one.
  # `--always-inline-max-function-size=4` (default 2): −29 B on the core wasm, −112 on the full one.
  js/node_modules/.bin/wasm-opt --one-caller-inline-max-function-size=20 --always-inline-max-function-size=4 --low-memory-unused -Oz --flatten --rereloop -Oz -Oz --flatten --rereloop -Oz -Oz \
    --minify-imports-and-exports-and-modules \
    --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
    --enable-call-indirect-overlong --strip-producers --strip-target-features \
    "$out/pkg/${name}_bg.wasm" -o "$out/${name}_bg.wasm" > "$out/pkg/${name}.names.json"
  node js/scripts/minify-glue.mjs "$out/pkg/$name.js" "$out/pkg/${name}.names.json" "$out/${name}_bg.wasm"
}
variant omnitrail
variant omnitrail_core --no-default-features
esbuild=js/node_modules/.bin/esbuild
# The loader bundles the small core's glue ($out/pkg/omnitrail_core.js, which imports
# js/src/builtins.js as the loader does: one copy). The instance's pointer property, private to
# the glue, gets a short name (−25 B gzip per glue).
if ! grep -q "from '../../src/builtins.js'" "$out/pkg/omnitrail_core.js"; then
  echo "[build] the wasm-bindgen glue no longer imports ../../src/builtins.js: update scripts/build.sh" >&2
  exit 1
fi
rm -f "$out/omnitrail_core.js" # an earlier build's separate core glue
"$esbuild" js/src/loader.js --bundle --format=esm --minify --target=es2020 \
  --mangle-props='^(__wbg_ptr|__destroy_into_raw)$' --log-level=warning --outfile="$out/omnitrail.js"
# The full build's wasm-bindgen glue, as the module the loader imports with its wasm. The glue
# takes js/src/builtins.js from the loader, which re-exports it (the page's module map holds the
# loader once): one copy of it per page, so one about:blank frame at most on a hostile page.
sed "s#from '../../src/builtins.js'#from './omnitrail.js'#" "$out/pkg/omnitrail.js" > "$out/pkg/omnitrail.tag.js"
if ! grep -q "from './omnitrail.js'" "$out/pkg/omnitrail.tag.js"; then
  echo "[build] the wasm-bindgen glue no longer imports ../../src/builtins.js: update scripts/build.sh" >&2
  exit 1
fi
"$esbuild" "$out/pkg/omnitrail.tag.js" --bundle --external:./omnitrail.js --format=esm --minify --target=es2020 \
  --mangle-props='^(__wbg_ptr|__destroy_into_raw)$' --log-level=warning --outfile="$out/omnitrail_full.js"
"$esbuild" js/src/snippet.js --minify --target=es2017 --log-level=warning --outfile="$out/snippet.min.js"
node scripts/sizes.mjs "$out" "$toolchain" > "$out/sizes.json"
node js/scripts/build-npm.mjs
