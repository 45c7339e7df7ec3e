#!/usr/bin/env bash
# API write throughput and latency of the real server on a fresh SQLite store, driven by
# `synthorg simulate` at rising concurrency, beside the anchor measured in the same run on
# the same disk: raw single-row SQLite commits with the same durability (WAL, synchronous=FULL).
#
#   bench/api.sh [SECONDS_PER_STEP]      (default 20)
#   SYNTHORG_BIN=path/to/synthorg bench/api.sh 10   (an already built binary, e.g. of another
#                                                   commit, to compare two in one session)
#   SYNTHORG_UNAUDITED_BIN=path   (with SYNTHORG_BIN: the same build with --features
#                                 bench-unaudited, for the audit section; else it is skipped)
#   BENCH_ONLY=audit bench/api.sh 20   (the anchor and the audit section only)
#   BENCH_ONLY=reservations bench/api.sh 20   (the anchor and the reservations section only)
#
# The simulated organization makes 80 % of its model calls under a budget reservation
# (`simulate --reserved`), as a runtime that enforces its cap would.
#
# Prints, per concurrency, with clients sending as fast as they can (closed loop): write
# requests/s (every POST of the steady phase commits), the task-transition and cost-report
# rates with their p50/p99, errors, and the ratio of write throughput to the raw commit rate.
# Then 64 clients offering a fixed load of half the raw commit rate (open loop), the latency an
# operator sees below saturation. Target at 64 clients: >= 50 % of the raw rate, p99 <= 20 ms,
# zero errors.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
bin=${SYNTHORG_BIN:-}
unaudited=${SYNTHORG_UNAUDITED_BIN:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-api-bench.XXXXXX")
if [ -z "$bin" ]; then
  # The audit section compares against the same code built without audit events (feature
  # bench-unaudited, never in the server): built first and copied, then the real binary.
  cargo build --release -q -p synthorg --features bench-unaudited
  cp target/release/synthorg "$work/synthorg-unaudited"
  unaudited="$work/synthorg-unaudited"
  cargo build --release -q -p synthorg
  bin=target/release/synthorg
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

raw=$(python3 bench/raw_commit.py "$work" 3000 | awk '{print $2}')

SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$bin" serve --data-dir "$work/data" --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do [ -f "$work/data/admin.key" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done

printf 'anchor: raw SQLite single-row commits (WAL, synchronous=FULL): %.0f commits/s\n\n' "$raw"
if [ -z "${BENCH_ONLY:-}" ]; then
printf '%-22s %10s %9s %9s %9s %9s %9s %9s %7s %8s\n' clients writes/s trans/s 'p50 ms' 'p99 ms' costs/s 'p50 ms' 'p99 ms' errors 'vs raw'
half=$(awk -v r="$raw" 'BEGIN {printf "%.0f", r / 2}')
for run in 1 4 16 64 "64@$half"; do
  clients=${run%@*}
  rate=0
  [ "$run" != "$clients" ] && rate=${run#*@}
  agents=$(( clients > 8 ? clients : 8 ))
  "$bin" simulate --url "http://127.0.0.1:$port" --key-file "$work/data/admin.key" --rate "$rate" \
    --concurrency "$clients" --agents "$agents" --duration "${seconds}s" --seed "$clients" \
    --summary-json "$work/c$clients.json" >"$work/c$clients.out" 2>&1 || true
  python3 bench/sim_summary.py "$work/c$clients.json" "$raw" "$run"
done

# Pricing: 16 clients with every catalogued call reporting its cost (synthorg keeps it and
# stores its own figure beside it) against the same with every such call leaving cost out
# (synthorg computes it). Each run gets a fresh server and store (a store that grows run after
# run would slow the later runs), in the order given, omitted, omitted, given, so that drift
# of the disk hits both alike. Target: cost reports/s with cost omitted within 5 % of given.
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
echo
printf '%-22s %10s %9s %9s %9s %9s %9s %9s %7s %8s\n' 'cost reported by' writes/s trans/s 'p50 ms' 'p99 ms' costs/s 'p50 ms' 'p99 ms' errors 'vs raw'
for step in 1:0 2:1 3:1 4:0; do
  n=${step%:*}
  omitted=${step#*:}
  label=$([ "$omitted" = 1 ] && echo "synthorg (omitted)" || echo "client (given)")
  SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$bin" serve --data-dir "$work/p$n" --bind "127.0.0.1:$port" 2>"$work/p$n.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -f "$work/p$n/admin.key" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
  "$bin" simulate --url "http://127.0.0.1:$port" --key-file "$work/p$n/admin.key" --rate 0 \
    --concurrency 16 --agents 16 --duration "${seconds}s" --seed 16 --cost-omitted "$omitted" --reserved 0 \
    --summary-json "$work/p$n.json" >"$work/p$n.out" 2>&1 || true
  python3 bench/sim_summary.py "$work/p$n.json" "$raw" "$label"
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
done
server_pid=""
python3 - "$work" <<'PY'
import json, sys
rate = lambda n: next(e["per_second"] for e in json.load(open(f"{sys.argv[1]}/p{n}.json"))["endpoints"] if e["endpoint"] == "POST /costs")
given, omitted = rate(1) + rate(4), rate(2) + rate(3)
print(f"cost reports/s, cost omitted vs given: {omitted / given:.3f}")
PY
else
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
  server_pid=""
fi

if [ "${BENCH_ONLY:-}" != audit ]; then

# Reservations: what a model call costs the server with and without one. Clients make only
# model calls (`simulate --workload model-calls`), flat out, under a budget with every limit
# set (high enough that nothing is refused, so every admission reads every scope): "plain"
# reports each call; "reserved" reserves its worst case first and the report settles it. At
# 16 and 64 clients, each run on a fresh server and store, in the order plain, reserved,
# reserved, plain. Target: a reserve + settle pair costs at most 2x a plain report, i.e.
# plain reports/s <= 2 x reserved calls/s.
echo
printf '%-22s %10s %9s %9s %9s %9s %9s %9s %7s %8s\n' 'model calls' writes/s trans/s 'p50 ms' 'p99 ms' costs/s 'p50 ms' 'p99 ms' errors 'vs raw'
limits='{"total_monthly": 1000000000, "per_agent_daily_limit": 1000000, "per_task_limit": 1000000, "per_agent_daily_tokens": 1000000000000}'
for clients in 16 64; do
  for step in 1:0 2:1 3:1 4:0; do
    n=${step%:*}
    reserved=${step#*:}
    run="r$clients-$n"
    SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$bin" serve --data-dir "$work/$run" --bind "127.0.0.1:$port" 2>"$work/$run.log" &
    server_pid=$!
    for _ in $(seq 100); do [ -f "$work/$run/admin.key" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
    curl -sf -X PUT -H "Authorization: Bearer $(cat "$work/$run/admin.key")" -H 'content-type: application/json' \
      -d "$limits" "http://127.0.0.1:$port/api/v1/budget/config" >/dev/null
    "$bin" simulate --url "http://127.0.0.1:$port" --key-file "$work/$run/admin.key" --rate 0 --workload model-calls \
      --concurrency "$clients" --agents "$clients" --duration "${seconds}s" --seed "$clients" --reserved "$reserved" \
      --summary-json "$work/$run.json" >"$work/$run.out" 2>&1 || true
    python3 bench/sim_summary.py "$work/$run.json" "$raw" "$clients $([ "$reserved" = 1 ] && echo reserved || echo plain)"
    kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
  done
done
server_pid=""
python3 - "$work" <<'PY'
import json, sys
def endpoints(run):
    return {e["endpoint"]: e for e in json.load(open(f"{sys.argv[1]}/{run}.json"))["endpoints"]}
for clients in (16, 64):
    plain = [endpoints(f"r{clients}-{n}") for n in (1, 4)]
    held = [endpoints(f"r{clients}-{n}") for n in (2, 3)]
    mean = lambda runs, name, field: sum(r[name][field] for r in runs) / len(runs)
    reports = mean(plain, "POST /costs", "per_second")
    calls = mean(held, "POST /costs", "per_second")
    print(f"{clients} clients: plain reports {reports:.0f}/s (p50 {mean(plain, 'POST /costs', 'p50_ms'):.2f} ms); "
          f"reserved calls {calls:.0f}/s (reserve p50 {mean(held, 'POST /budget/reservations', 'p50_ms'):.2f} ms, "
          f"settling report p50 {mean(held, 'POST /costs', 'p50_ms'):.2f} ms); "
          f"a reserve + settle pair costs {reports / calls:.2f}x a plain report")
PY
fi
if [ "${BENCH_ONLY:-}" = reservations ]; then
  exit 0
fi

# Audit trail: what the audit event of a write costs. Clients make only tool calls
# (`simulate --workload tool-calls`): each is a security verdict, an audited write (an
# escalation adds an approval decision, audited too). "audited" is this build; "unaudited"
# is the same code built with the bench-only feature bench-unaudited, whose writes skip
# their audit event (no seal, no read of the chain's head, no insert). 16 and 64 clients,
# each run on a fresh server and store, in the order audited, unaudited, unaudited, audited.
# Target: audited verdicts/s >= 80 % of unaudited.
if [ -z "$unaudited" ]; then
  echo; echo "audit trail: skipped (set SYNTHORG_UNAUDITED_BIN to a binary built with --features bench-unaudited)"
  exit 0
fi
echo
printf '%-22s %10s %9s %9s %9s %9s %9s %9s %7s %8s\n' 'tool calls' writes/s trans/s 'p50 ms' 'p99 ms' costs/s 'p50 ms' 'p99 ms' errors 'vs raw'
for clients in 16 64; do
  for step in 1:audited 2:unaudited 3:unaudited 4:audited; do
    n=${step%:*}
    kind=${step#*:}
    run="a$clients-$n"
    server=$([ "$kind" = audited ] && echo "$bin" || echo "$unaudited")
    SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$server" serve --data-dir "$work/$run" --bind "127.0.0.1:$port" 2>"$work/$run.log" &
    server_pid=$!
    for _ in $(seq 100); do [ -f "$work/$run/admin.key" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
    "$bin" simulate --url "http://127.0.0.1:$port" --key-file "$work/$run/admin.key" --rate 0 --workload tool-calls \
      --concurrency "$clients" --agents "$clients" --duration "${seconds}s" --seed "$clients" \
      --summary-json "$work/$run.json" >"$work/$run.out" 2>&1 || true
    events=$(curl -sf -H "Authorization: Bearer $(cat "$work/$run/admin.key")" "http://127.0.0.1:$port/api/v1/audit/head" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
    python3 bench/sim_summary.py "$work/$run.json" "$raw" "$clients $kind ($events ev)"
    kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
  done
done
server_pid=""
python3 - "$work" <<'PY'
import json, sys
def rate(run):
    by = {e["endpoint"]: e for e in json.load(open(f"{sys.argv[1]}/{run}.json"))["endpoints"]}
    return by["POST /security/evaluate"]["per_second"], by["POST /security/evaluate"]["p50_ms"]
for clients in (16, 64):
    audited = [rate(f"a{clients}-{n}") for n in (1, 4)]
    bare = [rate(f"a{clients}-{n}") for n in (2, 3)]
    mean = lambda runs, i: sum(r[i] for r in runs) / len(runs)
    print(f"{clients} clients: verdicts/s audited {mean(audited, 0):.0f} (p50 {mean(audited, 1):.2f} ms), "
          f"unaudited {mean(bare, 0):.0f} (p50 {mean(bare, 1):.2f} ms): audited keeps {mean(audited, 0) / mean(bare, 0) * 100:.0f} %")
PY
