#!/usr/bin/env python3
"""The table of bench/gateway.sh: one line per target, mode and rate, with the overhead of
each proxy against the direct run of the same mode and rate, and the sustainable rates.

  python3 bench/gateway_report.py RESULTS

RESULTS holds lines `TARGET MODE JSON` (JSON as printed by examples/gateway_load.rs).
"""

import json
import sys

rows = []
with open(sys.argv[1]) as f:
    for line in f:
        target, mode, data = line.split(" ", 2)
        rows.append((target, mode, json.loads(data)))

direct = {(mode, r["rate"]): r for target, mode, r in rows if target == "direct"}


def ms(x):
    return "-" if x != x else "%.3f" % x  # NaN when nothing succeeded


print("%-9s %-6s %8s %9s %7s %9s %9s %11s %11s %10s %10s" % (
    "target", "mode", "rate", "achieved", "errors", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms", "1st p50", "+1st p50"))
for target, mode, r in sorted(rows, key=lambda row: (row[1], row[2]["rate"] or 1e9, row[0])):
    d = direct.get((mode, r["rate"]))
    over = lambda key: ms(r[key] - d[key]) if d and target != "direct" else "-"
    rate = "flat out" if r["rate"] == 0 else "%d/s" % r["rate"]
    first = ms(r["first_p50_ms"]) if mode == "stream" else "-"
    first_over = over("first_p50_ms") if mode == "stream" else "-"
    print("%-9s %-6s %8s %9.0f %7d %9s %9s %11s %11s %10s %10s" % (
        target, mode, rate, r["achieved"], r["errors"], ms(r["p50_ms"]), ms(r["p99_ms"]),
        over("p50_ms"), over("p99_ms"), first, first_over))

print()
# Sustainable: the highest open-loop rate answered in full (achieved within 5 %, no error),
# and the flat-out rate when that had no error.
for mode in ("whole", "stream"):
    for target in sorted({t for t, _, _ in rows}):
        points = [r for t, m, r in rows if t == target and m == mode]
        held = [r["rate"] for r in points if r["rate"] > 0 and r["errors"] == 0 and r["achieved"] >= 0.95 * r["rate"]]
        flat = [r["achieved"] for r in points if r["rate"] == 0 and r["errors"] == 0]
        print("%-9s %-6s sustained %s; flat out %s" % (
            target, mode, "%d/s" % max(held) if held else "none of the rates",
            "%.0f/s" % flat[0] if flat else "with errors"))
