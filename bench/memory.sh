#!/usr/bin/env bash
# Resident memory of `synthorg serve`: idle, under the simulator, and through a log burst with
# the OTLP collector down, where the exporter's queues (65,536 records per signal by default;
# every request queues a log record and a span) must bound memory whatever the length of the
# burst.
#
#   bench/memory.sh
#   SYNTHORG_BIN=path/to/synthorg bench/memory.sh   (an already built binary, e.g. of another commit)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SYNTHORG_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p synthorg
  bin=target/release/synthorg
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-memory-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
metric() { curl -s "http://127.0.0.1:$1/api/v1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
start() { # start PORT DIR [CONFIG]
  local args=(serve --data-dir "$2" --bind "127.0.0.1:$1")
  [ -n "${3:-}" ] && args+=(--config "$3")
  env $("$bin" config default | grep -q 'rate_limits:' && echo SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false) \
    SYNTHORG_LOGGING__LEVEL=warn "$bin" "${args[@]}" 2>"$2.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -f "$2/admin.key" ] && curl -sf "http://127.0.0.1:$1/api/v1/health" >/dev/null && break; sleep 0.1; done
}
simulate() { # simulate PORT DIR SECONDS
  "$bin" simulate --url "http://127.0.0.1:$1" --key-file "$2/admin.key" --rate 0 --concurrency 16 \
    --agents 32 --duration "$3s" >/dev/null 2>&1 &
  pids+=($!)
}

# 1. Idle, then under the simulator (no OTLP sink).
port=$(free_port)
start "$port" "$work/plain"
pid=${pids[-1]}
sleep 3
idle=$(rss_mib "$pid")
simulate "$port" "$work/plain" 20
peak=0
for _ in $(seq 100); do
  r=$(rss_mib "$pid"); peak=$(awk -v a="$peak" -v b="$r" 'BEGIN {print (b > a) ? b : a}')
  sleep 0.2
done
wait "${pids[-1]}" || true
printf 'serve idle:                                  %7.1f MiB RSS\n' "$idle"
printf 'serve under the simulator (16 clients, 20 s): %6.1f MiB RSS at peak\n' "$peak"

# 2. A log burst with the collector down: every request logs, the exporter cannot send.
dead=$(free_port)
cat >"$work/otlp.yaml" <<YAML
logging:
  sinks:
    - type: otlp
      endpoint: "http://127.0.0.1:$dead"
      level: info
YAML
port=$(free_port)
start "$port" "$work/burst" "$work/otlp.yaml"
pid=${pids[-1]}
sleep 1
base=$(rss_mib "$pid")
printf '\nOTLP collector down (queue capacity 65,536), serve before the burst: %.1f MiB RSS\n' "$base"
printf '%16s %16s %14s %10s\n' 'records emitted' 'dropped (full)' 'queue depth' 'RSS MiB'
simulate "$port" "$work/burst" 90
sim=${pids[-1]}
next=25000
rows=0
while kill -0 "$sim" 2>/dev/null; do
  emitted=$(metric "$port" 'synthorg_otlp_records_emitted_total{signal="logs"}'); emitted=${emitted:-0}
  if awk -v e="$emitted" -v n="$next" 'BEGIN {exit !(e >= n)}'; then
    full=$(metric "$port" 'synthorg_otlp_records_dropped_total{signal="logs",reason="queue_full"}')
    depth=$(metric "$port" 'synthorg_otlp_queue_depth{signal="logs"}')
    printf '%16.0f %16.0f %14.0f %10.1f\n' "$emitted" "${full:-0}" "${depth:-0}" "$(rss_mib "$pid")"
    rows=$(( rows + 1 ))
    next=$(( next * 2 ))
    [ "$next" -gt 400000 ] && { kill "$sim" 2>/dev/null || true; break; }
  fi
  sleep 0.2
done
# A burst that printed nothing measured nothing: say so instead of an empty table.
if [ "$rows" -eq 0 ]; then
  echo "no row: the server never reported 25,000 log records emitted (is synthorg_otlp_records_emitted_total{signal=\"logs\"} on /metrics?)" >&2
  exit 1
fi
