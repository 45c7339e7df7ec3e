#!/usr/bin/env bash
# The tool gateway against the same MCP server called directly, in one run, under the same
# open-loop load: a fast MCP stub over Streamable HTTP (examples/mcp_stub.rs, 500 tools; the
# anchor, measured directly first) and synthorg's /mcp/stub in front of it (a verdict, its
# evaluation record and audit event per call, on a fresh SQLite store, with a policy that
# denies some of the stub's tools). The load generator (examples/gateway_load.rs, modes
# mcp-call and mcp-list) opens a session, then sends tools/call at 50, 100, 200 and 500
# calls/s, and tools/list (500 tools, filtered by the policy) at 20/s.
#
#   bench/mcp.sh [SECONDS]        (default 5 s per point)
#
# Prints, per rate: achieved rate, errors, p50 / p99 latency direct and through synthorg,
# and the overhead (through synthorg minus direct, same rate). Targets: overhead p50 <= 1 ms
# and p99 <= 5 ms at 200 calls/s; tools/list with 500 tools and a policy <= 2 ms (p50).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
cargo build --release -q -p synthorg
cargo build --release -q -p synthorg-gateway --examples
load=target/release/examples/gateway_load
source bench/lib.sh mcp

start_stub target/release/examples/mcp_stub 0 500

cat >"$work/synthorg.yaml" <<YAML
gateway:
  mcp:
    servers:
      stub:
        url: http://127.0.0.1:$stub/mcp
security:
  policies:
    standard:
      denied_tools: ["stub.tool_1*", "stub.tool_3*"]
      escalate_action_types: [delete, admin]
YAML
start_synthorg "$work/synthorg.yaml"
agent_key

direct="http://127.0.0.1:$stub/mcp"
gateway="http://127.0.0.1:$port/mcp/stub"
for point in "mcp-call 50" "mcp-call 100" "mcp-call 200" "mcp-call 500" "mcp-list 20"; do
  read -r mode rate <<<"$point"
  for t in "direct|$direct" "synthorg|$gateway"; do
    IFS='|' read -r name url <<<"$t"
    echo "$name $mode $("$load" "$url" "$key" "$rate" "$seconds" "$mode" 64)" >>"$work/results"
  done
done
# The anchor of what one durable verdict costs on this disk: fdatasync of a 4 KiB write in
# the data directory's file system (a tool call commits its evaluation and audit event
# before the server sees the call).
python3 - "$work/data" >>"$work/results" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT)
times = []
for _ in range(300):
    os.write(fd, b"x" * 4096)
    t = time.perf_counter()
    os.fdatasync(fd)
    times.append((time.perf_counter() - t) * 1e3)
os.close(fd)
os.unlink(path)
times.sort()
print(f"fsync anchor {times[len(times) // 2]:.3f} {times[int(len(times) * 0.99)]:.3f}")
PY
python3 - "$work/results" <<'PY'
import json, sys
rows = {}
fsync = None
for line in open(sys.argv[1]):
    if line.startswith("fsync anchor"):
        fsync = [float(x) for x in line.split()[2:]]
        continue
    name, mode, data = line.split(" ", 2)
    r = json.loads(data)
    rows[(name, mode, r["rate"])] = r
print(f"{'request':<11}{'rate':>6}{'direct ok/err':>15}{'p50':>8}{'p99':>8}{'synthorg ok/err':>17}{'p50':>8}{'p99':>8}{'overhead p50':>14}{'p99':>8}")
for (name, mode, rate), d in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][2])):
    if name != "direct":
        continue
    s = rows[("synthorg", mode, rate)]
    label = "tools/call" if mode == "mcp-call" else "tools/list"
    print(f"{label:<11}{rate:>6.0f}{d['ok']:>10}/{d['errors']:<4}{d['p50_ms']:>8.3f}{d['p99_ms']:>8.3f}"
          f"{s['ok']:>12}/{s['errors']:<4}{s['p50_ms']:>8.3f}{s['p99_ms']:>8.3f}"
          f"{s['p50_ms'] - d['p50_ms']:>+14.3f}{s['p99_ms'] - d['p99_ms']:>+8.3f}")
if fsync:
    print(f"anchor: fdatasync of 4 KiB in the data directory, p50 {fsync[0]:.3f} ms, p99 {fsync[1]:.3f} ms")
print("ms; overhead = through synthorg minus direct at the same rate. Targets: tools/call at 200/s "
      "overhead p50 <= 1 ms, p99 <= 5 ms; tools/list (500 tools, a policy) overhead p50 <= 2 ms.")
PY
