# Shared by the gateway benches (sourced, not run): a work directory cleaned up on exit with
# every process the script started, a free loopback port, synthorg on a config, and an agent
# with its key.
#
#   source bench/lib.sh NAME        (after `cd` to the checkout; needs target/release/synthorg)

work=$(mktemp -d "${TMPDIR:-/tmp}/synthorg-$1-bench.XXXXXX")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_stub PROGRAM [ARGS...]: starts a stand-in upstream that prints "port=N"; sets $stub.
start_stub() {
  "$@" >"$work/stub.out" &
  pids+=($!)
  for _ in $(seq 50); do grep -q port= "$work/stub.out" 2>/dev/null && break; sleep 0.1; done
  stub=$(sed -n 's/^port=//p' "$work/stub.out")
}

# start_synthorg CONFIG [VAR=VALUE...]: serves on a free port with a fresh store in $work/data
# (logs at warn, no per-key rate limit); sets $port, $api and $admin once it answers.
start_synthorg() {
  local config=$1
  shift
  port=$(free_port)
  env SYNTHORG_LOGGING__LEVEL=warn SYNTHORG_AUTH__RATE_LIMITS__ENABLED=false "$@" \
    target/release/synthorg serve --config "$config" --data-dir "$work/data" --bind "127.0.0.1:$port" \
    2>"$work/serve.log" &
  pids+=($!)
  api="http://127.0.0.1:$port/api/v1"
  for _ in $(seq 100); do [ -f "$work/data/admin.key" ] && curl -sf "$api/health" >/dev/null && break; sleep 0.1; done
  admin=$(cat "$work/data/admin.key")
}

# agent_key: registers an agent "bench" and creates its key; sets $agent and $key.
agent_key() {
  agent=$(curl -sf -H "Authorization: Bearer $admin" --json '{"name": "bench", "role": "developer"}' "$api/agents" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  key=$(curl -sf -H "Authorization: Bearer $admin" --json "{\"role\": \"agent\", \"agent_id\": \"$agent\"}" "$api/keys" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
}
