#!/usr/bin/env bash
# Two synthorg binaries (for example two commits) side by side in one run: API write
# throughput at 64 clients sending flat out, on a fresh SQLite store per trial, trials
# alternating A, B, A, B … so that the machine's drift (a virtual disk's fsync rate moves by
# tens of percent over minutes) hits both alike. Prints every trial and, per binary, the
# median writes/s and median p99 of cost reports, and B's medians as a ratio of A's.
#
#   bench/compare_api.sh BIN_A BIN_B [TRIALS] [SECONDS]     (defaults: 6 trials of 10 s)
#   SIM_BIN=BIN_A bench/compare_api.sh …   drives both servers with the same simulator (by
#                                          default each binary drives itself), so that a change
#                                          of the workload does not pass for a change of the server
#
# For example, the commit before a change against the working tree:
#   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && cargo build --release -p synthorg)
#   cargo build --release -p synthorg
#   bench/compare_api.sh /tmp/before/target/release/synthorg target/release/synthorg
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 64; }
bins=("$1" "$2")
trials=${3:-6}
seconds=${4:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-compare.XXXXXX")
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The per-key rate limits would cap the load; binaries from before they existed refuse the
# setting, so it is passed only to those that know it.
limits_off() { "$1" config default | grep -q 'rate_limits:' && echo SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false || true; }

trial() { # binary label n
  local bin=$1 label=$2 n=$3 port data
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  data="$work/$label-$n"
  env $(limits_off "$bin") SYNTHORG_LOGGING__LEVEL=warn "$bin" serve --data-dir "$data" --bind "127.0.0.1:$port" 2>"$data.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -f "$data/admin.key" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
  "${SIM_BIN:-$bin}" simulate --url "http://127.0.0.1:$port" --key-file "$data/admin.key" --rate 0 --concurrency 64 \
    --agents 64 --duration "${seconds}s" --seed "$n" --summary-json "$data.json" >"$data.out" 2>&1 || true
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  python3 - "$data.json" "$label" "$n" >>"$work/trials" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
by = {e["endpoint"]: e for e in s["endpoints"]}
writes = sum(e["per_second"] for k, e in by.items() if k.startswith("POST") and k not in ("POST /agents", "POST /keys"))
errors = s["server_errors"] + s["transport_errors"] + s["client_errors"]
print(sys.argv[2], sys.argv[3], round(writes), by.get("POST /costs", {}).get("p99_ms", 0), errors)
EOF
  tail -1 "$work/trials"
}

echo "A = ${bins[0]}"
echo "B = ${bins[1]}"
echo "label trial writes/s cost_p99_ms errors"
for n in $(seq "$trials"); do
  trial "${bins[0]}" A "$n"
  trial "${bins[1]}" B "$n"
done
python3 - "$work/trials" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for label in "AB":
    mine = [r for r in rows if r[0] == label]
    med[label] = (statistics.median(float(r[2]) for r in mine), statistics.median(float(r[3]) for r in mine))
    errors = sum(int(r[4]) for r in mine)
    print(f"{label}: median {med[label][0]:.0f} writes/s, median cost p99 {med[label][1]:.2f} ms, errors {errors}")
print(f"B/A: writes/s {med['B'][0] / med['A'][0]:.3f}, cost p99 {med['B'][1] / med['A'][1]:.3f}")
EOF
