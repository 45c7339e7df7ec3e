#!/usr/bin/env bash
# API write throughput on PostgreSQL with one and two replicas, beside SQLite, in one run.
#
#   bench/api_postgres.sh [SECONDS_PER_STEP]      (default 15)
#
# PostgreSQL: $SYNTHORG_BENCH_PG_URL, else the server scripts/test-postgres finds or starts on
# 127.0.0.1:5432; the bench works in a schema of its own and drops it at the end.
#
# Anchors, measured in the same run with pgbench on the same server (synchronous_commit on,
# as synthorg runs): single-row INSERT commits from 1 client and from 64 clients. Then
# `synthorg simulate` drives, at 16 and 64 clients (closed loop): the embedded SQLite store,
# one replica on PostgreSQL, and two replicas on PostgreSQL driven round robin. Every process
# (PostgreSQL, the replicas, the simulator) shares this machine's cores.
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
cd "$(dirname "$0")/.."
seconds=${1:-15}
cargo build --release -q -p synthorg
bin=target/release/synthorg
url=${SYNTHORG_BENCH_PG_URL:-$(scripts/test-postgres)}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
pgbench=$(command -v pgbench || echo "$pgbin/pgbench")
work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-pg-bench.XXXXXX")
schema="bench_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_sqlite CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Anchors: raw single-row commits on the same server.
psql "$url" -qc "CREATE SCHEMA $schema; CREATE TABLE $schema.anchor (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v BIGINT NOT NULL)"
echo "INSERT INTO $schema.anchor (v) VALUES (1);" >"$work/anchor.sql"
anchor() { "$pgbench" -n -f "$work/anchor.sql" -c "$1" -j 2 -T 5 "$url" 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}'; }
raw1=$(anchor 1)
raw64=$(anchor 64)
psql "$url" -qc "DROP SCHEMA $schema CASCADE"
raw_sqlite=$(python3 bench/raw_commit.py "$work" 3000 | awk '{print $2}')
printf 'anchors: PostgreSQL single-row INSERT commits (pgbench, same server): 1 client %s/s, 64 clients %s/s\n' "$raw1" "$raw64"
printf '         SQLite single-row commits (WAL, synchronous=FULL, same disk): %.0f/s\n\n' "$raw_sqlite"

# start NAME [env…]: a replica on a free port, its API root in $base_NAME, its data in $work/NAME.
start() {
  local name=$1; shift
  local port; port=$(free_port)
  env SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$@" "$bin" serve --data-dir "$work/$name" --bind "127.0.0.1:$port" \
    2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/api/v1/health/ready" >/dev/null && break; sleep 0.1; done
  eval "base_$name=http://127.0.0.1:$port"
}
stop_all() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

# run LABEL KEYFILE CLIENTS ANCHOR URL…
run() {
  local label=$1 key=$2 clients=$3 anchor=$4; shift 4
  local urls=()
  for u in "$@"; do urls+=(--url "$u"); done
  local agents=$(( clients > 8 ? clients : 8 ))
  "$bin" simulate "${urls[@]}" --key-file "$key" --rate 0 --concurrency "$clients" --agents "$agents" \
    --duration "${seconds}s" --seed "$clients" --summary-json "$work/s.json" >"$work/s.out" 2>&1 || true
  python3 bench/sim_summary.py "$work/s.json" "$anchor" "$label"
}

printf '%-22s %10s %9s %9s %9s %9s %9s %9s %7s %8s\n' store writes/s trans/s 'p50 ms' 'p99 ms' costs/s 'p50 ms' 'p99 ms' errors 'vs raw'
for clients in 16 64; do
  start sqlite
  run "sqlite, $clients" "$work/sqlite/admin.key" "$clients" "$raw_sqlite" "$base_sqlite"
  stop_all
  rm -rf "$work/sqlite"

  pg=(SYNTHORG_DATABASE__URL="$url" SYNTHORG_DATABASE__SCHEMA="$schema")
  start a "${pg[@]}"
  run "pg 1 replica, $clients" "$work/a/admin.key" "$clients" "$raw64" "$base_a"
  start b "${pg[@]}"
  run "pg 2 replicas, $clients" "$work/a/admin.key" "$clients" "$raw64" "$base_a" "$base_b"
  stop_all
  psql "$url" -qc "DROP SCHEMA $schema CASCADE"
  rm -rf "$work/a" "$work/b"
done
echo
echo "vs raw: writes/s as a percentage of the store's own anchor: SQLite rows against raw SQLite commits,"
echo "PostgreSQL rows against 64 pgbench clients' raw commits on the same server."
