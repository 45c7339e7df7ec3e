"""One table row from a `synthorg simulate --summary-json` file (used by the API benches).

    python3 bench/sim_summary.py SUMMARY.json ANCHOR_PER_SECOND LABEL

Prints: label, write requests/s (every POST but agent and key set-up), task-transition and
cost-report rates with their p50/p99 in ms, errors (any non-2xx or transport error), and
writes/s as a percentage of the anchor.
"""
import json
import sys

s = json.load(open(sys.argv[1]))
anchor = float(sys.argv[2])
label = sys.argv[3]
by = {e["endpoint"]: e for e in s["endpoints"]}
writes = sum(e["per_second"] for name, e in by.items() if name.startswith("POST") and name not in ("POST /agents", "POST /keys"))
t = by.get("POST /tasks/{id}/transitions", {})
c = by.get("POST /costs", {})
errors = s["server_errors"] + s["transport_errors"] + s["client_errors"]
print(f"{label:<22} {writes:10.0f} {t.get('per_second', 0):9.0f} {t.get('p50_ms', 0):9.2f} {t.get('p99_ms', 0):9.2f} "
      f"{c.get('per_second', 0):9.0f} {c.get('p50_ms', 0):9.2f} {c.get('p99_ms', 0):9.2f} {errors:7d} {writes / anchor * 100:7.0f}%")
