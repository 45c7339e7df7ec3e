#!/usr/bin/env bash
# The request path at full load, against its own anchor in the same run: `GET /health` (no key,
# no store), an authenticated read (`GET /api/v1/agents?limit=1` with an agent key) and a durable
# cost report (`POST /api/v1/costs`, one fsynced write, with an agent key), each driven by wrk
# (a light C client, so the server is the bottleneck) on a fresh SQLite store.
#
#   bench/wrk.sh [SECONDS] [CONNECTIONS]      (defaults 10 s, 64 connections)
#   SYNTHORG_BIN=path/to/synthorg bench/wrk.sh   (an already built binary, e.g. of another commit)
#
# Prints requests/s, p50 and p99 per endpoint and each one's ratio to /health. Targets:
# authenticated read >= 50 % of /health, cost reports >= 35 %, no non-2xx answer.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
bin=${SYNTHORG_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p synthorg
  bin=target/release/synthorg
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-wrk.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false \
  "$bin" serve --data-dir "$work/data" --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server_pid=$!
base="http://127.0.0.1:$port/api/v1"
for _ in $(seq 100); do [ -f "$work/data/admin.key" ] && curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
admin=$(cat "$work/data/admin.key")
agent=$(curl -sf -H "Authorization: Bearer $admin" --json '{"name": "bench", "role": "developer"}' "$base/agents" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
key=$(curl -sf -H "Authorization: Bearer $admin" --json "{\"role\": \"agent\", \"agent_id\": \"$agent\"}" "$base/keys" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

# One Lua script for every endpoint: the method, body and key come from the environment; it
# prints requests/s, p50/p99 in ms and the count of non-2xx answers as one line.
cat >"$work/run.lua" <<'LUA'
wrk.method = os.getenv("WRK_METHOD")
wrk.body = os.getenv("WRK_BODY") ~= "" and os.getenv("WRK_BODY") or nil
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("WRK_KEY")
if key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
# wrk counts answers of 400 and above in summary.errors.status.

run() { # name method path key body
  WRK_METHOD=$2 WRK_KEY=$4 WRK_BODY=$5 wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/run.lua" \
    "http://127.0.0.1:$port$3" | awk -v name="$1" '/^RESULT/ {print name, $2, $3, $4, $5, $6}'
}
cost="{\"agent_id\": \"$agent\", \"provider\": \"anthropic\", \"model\": \"claude-sonnet-4-5\", \"input_tokens\": 1200, \"output_tokens\": 300}"
{
  run health GET /api/v1/health "" ""
  run read GET "/api/v1/agents?limit=1" "$key" ""
  run cost POST /api/v1/costs "$key" "$cost"
} >"$work/results"
printf '%s connections, %s s each, one fresh SQLite store (WAL, synchronous=FULL)\n' "$connections" "$seconds"
awk '
  $1 == "health" { h = $2 }
  { rows[NR] = $0 }
  END {
    printf "%-34s %10s %9s %9s %8s %9s\n", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "vs health"
    split("GET /api/v1/health|GET /api/v1/agents?limit=1 (agent key)|POST /api/v1/costs (agent key)", label, "|")
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, " ")
      printf "%-34s %10.0f %9.3f %9.3f %8d %8.0f %%\n", label[i], f[2], f[3], f[4], f[5], 100 * f[2] / h
    }
  }' "$work/results"
if awk '$5 > 0 { bad = 1 } END { exit !bad }' "$work/results"; then
  echo "some requests failed (non-2xx or transport errors)" >&2
  exit 1
fi
