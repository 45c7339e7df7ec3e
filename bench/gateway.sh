#!/usr/bin/env bash
# The model gateway beside LiteLLM's proxy, in one run, against the same upstream under the
# same load: a fast OpenAI-compatible stub on loopback (examples/upstream_stub.rs, measured
# directly first: it is the anchor, not the bottleneck), synthorg's gateway (a budget hold
# and its settlement per call, on a fresh SQLite store, budget limits set so every hold reads
# every scope), and LiteLLM's proxy (its own defaults, no database: plain proxying). The load
# generator (examples/gateway_load.rs) is open loop at 25, 50, 100, 500, 1,000 and 2,000 req/s, then
# flat out over 64 connections, for whole answers and for streams.
#
#   bench/gateway.sh [SECONDS]        (default 5 s per point)
#   SKIP_LITELLM=1 bench/gateway.sh   (synthorg and the stub alone)
#
# LiteLLM is installed on first use into bench/.litellm (a venv, from
# bench/litellm-proxy-requirements.txt). Prints, per target, mode and rate: the rate achieved,
# errors, p50 / p99 latency, and the overhead (through the proxy minus direct, same rate);
# for streams the time to the first chunk too. Targets: synthorg's overhead p50 <= 0.5 ms and
# p99 <= 2 ms at 500 req/s, time-to-first-chunk overhead p50 <= 1 ms, a sustainable rate at
# least 10x LiteLLM's, no errors.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
cargo build --release -q -p synthorg
cargo build --release -q -p synthorg-gateway --examples
load=target/release/examples/gateway_load
source bench/lib.sh gateway

# The upstream.
start_stub target/release/examples/upstream_stub 0

# synthorg, with the stub as its provider.
cat >"$work/synthorg.yaml" <<YAML
gateway:
  providers:
    stub:
      kind: openai
      base_url: http://127.0.0.1:$stub/v1
      api_key_env: BENCH_UPSTREAM_KEY
  routes:
    - model: gpt-4.1-mini
      provider: stub
YAML
start_synthorg "$work/synthorg.yaml" BENCH_UPSTREAM_KEY=sk-bench
curl -sf -X PUT -H "Authorization: Bearer $admin" --json \
  '{"total_monthly": 1000000, "per_agent_daily_limit": 100000, "per_task_limit": 100000}' "$api/budget/config" >/dev/null
agent_key

# LiteLLM's proxy, with the same stub.
# Each target: name|url|key (the stub takes any key; LiteLLM its master key).
targets="direct|http://127.0.0.1:$stub/v1/chat/completions|sk-any synthorg|http://127.0.0.1:$port/gateway/openai/v1/chat/completions|$key"
if [ -z "${SKIP_LITELLM:-}" ]; then
  if [ ! -x bench/.litellm/bin/litellm ]; then
    echo "installing LiteLLM's proxy into bench/.litellm (once)" >&2
    python3 -m venv bench/.litellm
    bench/.litellm/bin/pip install -q -r bench/litellm-proxy-requirements.txt
  fi
  lport=$(free_port)
  cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: gpt-4.1-mini
    litellm_params:
      model: openai/gpt-4.1-mini
      api_base: http://127.0.0.1:$stub/v1
      api_key: sk-bench
general_settings:
  master_key: sk-litellm-bench
YAML
  start_litellm() {
    LITELLM_LOG=ERROR LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
      bench/.litellm/bin/litellm --config "$work/litellm.yaml" --host 127.0.0.1 --port "$lport" >"$work/litellm.log" 2>&1 &
    litellm_pid=$!
    pids+=($litellm_pid)
    for _ in $(seq 120); do curl -sf "http://127.0.0.1:$lport/health/liveliness" >/dev/null 2>&1 && break; sleep 0.5; done
    curl -sf "http://127.0.0.1:$lport/health/liveliness" >/dev/null || { echo "LiteLLM did not start:" >&2; tail -20 "$work/litellm.log" >&2; exit 1; }
  }
  start_litellm
  targets="$targets litellm|http://127.0.0.1:$lport/v1/chat/completions|sk-litellm-bench"
fi

# Every point: target, mode, rate (0: flat out over 64 connections). One target's sweep
# after another, LiteLLM last: a proxy still working off the backlog of a rate it could not
# sustain would slow whatever ran next. Past the first rate LiteLLM cannot sustain, its
# higher rates are not run (they would only queue), and it is restarted, backlog-free,
# before its flat-out point and before each sweep.
sustains() { grep -q '"errors":0,' <<<"$1" && python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(r["achieved"] < 0.95 * r["rate"])' "$1"; }
for t in $targets; do
  IFS='|' read -r name url target_key <<<"$t"
  for mode in whole stream; do
    flag=""; [ "$mode" = stream ] && flag=stream
    past=""
    for rate in 25 50 100 500 1000 2000 0; do
      if [ "$name" = litellm ]; then
        [ -n "$past" ] && [ "$rate" != 0 ] && continue
        if [ "$rate" = 0 ] || [ "$rate" = 25 ]; then kill "$litellm_pid" 2>/dev/null; wait "$litellm_pid" 2>/dev/null || true; start_litellm; fi
      fi
      line=$("$load" "$url" "$target_key" "$rate" "$seconds" "${flag:-whole}" 64)
      echo "$name $mode $line" >>"$work/results"
      [ "$rate" != 0 ] && ! sustains "$line" && past=1
    done
  done
done
python3 bench/gateway_report.py "$work/results"
