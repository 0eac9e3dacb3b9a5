#!/usr/bin/env bash
# The collector's load benchmark across stores and instance counts (issue #15): loadgen
# (src/bin/loadgen.rs) against
#   1. one collector on SQLite (an on-disk file: WAL, synchronous=FULL),
#   2. one collector on PostgreSQL,
#   3. three collectors on one PostgreSQL database behind nginx (round robin),
# each with unique and 80 %-replay traffic, measuring messages/s, latency and the CPU time of
# the collector(s), PostgreSQL (postmaster + backends) and nginx (master + worker).
# Builds like bench.sh (opt-level 3, thin LTO, in target/bench); starts a private PostgreSQL
# cluster (as `nobody` when run as root) and an unprivileged nginx, both on their own
# 127.0.0.1 ports under one temp dir, and removes everything at exit.
#
#   examples/collector/bench-cluster.sh [--duration-secs 10] [--concurrency 16]   # other args go to loadgen
#
# Prints a table per configuration and a summary; writes target/bench-cluster.json.
# Needs /usr/lib/postgresql/15/bin and /usr/sbin/nginx (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PG_BIN="${OMNITRAIL_PG_BIN:-/usr/lib/postgresql/15/bin}"
NGINX=/usr/sbin/nginx
OUT="${BENCH_CLUSTER_JSON:-$ROOT/target/bench-cluster.json}"
for f in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$NGINX"; do
  [ -x "$f" ] || { echo "bench-cluster: $f missing (scripts/setup.sh installs postgresql and nginx)" >&2; exit 1; }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build --release -p omnitrail-collector --bins
BIN="$ROOT/$CARGO_TARGET_DIR/release"
[ "${CARGO_TARGET_DIR:0:1}" = / ] && BIN="$CARGO_TARGET_DIR/release"

DIR="$(mktemp -d /tmp/omnitrail-bench-cluster-XXXXXX)"
chmod 755 "$DIR"
RUNAS=()
if [ "$(id -u)" = 0 ]; then RUNAS=(runuser -u nobody --); mkdir "$DIR/pg"; chown nobody:nogroup "$DIR/pg"; else mkdir "$DIR/pg"; fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null || true; done
  [ -f "$DIR/pg/data/postmaster.pid" ] && "${RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# PostgreSQL 15 as configured by Debian's initdb, durable commits (synchronous_commit=on, fsync on).
PG_PORT="$(free_port)"
"${RUNAS[@]}" "$PG_BIN/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$DIR/pg/data" >/dev/null
"${RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w -t 60 \
  -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" start >/dev/null
POSTMASTER="$(head -1 "$DIR/pg/data/postmaster.pid")"
psql_() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
PG_VERSION="$(psql_ 'SHOW server_version')"

# Starts a collector on store $1; sets COLLECTOR_URL and COLLECTOR_PID.
STARTED=0
start_collector() {
  STARTED=$((STARTED + 1))
  local log="$DIR/collector-$STARTED" # a new file each time: never read a stopped one's address
  "$BIN/omnitrail-collector" --addr 127.0.0.1:0 --store "$1" --write-key demo --quiet \
    --rate-limit 0 --max-connections-per-ip 0 >"$log.out" 2>"$log.err" &
  COLLECTOR_PID=$!
  PIDS+=("$COLLECTOR_PID")
  for _ in $(seq 200); do
    COLLECTOR_URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$log.out" 2>/dev/null || true)"
    [ -n "$COLLECTOR_URL" ] && return 0
    kill -0 "$COLLECTOR_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench-cluster: the collector did not start:" >&2; cat "$log.err" >&2; exit 1
}
stop_all_collectors() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

LOADGEN_ARGS=("$@")
run_loadgen() { # $1 = label, $2 = file stem, $3 = url, rest = --cpu …
  local label="$1" stem="$2" url="$3"; shift 3
  echo
  echo "== $label (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/loadgen" --url "$url" --label "$label" --json "$DIR/$stem.json" "$@" "${LOADGEN_ARGS[@]}"
}

# 1. One collector, SQLite on disk.
start_collector "$DIR/sqlite.db"
run_loadgen "1×SQLite" sqlite "$COLLECTOR_URL" --cpu "collector=$COLLECTOR_PID"
stop_all_collectors

# 2. One collector, PostgreSQL.
psql_ "CREATE DATABASE bench1" >/dev/null
start_collector "postgres://postgres@127.0.0.1:$PG_PORT/bench1"
run_loadgen "1×PostgreSQL" pg1 "$COLLECTOR_URL" --cpu "collector=$COLLECTOR_PID" --cpu "postgres=$POSTMASTER"
stop_all_collectors

# 3. Three collectors on one PostgreSQL database behind nginx (the config the collector README
# documents and tests/e2e/cluster.test.mjs tests).
psql_ "CREATE DATABASE bench3" >/dev/null
UPSTREAMS=""
CPU_ARGS=()
for _ in 1 2 3; do
  start_collector "postgres://postgres@127.0.0.1:$PG_PORT/bench3"
  UPSTREAMS+="    server ${COLLECTOR_URL#http://};"$'\n'
  CPU_ARGS+=(--cpu "collector=$COLLECTOR_PID")
done
NGINX_PORT="$(free_port)"
mkdir "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/client_body;
  proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi;
  uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  upstream omnitrail_collectors {
$UPSTREAMS    keepalive 32;
    keepalive_timeout 4s;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    client_max_body_size 2m;
    location / {
      proxy_pass http://omnitrail_collectors;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
EOF
"$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null && break; sleep 0.05; done
run_loadgen "3×PostgreSQL behind nginx" pg3 "http://127.0.0.1:$NGINX_PORT" \
  "${CPU_ARGS[@]}" --cpu "postgres=$POSTMASTER" --cpu "nginx=$NGINX_PID"
echo
echo "rows stored: bench1 $(psql_db bench1 "SELECT count(*) FROM messages"), bench3 $(psql_db bench3 "SELECT count(*) FROM messages")"
stop_all_collectors
if [ -s "$DIR/nginx/error.log" ]; then echo "nginx error log (last 20 lines):"; tail -20 "$DIR/nginx/error.log"; fi
for f in "$DIR"/collector-*.err; do
  if grep -q '"level":"\(error\|warn\)"' "$f" 2>/dev/null; then echo "$(basename "$f"): $(grep -c '"level":"\(error\|warn\)"' "$f") warnings/errors, e.g.:"; grep -m3 '"level":"\(error\|warn\)"' "$f"; fi
done

# Summary (markdown) and the combined JSON.
node - "$DIR" "$OUT" "$PG_VERSION" <<'EOF'
const fs = require("fs");
const [dir, out, pgVersion] = process.argv.slice(2);
const runs = ["sqlite", "pg1", "pg3"].map((s) => JSON.parse(fs.readFileSync(`${dir}/${s}.json`, "utf8")));
const f0 = (x) => Math.round(x).toLocaleString("en-US").replace(/,/g, " ");
const f2 = (x) => x.toFixed(2);
console.log("\n| configuration | traffic | msgs/s | stored/s | p50 ms | p99 ms | errors | CPU cores: collector(s) | postgres | nginx | loadgen | msgs per server CPU-s |");
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of runs) for (const s of r.scenarios) {
  const c = (k) => (s.cpu_secs[k] === undefined ? "—" : f2(s.cpu_secs[k] / s.seconds));
  console.log(`| ${r.label} | ${s.name === "unique" ? "unique" : `${Math.round(s.dup_ratio * 100)} % replays`} | ${f0(s.messages_per_sec)} | ${f0(s.stored_per_sec)} | ${f2(s.p50_ms)} | ${f2(s.p99_ms)} | ${s.errors} | ${c("collector")} | ${c("postgres")} | ${c("nginx")} | ${c("loadgen")} | ${f0(s.msgs_per_server_cpu_sec ?? 0)} |`);
}
fs.writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), postgres: pgVersion, cpus: require("os").cpus().length, runs }, null, 2));
console.log(`\nwrote ${out}`);
EOF
