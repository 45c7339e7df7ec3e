#!/usr/bin/env bash
# Every benchmark of the project, each beside the anchor it is compared with, in one run.
# The figures go to docs/performance.md (with the machine they were measured on).
#
#   bench/suite.sh            # about 20 minutes on 2 cores, most of it compiling and criterion
#
# The servers these scripts start run with auth.rate_limits off: the benchmarks measure
# the server at full load, which the per-key limits would cap (docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-peers
section() { printf '\n==== %s ====\n' "$1"; }

section "machine"
printf '%s CPUs, %s, %s\n' "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(uname -srm)"

section "store: writes and aggregates against a raw SQLite commit (criterion)"
cargo bench -q -p synthorg-store --features bench-fixtures --bench store -- --output-format bencher 2>/dev/null | grep '^test'

section "pricing a cost report, against an unpriced model (criterion)"
cargo bench -q -p synthorg-core --bench price -- --output-format bencher 2>/dev/null | grep '^test'

section "metrics scrape end to end at 10k and 1M rows (criterion)"
cargo bench -q -p synthorg-api --bench scrape -- --output-format bencher 2>/dev/null | grep '^test'

section "exposition encoding against Python prometheus_client"
bench/exposition.sh

section "OTLP export against the OpenTelemetry Rust SDK pipeline"
cargo bench -q -p synthorg-telemetry --features sdk-compare --bench otlp

section "tracing a request against the OpenTelemetry Rust SDK (tracing-opentelemetry)"
cargo bench -q -p synthorg-telemetry --features sdk-compare --bench otlp_traces

section "the request path against /health (wrk)"
bench/wrk.sh 10

section "API throughput and latency against raw SQLite commits"
bench/api.sh 20

section "API throughput on PostgreSQL, one and two replicas, beside SQLite and raw commits"
bench/api_postgres.sh 15

section "memory: idle, under load, log burst with the collector down"
bench/memory.sh

section "the model gateway beside LiteLLM's proxy, same upstream stub, open loop"
bench/gateway.sh 5

section "the tool gateway beside its MCP server called directly, open loop"
bench/mcp.sh 5
