#!/usr/bin/env bash
# Exposition encoding of 20,000 series: synthorg's encoder against Python's prometheus_client
# (the anchor) on the same series, in the same run. Prints both and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-peers
py=$(python3 bench/exposition_python.py)
log=$(mktemp)
rust=$(cargo bench -p synthorg-telemetry --bench exposition -- --output-format bencher 2>"$log" | grep 'text_0_0_4')
rust_bytes=$(grep 'exposition bytes text_0_0_4' "$log" | head -1 | awk '{print $4}')
rm -f "$log"
# "test exposition_20k_series/text_0_0_4 ... bench:     1234567 ns/iter (+/- 89)"
rust_ns=$(printf '%s\n' "$rust" | sed -E 's/.*bench: *([0-9,]+) ns\/iter.*/\1/' | tr -d ,)
bytes=$(printf '%s\n' "$py" | awk '{print $4}')
py_ms=$(printf '%s\n' "$py" | awk '{print $2}')
awk -v ns="$rust_ns" -v b="$bytes" -v rb="$rust_bytes" -v pyms="$py_ms" 'BEGIN {
  rust_ms = ns / 1e6
  printf "series: 20000, text 0.0.4\n"
  printf "python prometheus_client generate_latest: %8.2f ms  %9d bytes  %8.1f MB/s\n", pyms, b, b / (pyms / 1e3) / 1e6
  printf "synthorg exposition encoder:              %8.3f ms  %9d bytes  %8.1f MB/s\n", rust_ms, rb, rb / (rust_ms / 1e3) / 1e6
  printf "ratio (python time / synthorg time):      %8.1fx\n", pyms / rust_ms
}'
