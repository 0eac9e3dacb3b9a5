#!/usr/bin/env bash
# Installs, idempotently, everything the build, the demo and the tests need on a fresh
# machine of this kind (Debian 12, rustup, node 20): the wasm32 target, the nightly of the wasm
# build (+ rust-src and its wasm32 target), the pinned
# wasm-bindgen CLI, a wasm-opt that reads today's rustc output (npm binaryen), Debian's
# Chromium + chromedriver, Debian's PostgreSQL server (for the collector's tests), Debian's nginx
# (the load balancer of the cluster e2e test and benchmark), and the npm
# packages of js/, tests/, tests/packaging/ and examples/spa/.
# Each step checks first and skips when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml | head -1)"
: "${WASM_BINDGEN_VERSION:?could not read the pinned wasm-bindgen version from Cargo.toml}"

log() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The nightly the wasm is built with (scripts/build.sh; its exact version is pinned in
# scripts/wasm-nightly.txt). Installed only when absent: an installed nightly is never updated
# here, so the pinned one stays. Dated toolchain names are not served by this machine's mirror,
# so a fresh machine gets the nightly served today; build.sh compares it with the pin and
# falls back to stable, loudly, when they differ. A failed install is not fatal for the same
# reason.
if ! rustup run nightly rustc -V >/dev/null 2>&1; then
  log "installing the nightly toolchain (the wasm build; scripts/wasm-nightly.txt pins its version)"
  rustup toolchain install nightly --profile minimal || log "WARNING: nightly not installed: the wasm will be built on stable"
fi
if rustup run nightly rustc -V >/dev/null 2>&1; then
  if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    log "adding rust-src to nightly (-Zbuild-std)"
    rustup component add rust-src --toolchain nightly || log "WARNING: rust-src not added: the wasm will be built on stable"
  fi
  if ! rustup target list --toolchain nightly --installed | grep -qx wasm32-unknown-unknown; then
    log "adding wasm32-unknown-unknown to nightly"
    rustup target add wasm32-unknown-unknown --toolchain nightly || log "WARNING: nightly wasm32 target not added: the wasm will be built on stable"
  fi
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once per machine)"
  # No --locked: the CLI's own lockfile pins a crate version the registry here does not serve.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
fi

if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  log "installing Debian chromium + chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# PostgreSQL server binaries: the collector's suites also run against a private throwaway
# cluster (examples/collector/tests/common/pg.rs starts it as `nobody` on its own port).
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  log "installing Debian postgresql (server binaries for the collector's PostgreSQL tests)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
fi

# nginx: the load balancer in front of three collectors (tests/e2e/cluster.test.mjs,
# examples/collector/bench-cluster.sh). Those run their own unprivileged nginx on a high port
# with their own config (`-p DIR -c CONF`); the package's system service is not needed, so it
# is kept from starting during the install (policy-rc.d answers "denied", as in containers).
if [ ! -x /usr/sbin/nginx ]; then
  log "installing Debian nginx (the load balancer of the cluster test and benchmark; its service is not started)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  policy_rc_d_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_rc_d_added=1
  fi
  $SUDO apt-get update -qq
  status=0
  $SUDO apt-get install -y -qq nginx >/dev/null || status=$?
  if [ -n "$policy_rc_d_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  [ "$status" = 0 ] || exit "$status"
fi

npm_ci() { # $1 = directory with package.json + package-lock.json; $2 = install (see below)
  local dir="$1" stamp="$1/node_modules/.omnitrail-lock-hash" want cmd=ci
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  # Vite's rollup lists one native binary per platform as optional dependencies; the registry
  # here serves only some, so the lockfile cannot list them all and `npm ci` refuses it
  # ("Missing: @rollup/... from lock file"). `npm install --no-save` installs the lockfile's
  # versions and leaves the lockfile untouched.
  [ "${2:-}" = install ] && cmd="install --no-save"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "npm $cmd in $dir"
    (cd "$dir" && npm $cmd --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}
for d in js tests; do [ -f "$d/package-lock.json" ] && npm_ci "$d"; done
# The bundlers of the packaging test, and the SPA example; both link js/ (file:../../js).
for d in tests/packaging examples/spa; do [ -f "$d/package-lock.json" ] && npm_ci "$d" install; done
log "ok"
