//! The model gateway end to end: the real binary in front of a stand-in OpenAI upstream (its
//! own process on loopback, `tests/providers/upstream.py`), called over HTTP and with
//! the official `openai` SDK. What reaches the upstream (the held cap, the provider's key,
//! never the agent's), what is recorded (metered, estimated, released), what the client gets
//! (the provider's answers and errors, the gateway's own in OpenAI's shape), and that the
//! provider key appears nowhere.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use synthorg_store::testing::PgSchema;

use crate::{BIN, Client, Server, temp_dir};

pub(crate) const UPSTREAM_KEY: &str = "sk-upstream-7f3a9c2e5b1d4e6f8a0b";

/// The stand-in upstream, killed when dropped.
pub(crate) struct Upstream {
    child: Child,
    pub(crate) base: String,
}

impl Upstream {
    pub(crate) fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/providers/upstream.py");
        let mut child = Command::new("python3")
            .arg(script)
            .env("UPSTREAM_KEY", UPSTREAM_KEY)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("port=").unwrap_or_else(|| panic!("upstream said {line:?}"));
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// Every request the upstream received.
    pub(crate) fn received(&self) -> Vec<Value> {
        let mut r = ureq::get(format!("{}/_requests", self.base)).call().unwrap();
        r.body_mut().read_json::<Vec<Value>>().unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, upstream: &Upstream) -> std::path::PathBuf {
    let path = dir.join("gateway.yaml");
    let yaml = format!(
        "gateway:
  default_max_output_tokens: 64
  providers:
    up:
      kind: openai
      base_url: {}/v1
      api_key_env: GATEWAY_TEST_UPSTREAM_KEY
      timeout: 1s
    patient:
      kind: openai
      base_url: {}/v1
      api_key_env: GATEWAY_TEST_UPSTREAM_KEY
      timeout: 60s
    sim:
      kind: simulated
      price_as: openai
    anth:
      kind: anthropic
      base_url: {}/v1
      api_key_env: GATEWAY_TEST_UPSTREAM_KEY
      timeout: 1s
    sim-claude:
      kind: simulated
      price_as: anthropic
  routes:
    - model: gpt-4.1-mini
      provider: up
    - model: gpt-4.1-nano
      provider: sim
    - model: gpt-4.1
      provider: patient
    - model: claude-haiku-4-5
      provider: anth
    - model: claude-sonnet-4-5
      provider: sim-claude
    - model: text-embedding-3-small
      provider: up
    - model: text-embedding-3-large
      provider: sim
security:
  policies:
    sandboxed:
      allowed_action_types: [read]
      allowed_models: [\"gpt-4.1-nano\"]
      max_output_tokens: 10
",
        upstream.base, upstream.base, upstream.base
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A gateway call with `key`: status, headers of interest, body.
fn call(server: &Server, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = server.base.replace("/api/v1", "/gateway/openai/v1/chat/completions");
    let mut r = agent.post(url).header("authorization", &format!("Bearer {key}")).send_json(body).unwrap();
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status().as_u16(), retry_after, r.body_mut().read_json().unwrap_or(Value::Null))
}

/// Runs one scenario of an SDK client script (`tests/providers/`): what it printed.
fn run_sdk(script: &str, base: &str, key: &str, scenario: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/providers").join(script);
    let out = Command::new("python3").arg(script).args([base, key, scenario]).output().unwrap();
    assert!(out.status.success(), "{scenario}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A budget whose agent limit (0.0001 USD a day) no call of 50 output tokens fits.
fn tight_budget(admin: &Client) {
    let (status, _) =
        admin.send("PUT", "/budget/config", &json!({"total_monthly": 100, "per_agent_daily_limit": 0.0001}));
    assert_eq!(status, 200);
}

/// `body` with the fields of `extra` written over it.
fn merged(mut body: Value, extra: Value) -> Value {
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

/// A server in front of the stand-in upstream on SQLite, with one agent and its key.
struct Rig {
    upstream: Upstream,
    _dir: tempfile::TempDir,
    server: Server,
    admin: Client,
    agent: String,
    key: String,
}

impl Rig {
    fn start(agent: &str) -> Self {
        let upstream = Upstream::start();
        let (dir, data, server) = serve(&upstream, &[]);
        let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
        let (agent, key) = agent_key(&admin, agent);
        Self { upstream, _dir: dir, server, admin, agent, key }
    }
}

fn agent_key(admin: &Client, name: &str) -> (String, String) {
    let (_, agent) = admin.post("/agents", &json!({"name": name, "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let (_, key) = admin.post("/keys", &json!({"role": "agent", "agent_id": agent}));
    (agent, key["key"].as_str().unwrap().to_owned())
}

fn hello(extra: Value) -> Value {
    let body = json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hello there"}]});
    merged(body, extra)
}

#[test]
fn calls_are_held_forwarded_with_the_cap_and_settled_from_the_providers_usage_on_sqlite() {
    held_forwarded_settled(&[]);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn calls_are_held_forwarded_with_the_cap_and_settled_from_the_providers_usage_on_postgres() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL");
    held_forwarded_settled(&[
        ("SYNTHORG_DATABASE__URL", schema.url.as_str()),
        ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str()),
    ]);
}

/// The server in front of `upstream`, configured by [`config`], on the store `store` names
/// (SQLite in its data dir when empty).
fn serve(upstream: &Upstream, store: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf, Server) {
    let (dir, data) = temp_dir();
    let config = config(dir.path(), upstream);
    let mut env = vec![("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)];
    env.extend_from_slice(store);
    let server = Server::start_with_env(&data, &["--config", config.to_str().unwrap()], &env);
    (dir, data, server)
}

fn held_forwarded_settled(store: &[(&str, &str)]) {
    let upstream = Upstream::start();
    let (dir, data, server) = serve(&upstream, store);
    let config = dir.path().join("gateway.yaml");
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "caller");

    // A call with the client's cap: forwarded with it, the provider's key, the routed model.
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 50})));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "ok");
    assert_eq!(answer["id"], "chatcmpl-upstream-1", "the provider's answer, passed through");
    let sent = upstream.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["path"], "/v1/chat/completions");
    assert_eq!(sent[0]["headers"]["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    assert!(!sent[0].to_string().contains(&key), "the agent's key never reaches the provider");
    assert_eq!(sent[0]["body"]["max_tokens"], 50);
    assert_eq!(sent[0]["body"]["model"], "gpt-4.1-mini");

    // Without a cap the default one is held and forwarded; max_completion_tokens is kept.
    assert_eq!(call(&server, &key, &hello(json!({}))).0, 200);
    assert_eq!(call(&server, &key, &hello(json!({"max_completion_tokens": 30}))).0, 200);
    let sent = upstream.received();
    assert_eq!(sent[1]["body"]["max_tokens"], 64);
    assert_eq!(sent[2]["body"]["max_completion_tokens"], 30);
    assert!(sent[2]["body"].get("max_tokens").is_none());

    // Each call is one metered record with the provider's own usage, settling its hold
    // (written just after the answer: the answer does not wait for it).
    let calls = records(&admin, &agent, 3);
    let first = &calls[0];
    assert_eq!(first["cost_source"], "metered");
    assert_eq!(first["provider"], "up");
    assert_eq!(first["model"], "gpt-4.1-mini");
    // "hello there" is 11 bytes: 11 / 4 + 7 = 9 prompt tokens, 4 cached; 20 completion, 2 reasoning.
    assert_eq!(
        (&first["input_tokens"], &first["output_tokens"], &first["cache_read_input_tokens"]),
        (&json!(9), &json!(20), &json!(4))
    );
    assert_eq!(first["reasoning_output_tokens"], 2);
    assert!(first["cost"].as_f64().unwrap() > 0.0);
    let (_, holds) = admin.get(&format!("/budget/reservations?agent_id={agent}&limit=10"));
    let holds = holds["items"].as_array().unwrap();
    assert_eq!(holds.len(), 3);
    assert!(holds.iter().all(|h| h["state"] == "settled" && h["provider"] == "up"), "{holds:?}");
    assert!(calls.iter().all(|r| holds.iter().any(|h| h["id"] == r["reservation_id"])));

    // An upstream refusal passes through with its status and Retry-After; the hold goes back.
    let (status, retry_after, answer) = call(
        &server,
        &key,
        &json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "rate-limited"}]}),
    );
    assert_eq!((status, retry_after.as_deref()), (429, Some("7")));
    assert_eq!(answer["error"]["code"], "rate_limit_exceeded");
    // No usage in the answer: recorded as estimated (the held worst case).
    let (status, _, _) =
        call(&server, &key, &json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "no-usage"}]}));
    assert_eq!(status, 200);
    // Past the provider's timeout: a 504 in OpenAI's shape, the hold released.
    let (status, _, answer) =
        call(&server, &key, &json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "slow"}]}));
    assert_eq!((status, &answer["error"]["code"]), (504, &json!("upstream_timeout")), "{answer}");
    let (_, holds) = admin.get(&format!("/budget/reservations?agent_id={agent}&limit=10"));
    let states: Vec<&str> = holds["items"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["settled", "settled", "settled", "released", "settled", "released"]);
    let costs = records(&admin, &agent, 4);
    let sources: Vec<&str> = costs.iter().map(|r| r["cost_source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["metered", "metered", "metered", "estimated"]);

    // The simulated provider answers in process and says so.
    let (status, _, answer) = call(&server, &key, &hello(json!({"model": "gpt-4.1-nano", "max_tokens": 5})));
    assert_eq!(status, 200);
    assert_eq!(answer["system_fingerprint"], "synthorg-simulated");
    assert_eq!(answer["usage"]["completion_tokens"], 5);

    // A budget that cannot cover the hold: 402 budget_exhausted naming the scope; nothing sent.
    let before = upstream.received().len();
    tight_budget(&admin);
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 50})));
    assert_eq!(status, 402, "{answer}");
    assert_eq!(answer["error"]["code"], "budget_exhausted");
    assert_eq!(answer["error"]["type"], "insufficient_quota");
    assert_eq!(answer["error"]["budget"]["scope"], "agent_daily");
    assert_eq!(upstream.received().len(), before);

    // A trust level's model rules: a sandboxed agent may call only gpt-4.1-nano, and at most
    // 10 output tokens of it whatever it asks.
    let (_, sandboxed) =
        admin.post("/agents", &json!({"name": "sandboxed", "role": "intern", "trust_level": "sandboxed"}));
    let (_, sandboxed_key) = admin.post("/keys", &json!({"role": "agent", "agent_id": sandboxed["id"]}));
    let sandboxed_key = sandboxed_key["key"].as_str().unwrap();
    let (status, _, answer) = call(&server, sandboxed_key, &hello(json!({"max_tokens": 5})));
    assert_eq!((status, &answer["error"]["type"]), (403, &json!("permission_error")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("not allowed for trust level sandboxed"));
    let (status, _, answer) = call(&server, sandboxed_key, &hello(json!({"model": "gpt-4.1-nano", "max_tokens": 500})));
    assert_eq!((status, &answer["usage"]["completion_tokens"]), (200, &json!(10)), "{answer}");

    // Bad input: a 400 naming the field; a key that is not an agent's: 403; none: 401.
    for (body, param) in [
        (json!({"messages": [{"role": "user", "content": "x"}]}), "model"),
        (json!({"model": "gpt-4.1-mini"}), "messages"),
        (hello(json!({"max_tokens": 0})), "max_tokens"),
        (hello(json!({"max_tokens": "many"})), "max_tokens"),
        (json!([1, 2]), "body"),
    ] {
        let (status, _, answer) = call(&server, &key, &body);
        assert_eq!((status, answer["error"]["param"].as_str()), (400, Some(param)), "{body}: {answer}");
    }
    let (status, _, answer) = call(&server, &key, &hello(json!({"model": "no-such-model"})));
    assert_eq!((status, &answer["error"]["code"]), (404, &json!("model_not_found")));
    let (status, _, _) = call(&server, &Server::bootstrap_key(&data), &hello(json!({})));
    assert_eq!(status, 403);
    let (status, _, answer) = call(&server, "sk_nope", &hello(json!({})));
    assert_eq!((status, &answer["error"]["type"]), (401, &json!("authentication_error")));

    // The provider key is in no log line and not in `config show`.
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(logs.contains("/gateway/openai/v1/chat/completions"), "the calls are logged");
    assert!(!logs.contains(UPSTREAM_KEY), "the provider key leaked into the logs");
    let shown = Command::new(BIN)
        .args(["config", "show", "--config", config.to_str().unwrap()])
        .env("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned() + &String::from_utf8_lossy(&shown.stderr);
    assert!(shown.contains("\"gateway\"") && shown.contains("\"base_url\""), "{shown}");
    assert!(!shown.contains(UPSTREAM_KEY), "the provider key leaked into config show");
    // The variable's name is shown (it is not the secret), and token counts are not redacted.
    assert!(shown.contains("\"api_key_env\": \"GATEWAY_TEST_UPSTREAM_KEY\""), "{shown}");
    assert!(shown.contains("\"default_max_output_tokens\": 64"), "{shown}");
}

#[test]
fn the_openai_sdk_calls_through_the_gateway() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("sdk");
    let base = server.base.replace("/api/v1", "/gateway/openai/v1");
    let sdk = |key: &str, scenario: &str| run_sdk("openai_client.py", &base, key, scenario);

    let chat = sdk(&key, "chat");
    assert_eq!(chat["content"], "ok");
    assert_eq!(chat["usage"]["completion_tokens"], 20);
    assert_eq!(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    let record_id = chat["cost_record_id"].as_str().unwrap();
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!((&record["id"], &record["cost_source"]), (&json!(record_id), &json!("metered")));
    let sent = upstream.received();
    assert!(sent[0]["headers"]["user-agent"].as_str().unwrap().starts_with("synthorg/"));
    assert_eq!(sent[0]["body"]["max_tokens"], 50);

    let tools = sdk(&key, "tools");
    assert_eq!((&tools["tool"], &tools["arguments"]["city"]), (&json!("get_weather"), &json!("Paris")));
    assert_eq!(tools["finish_reason"], "tool_calls");
    let sent = upstream.received();
    assert_eq!(sent.last().unwrap()["body"]["tools"][0]["function"]["name"], "get_weather");

    let streamed = sdk(&key, "stream");
    assert_eq!((&streamed["content"], &streamed["finish_reason"]), (&json!("w0 w1 w2 w3 w4 w5 "), &json!("length")));
    assert_eq!(streamed["usage"]["completion_tokens"], 6);

    // The upstream's 429 is the SDK's RateLimitError, with the provider's Retry-After.
    let limited = sdk(&key, "limited");
    assert_eq!((&limited["exception"], &limited["status"]), (&json!("RateLimitError"), &json!(429)));
    assert_eq!(limited["retry_after"], "7");

    let badkey = sdk("sk_nope_0000", "badkey");
    assert_eq!((&badkey["exception"], &badkey["status"]), (&json!("AuthenticationError"), &json!(401)));

    // The gateway's 402 is raised at once: the SDK does not retry it (one attempt).
    tight_budget(&admin);
    let refused = sdk(&key, "refused");
    assert_eq!((&refused["status"], &refused["code"]), (&json!(402), &json!("budget_exhausted")));
    assert_eq!(refused["attempts"], 1, "{refused}");
}

#[test]
fn the_openai_sdk_calls_responses_and_embeddings_through_the_gateway() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("responder");
    let base = server.base.replace("/api/v1", "/gateway/openai/v1");
    let sdk = |scenario: &str| run_sdk("openai_client.py", &base, &key, scenario);

    // A whole response: the provider's answer, its usage recorded (metered), the cap held
    // and forwarded in `max_output_tokens`.
    let answered = sdk("responses");
    assert_eq!((&answered["text"], &answered["status"]), (&json!("ok"), &json!("completed")));
    assert_eq!(answered["usage"]["input_tokens"], 16);
    assert_eq!(answered["usage"]["input_tokens_details"]["cached_tokens"], 4);
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!(
        (&record["cost_source"], &record["input_tokens"], &record["output_tokens"]),
        (&json!("metered"), &json!(16), &json!(20))
    );
    assert_eq!(record["reasoning_output_tokens"], 2);
    let sent = upstream.received();
    assert_eq!(sent[0]["path"], "/v1/responses");
    assert_eq!(
        (&sent[0]["body"]["max_output_tokens"], &sent[0]["body"]["instructions"]),
        (&json!(40), &json!("Be brief."))
    );
    assert_eq!(sent[0]["headers"]["authorization"], format!("Bearer {UPSTREAM_KEY}"));

    // A stream that reaches its cap ends `response.incomplete`, as the provider ends it.
    let streamed = sdk("responses_stream");
    assert_eq!((&streamed["text"], &streamed["last"]), (&json!("w0 w1 w2 w3 w4 "), &json!("response.incomplete")));
    assert_eq!((&streamed["reason"], &streamed["usage"]["output_tokens"]), (&json!("max_output_tokens"), &json!(5)));
    let record = records(&admin, &agent, 2).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("metered"), &json!(5)));

    // A provider running past the cap is cut at the hold with the provider's own ending.
    let cut = sdk("responses_cut");
    assert_eq!((&cut["text"], &cut["last"]), (&json!("w0 w1 w2 w3 w4 "), &json!("response.incomplete")));
    assert_eq!(cut["reason"], "max_output_tokens");
    let record = records(&admin, &agent, 3).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("estimated"), &json!(5)));

    let tools = sdk("responses_tools");
    assert_eq!((&tools["tool"], &tools["arguments"]["city"]), (&json!("get_weather"), &json!("Paris")));
    records(&admin, &agent, 4);

    // Input stored at the provider cannot be bounded by the hold: refused, naming the field,
    // before anything is held or sent.
    let before = upstream.received().len();
    let stored = sdk("responses_stored");
    assert_eq!((&stored["exception"], &stored["status"]), (&json!("BadRequestError"), &json!(400)));
    assert_eq!(stored["param"], "previous_response_id");
    assert_eq!(upstream.received().len(), before);

    // Embeddings: the SDK asks for base64 and decodes it; input tokens only are recorded.
    let embedded = sdk("embeddings");
    assert_eq!((&embedded["count"], &embedded["dimensions"]), (&json!(2), &json!(8)));
    assert_eq!(embedded["usage"]["prompt_tokens"], 6);
    let record = records(&admin, &agent, 5).pop().unwrap();
    assert_eq!(
        (&record["model"], &record["cost_source"], &record["input_tokens"], &record["output_tokens"]),
        (&json!("text-embedding-3-small"), &json!("metered"), &json!(6), &json!(0))
    );
    assert_eq!(record["cost"], json!(0.000_000_12), "6 tokens at $0.02 per million");
    let sent = upstream.received();
    let last = sent.last().unwrap();
    assert_eq!((&last["path"], &last["body"]["encoding_format"]), (&json!("/v1/embeddings"), &json!("base64")));
    assert!(last["body"].get("max_tokens").is_none(), "embeddings carry no output cap: {last}");

    // The simulated provider answers both, and says so.
    let agent_http: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let post = |path: &str, body: Value| -> (u16, Value) {
        let url = server.base.replace("/api/v1", &format!("/gateway/openai/v1/{path}"));
        let mut r = agent_http.post(url).header("authorization", &format!("Bearer {key}")).send_json(body).unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap_or(Value::Null))
    };
    let (status, answer) = post("responses", json!({"model": "gpt-4.1-nano", "input": "hi", "max_output_tokens": 4}));
    assert_eq!((status, &answer["status"]), (200, &json!("incomplete")), "{answer}");
    assert!(answer["output"][0]["content"][0]["text"].as_str().unwrap().contains("answer"));
    assert!(answer["id"].as_str().unwrap().starts_with("resp_simulated_"));
    let (status, answer) =
        post("embeddings", json!({"model": "text-embedding-3-large", "input": "hi", "dimensions": 4}));
    assert_eq!((status, answer["data"][0]["embedding"].as_array().map(Vec::len)), (200, Some(4)), "{answer}");
    records(&admin, &agent, 7);

    // Hostile and malformed requests name their field; nothing is recorded for them.
    for (path, body, field) in [
        ("responses", json!({"model": "gpt-4.1-mini"}), "input"),
        ("responses", json!({"model": "gpt-4.1-mini", "input": ""}), "input"),
        ("responses", json!({"model": "gpt-4.1-mini", "input": "x", "max_output_tokens": -1}), "max_output_tokens"),
        ("responses", json!({"model": "gpt-4.1-mini", "input": "x", "background": true}), "background"),
        ("responses", json!({"model": "gpt-4.1-mini", "input": "x", "conversation": "conv_1"}), "conversation"),
        ("responses", json!({"model": "gpt-4.1-mini", "input": "x", "stream": "yes"}), "stream"),
        ("embeddings", json!({"model": "text-embedding-3-small", "input": []}), "input"),
        ("embeddings", json!({"model": "text-embedding-3-small", "input": "x", "stream": true}), "stream"),
        ("embeddings", json!({"model": "x".repeat(300), "input": "x"}), "model"),
    ] {
        let (status, answer) = post(path, body);
        assert_eq!((status, &answer["error"]["param"]), (400, &json!(field)), "{path}: {answer}");
    }
    records(&admin, &agent, 7);

    // Embeddings are their own GenAI operation in the conventions' duration metric.
    let scraped = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    let series = |operation: &str, model: &str| {
        scraped.lines().any(|l| {
            l.starts_with("gen_ai_client_operation_duration_seconds_count{")
                && l.contains(&format!("gen_ai_operation_name=\"{operation}\""))
                && l.contains(&format!("gen_ai_request_model=\"{model}\""))
        })
    };
    assert!(series("embeddings", "text-embedding-3-small") && series("chat", "gpt-4.1-mini"), "{scraped}");
    assert!(!series("chat", "text-embedding-3-small"), "{scraped}");
}

#[test]
fn the_openai_agents_sdk_runs_a_turn_with_a_tool_through_the_gateway() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("agents-sdk");
    let base = server.base.replace("/api/v1", "/gateway/openai/v1");
    let mut made = 0;
    for (scenario, path) in [("responses", "/v1/responses"), ("chat", "/v1/chat/completions")] {
        let run = run_sdk("agents_client.py", &base, &key, scenario);
        // The model asks for the tool, the SDK runs it and sends its result back, the model
        // answers: two calls, both held and metered.
        assert_eq!(run["tool_calls"], json!(["Paris"]), "{scenario}: {run}");
        assert_eq!((&run["final_output"], &run["model_calls"]), (&json!("done"), &json!(2)), "{scenario}: {run}");
        made += 2;
        let records = records(&admin, &agent, made);
        assert!(records.iter().all(|r| r["cost_source"] == "metered"), "{records:?}");
        let recorded: u64 = records[made - 2..].iter().map(|r| r["output_tokens"].as_u64().unwrap()).sum();
        assert_eq!(run["usage"]["output_tokens"].as_u64(), Some(recorded), "{scenario}: the SDK and the ledger agree");
        let sent = upstream.received();
        assert!(sent[made - 2..].iter().all(|r| r["path"] == path), "{scenario}");
        let second = &sent[made - 1]["body"];
        assert!(second.to_string().contains("sunny in Paris"), "{scenario}: the tool's result went back: {second}");
    }
}

#[test]
fn the_demo_answers_gpt_models_with_the_simulated_provider() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &["--demo"]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "tourist");
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 8})));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["system_fingerprint"], "synthorg-simulated");
    assert!(answer["choices"][0]["message"]["content"].as_str().unwrap().contains("simulated"));
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!((&record["provider"], &record["cost_source"]), (&json!("simulated"), &json!("metered")));
    assert_eq!(record["output_tokens"], 8);
}

/// A streamed gateway call: status and the `data:` payloads of its events, read to the end.
fn stream(server: &Server, key: &str, body: &Value) -> (u16, String, Vec<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = server.base.replace("/api/v1", "/gateway/openai/v1/chat/completions");
    let mut r = agent.post(url).header("authorization", &format!("Bearer {key}")).send_json(body).unwrap();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = r.body_mut().read_to_string().unwrap();
    let events = text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_owned).collect();
    (r.status().as_u16(), content_type, events)
}

/// The content of the chunks, and the finish reasons given.
fn contents(events: &[String]) -> (String, Vec<String>) {
    let chunks: Vec<Value> = events.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
    let text = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    let finishes = chunks.iter().filter_map(|c| c["choices"][0]["finish_reason"].as_str()).map(str::to_owned).collect();
    (text, finishes)
}

/// The agent's records, oldest first, once `n` of them are written (a stream settles after
/// it ends).
fn records(admin: &Client, agent: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, costs) = admin.get(&format!("/costs?agent_id={agent}&limit=50"));
        let items = costs["items"].as_array().unwrap().clone();
        if items.len() >= n || std::time::Instant::now() > deadline {
            assert_eq!(items.len(), n, "{items:?}");
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn said(text: &str, extra: Value) -> Value {
    let body = json!({"model": "gpt-4.1-mini", "stream": true, "messages": [{"role": "user", "content": text}]});
    merged(body, extra)
}

#[test]
fn streams_are_relayed_metered_cut_at_the_hold_and_settled_however_they_end() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("streamer");

    // A stream to its end: every chunk passed on, the provider's usage asked for upstream and
    // recorded (metered), but not passed to a client that did not ask for it.
    let (status, content_type, events) = stream(&server, &key, &said("hello", json!({"max_tokens": 5})));
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let (text, finishes) = contents(&events);
    assert_eq!(text, "w0 w1 w2 w3 w4 ");
    assert_eq!(finishes, ["length"]);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(!events.iter().any(|e| e.contains("\"usage\"")), "usage not asked for: {events:?}");
    let sent = upstream.received();
    assert_eq!(sent[0]["body"]["stream_options"]["include_usage"], true);
    assert_eq!(sent[0]["body"]["max_tokens"], 5);
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("metered"), &json!(5)));

    // Asked for, the usage chunk reaches the client.
    let (_, _, events) =
        stream(&server, &key, &said("hello", json!({"max_tokens": 3, "stream_options": {"include_usage": true}})));
    let usage: Vec<Value> =
        events.iter().filter_map(|e| serde_json::from_str::<Value>(e).ok()).filter(|c| !c["usage"].is_null()).collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["usage"]["completion_tokens"], 3);
    records(&admin, &agent, 2);

    // A provider that ignores the cap is cut at the hold: the client gets the cap's worth,
    // a `length` finish and [DONE]; the record is the gateway's count (estimated).
    let (status, _, events) = stream(&server, &key, &said("ignore-cap", json!({"max_tokens": 4})));
    assert_eq!(status, 200);
    let (text, finishes) = contents(&events);
    assert_eq!((text.as_str(), finishes), ("w0 w1 w2 w3 ", vec!["length".to_owned()]));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let record = records(&admin, &agent, 3).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("estimated"), &json!(4)));

    // A stream that breaks: what came is passed on, the record is estimated from it.
    let (_, _, events) = stream(&server, &key, &said("stream-break", json!({"max_tokens": 50})));
    assert_eq!(contents(&events).0, "w0 w1 w2 ");
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"));
    let record = records(&admin, &agent, 4).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("estimated"), &json!(3)));

    // A provider that answers a stream request with a whole answer: passed back, settled.
    let (status, content_type, _) = stream(&server, &key, &said("whole-anyway", json!({"max_tokens": 50})));
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let record = records(&admin, &agent, 5).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("metered"), &json!(20)));

    // A client that goes away: the upstream request is dropped and what passed is settled.
    let address = server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned();
    let body = said("ignore-cap", json!({"max_tokens": 150})).to_string();
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    let request = format!(
        "POST /gateway/openai/v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut socket, request.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("w2 ") {
        let n = std::io::Read::read(&mut socket, &mut buffer).unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buffer[..n]);
    }
    drop(socket);
    let record = records(&admin, &agent, 6).pop().unwrap();
    assert_eq!(record["cost_source"], "estimated");
    let output = record["output_tokens"].as_u64().unwrap();
    assert!((3..150).contains(&output), "settled what passed, not the cap: {output}");
    let (_, holds) = admin.get(&format!("/budget/reservations?agent_id={agent}&limit=10"));
    assert!(holds["items"].as_array().unwrap().iter().all(|h| h["state"] == "settled"), "{holds}");

    // The simulated provider streams too, and says so.
    let (status, _, events) = stream(&server, &key, &said("hello", json!({"model": "gpt-4.1-nano", "max_tokens": 4})));
    assert_eq!(status, 200);
    let (text, finishes) = contents(&events);
    assert_eq!((text.as_str(), finishes), ("This answer comes from", vec!["length".to_owned()]));
    assert!(events[0].contains("synthorg-simulated"));
    let record = records(&admin, &agent, 7).pop().unwrap();
    assert_eq!(
        (&record["provider"], &record["cost_source"], &record["output_tokens"]),
        (&json!("sim"), &json!("metered"), &json!(4))
    );
}

/// 32 agents call at once, each with the same request, under a monthly budget that covers
/// exactly `FIT` of their holds: exactly `FIT` calls are answered (the others get 402 before
/// anything is sent upstream) and the period's spend stays under the budget. The upstream
/// answers after half a second, so every hold is decided while the others are still open.
fn exactly_the_calls_that_fit(servers: &[&Server], data: &Path) {
    const CALLERS: usize = 32;
    const FIT: usize = 9;
    let admin = Client::new(&servers[0].base, &Server::bootstrap_key(data));
    let callers: Vec<(String, String)> = (0..CALLERS).map(|i| agent_key(&admin, &format!("racer-{i}"))).collect();
    // A provider with a long timeout: the upstream's half second may stretch on a busy machine.
    let body = json!({"model": "gpt-4.1", "max_tokens": 400, "messages": [{"role": "user", "content": "wait"}]});
    // One call to learn the hold of this request.
    assert_eq!(call(servers[0], &callers[0].1, &body).0, 200);
    let (_, holds) = admin.get("/budget/reservations?limit=1");
    let hold = holds["items"][0]["amount"].as_f64().unwrap();
    let (_, status) = admin.get("/budget/status");
    let spent = status["period_spend"].as_f64().unwrap_or_else(|| panic!("{status}"));
    // In whole nano-dollars, as budgets are kept.
    let budget: Value = serde_json::from_str(&format!("{:.9}", spent + hold * (FIT as f64 + 0.5))).unwrap();
    let (code, answer) = admin.send("PUT", "/budget/config", &json!({"total_monthly": budget}));
    assert_eq!(code, 200, "{answer}");
    let budget = budget.as_f64().unwrap();
    let barrier = std::sync::Barrier::new(CALLERS);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = callers
            .iter()
            .enumerate()
            .map(|(i, (_, key))| {
                let (barrier, body, server) = (&barrier, &body, servers[i % servers.len()]);
                scope.spawn(move || {
                    barrier.wait();
                    call(server, key, body).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let answered = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!((answered, refused), (FIT, CALLERS - FIT), "{statuses:?}");
    let (_, status) = admin.get("/budget/status");
    let total = status["period_spend"].as_f64().unwrap();
    assert!(total <= budget, "spent {total} of {budget}");
}

#[test]
fn exactly_the_calls_that_fit_are_made_on_sqlite() {
    let upstream = Upstream::start();
    let (_dir, data, server) = serve(&upstream, &[]);
    exactly_the_calls_that_fit(&[&server], &data);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn exactly_the_calls_that_fit_are_made_across_two_postgres_replicas() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL");
    let store = [("SYNTHORG_DATABASE__URL", schema.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str())];
    let upstream = Upstream::start();
    let (_a, data, first) = serve(&upstream, &store);
    let (_b, _, second) = serve(&upstream, &store);
    exactly_the_calls_that_fit(&[&first, &second], &data);
}

/// Waits, if the wall clock is within two seconds of a minute's start, until it is not: the
/// rate window's weighting of the previous minute steps there, and a burst straddling it may
/// see one more call admitted.
fn clear_of_minute_start() {
    loop {
        let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
        if (3..57).contains(&second) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// One agent's burst of calls spread over `servers`, under a rate of 5 requests a minute:
/// exactly 5 reach the provider, the others are 429 `rate_limit_exceeded` with `Retry-After`
/// before anything is held or sent — and the OpenAI SDK raises its `RateLimitError`.
fn one_agents_rate_is_shared(servers: &[&Server], data: &Path, upstream: &Upstream) {
    let admin = Client::new(&servers[0].base, &Server::bootstrap_key(data));
    let (agent, key) = agent_key(&admin, "bursty");
    clear_of_minute_start();
    let answers: Vec<(u16, Option<String>, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (server, key) = (servers[i % servers.len()], &key);
                scope.spawn(move || call(server, key, &hello(json!({"max_tokens": 10}))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let answered = answers.iter().filter(|(status, _, _)| *status == 200).count();
    assert_eq!(answered, 5, "{answers:?}");
    for (status, retry_after, body) in answers.iter().filter(|(status, _, _)| *status != 200) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(
            (&body["error"]["code"], &body["error"]["type"]),
            (&json!("rate_limit_exceeded"), &json!("requests"))
        );
        let seconds: u64 = retry_after.as_deref().unwrap_or_default().parse().unwrap();
        assert!((1..=60).contains(&seconds), "{retry_after:?}");
        assert!(body["error"]["message"].as_str().unwrap().contains("5 per minute"), "{body}");
    }
    assert_eq!(upstream.received().len(), 5);
    records(&admin, &agent, 5);
    let (_, holds) = admin.get(&format!("/budget/reservations?agent_id={agent}&limit=50"));
    assert_eq!(holds["items"].as_array().unwrap().len(), 5, "a refused call holds nothing");

    let base = servers[0].base.replace("/api/v1", "/gateway/openai/v1");
    let limited = run_sdk("openai_client.py", &base, &key, "limited");
    assert_eq!((&limited["exception"], &limited["status"]), (&json!("RateLimitError"), &json!(429)));
    assert_ne!(limited["retry_after"], "7", "the gateway answered, not the provider");
    assert_eq!(upstream.received().len(), 5);
    let scraped =
        ureq::get(format!("{}/metrics", servers[0].base)).call().unwrap().into_body().read_to_string().unwrap();
    assert!(
        scraped
            .lines()
            .any(|l| l.starts_with("synthorg_gateway_calls_total{") && l.contains("outcome=\"rate_limited\""))
    );
}

const RATE: (&str, &str) = ("SYNTHORG_GATEWAY__PER_AGENT_REQUESTS_PER_MINUTE", "5");

#[test]
fn an_agents_request_rate_is_enforced_on_sqlite() {
    let upstream = Upstream::start();
    let (_dir, data, server) = serve(&upstream, &[RATE]);
    one_agents_rate_is_shared(&[&server], &data, &upstream);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn an_agents_request_rate_is_shared_by_two_postgres_replicas() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL");
    let store =
        [("SYNTHORG_DATABASE__URL", schema.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str()), RATE];
    let upstream = Upstream::start();
    let (_a, data, first) = serve(&upstream, &store);
    let (_b, _, second) = serve(&upstream, &store);
    one_agents_rate_is_shared(&[&first, &second], &data, &upstream);
}

/// Tokens per minute count what the agent's settled calls used: with 50 a minute and calls
/// of 29 tokens (9 in, 20 out), the second call is admitted (29 used) and the third is not
/// (58 used).
#[test]
fn an_agents_token_rate_counts_what_its_calls_used() {
    let upstream = Upstream::start();
    let (_dir, data, server) = serve(&upstream, &[("SYNTHORG_GATEWAY__PER_AGENT_TOKENS_PER_MINUTE", "50")]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "wordy");
    clear_of_minute_start();
    for n in 1..=2 {
        let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 20})));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            (answer["usage"]["prompt_tokens"].as_u64(), answer["usage"]["completion_tokens"].as_u64()),
            (Some(9), Some(20))
        );
        // Settled (its record written, its tokens counted) before the next call.
        records(&admin, &agent, n);
    }
    let (status, retry_after, answer) = call(&server, &key, &hello(json!({"max_tokens": 20})));
    assert_eq!((status, &answer["error"]["type"]), (429, &json!("tokens")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("used 58"), "{answer}");
    assert!(retry_after.is_some());
    assert_eq!(upstream.received().len(), 2);
}

/// A call's telemetry: a CLIENT span in the GenAI conventions under the request's SERVER span
/// (at a real OTLP receiver), the gateway's metric families on `/metrics`, and a log line —
/// and the prompt, the answer and the provider's key in none of them, nor in any OTLP
/// record, API answer or console page.
#[test]
fn each_call_is_a_client_span_a_metric_and_a_log_line_without_its_content() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use synthorg_telemetry::otlp::receiver::Receiver;

    use crate::otlp::{attribute, hex};

    let receiver = Receiver::start().unwrap();
    receiver.keep_requests();
    let upstream = Upstream::start();
    let endpoint = receiver.endpoint();
    let (_dir, data, server) = serve(&upstream, &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "traced");
    let secret = "the launch code is XYZZY-4471";
    let url = server.base.replace("/api/v1", "/gateway/openai/v1/chat/completions");
    let traced = |trace: &str, body: Value| {
        let client: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = client
            .post(&url)
            .header("authorization", &format!("Bearer {key}"))
            .header("traceparent", &format!("00-{trace}-1234567890abcdef-01"))
            .send_json(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (plain, streamed) = ("a11f0a2b3c4d5e6f708192a3b4c5d6e7", "b21f0a2b3c4d5e6f708192a3b4c5d6e7");
    let body = json!({"model": "gpt-4.1-mini", "max_tokens": 30, "messages": [{"role": "user", "content": secret}]});
    let (status, answer) = traced(plain, body.clone());
    assert_eq!(status, 200, "{answer}");
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let (status, events) = traced(streamed, stream_body);
    assert_eq!(status, 200, "{events}");
    records(&admin, &agent, 2);
    // A failing provider, and a stream that breaks: their errors and logs carry no key either.
    let (status, failed) = traced(
        "c31f0a2b3c4d5e6f708192a3b4c5d6e7",
        json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "broken"}]}),
    );
    assert_eq!(status, 500, "{failed}");
    let (_, broke) = traced(
        "d41f0a2b3c4d5e6f708192a3b4c5d6e7",
        json!({"model": "gpt-4.1-mini", "stream": true, "messages": [{"role": "user", "content": "stream-break"}]}),
    );
    records(&admin, &agent, 3);
    let mut outputs = vec![answer.clone(), events.clone(), failed, broke];
    for path in ["/costs?limit=50", "/budget/reservations?limit=50", "/agents"] {
        outputs.push(admin.get(path).1.to_string());
    }
    outputs.push(ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap());
    let site = server.base.trim_end_matches("/api/v1").to_owned();
    for page in ["/console", "/console/app.js", "/console/app.css"] {
        outputs.push(ureq::get(format!("{site}{page}")).call().unwrap().into_body().read_to_string().unwrap());
    }
    let shown = Command::new(BIN)
        .args(["config", "show", "--data-dir", data.to_str().unwrap()])
        .env("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
        .output()
        .unwrap();
    outputs.push(String::from_utf8_lossy(&shown.stdout).into_owned() + &String::from_utf8_lossy(&shown.stderr));
    for output in &outputs {
        assert!(!output.contains(UPSTREAM_KEY), "the provider key is in an output: {output}");
    }

    // A call's event follows its record by a moment: wait for the second.
    let scrape = || ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    let answered = "synthorg_gateway_calls_total{provider=\"up\",model=\"gpt-4.1-mini\",outcome=\"answered\"} 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !scrape().contains(answered) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let metrics = scrape();
    let sample = |prefix: &str| -> f64 {
        let line =
            metrics.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        sample("synthorg_gateway_calls_total{provider=\"up\",model=\"gpt-4.1-mini\",outcome=\"answered\"}"),
        2.0
    );
    // The two answered calls, the upstream error and the broken stream.
    assert_eq!(sample("synthorg_gateway_overhead_seconds_count{provider=\"up\"}"), 4.0);
    let duration = "gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name=\"chat\",\
                    gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4.1-mini\"";
    assert_eq!(sample(duration), 2.0);
    assert_eq!(sample("gen_ai_client_operation_time_to_first_chunk_seconds_count{"), 1.0, "streams only");

    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("model call through the gateway") && l.contains("outcome=answered")));
    assert!(!logs.iter().any(|l| l.contains("XYZZY")), "the prompt is in no log line");
    let spans = receiver.spans();
    for (trace, streamed) in [(plain, false), (streamed, true)] {
        let ours: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
        let server_span = ours.iter().find(|s| s.kind == SpanKind::Server as i32).expect("the request's span");
        let client = ours.iter().find(|s| s.kind == SpanKind::Client as i32 && s.name == "chat gpt-4.1-mini");
        let client = client.unwrap_or_else(|| panic!("no CLIENT span in {ours:#?}"));
        assert_eq!(client.parent_span_id, server_span.span_id, "a child of the request's SERVER span");
        let attr = |key: &str| attribute(client, key);
        assert_eq!(attr("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(attr("gen_ai.provider.name").as_deref(), Some("openai"));
        assert_eq!(attr("gen_ai.request.model").as_deref(), Some("gpt-4.1-mini"));
        assert_eq!(attr("gen_ai.request.max_tokens").as_deref(), Some("30"));
        assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(attr("synthorg.gateway.streamed"), Some(streamed.to_string()));
        assert_eq!(attr("synthorg.gateway.outcome").as_deref(), Some("answered"));
        assert!(attr("gen_ai.response.id").is_some_and(|id| id.starts_with("chatcmpl-")), "{client:#?}");
        assert!(attr("gen_ai.usage.output_tokens").is_some());
        assert!(client.end_time_unix_nano >= client.start_time_unix_nano);
        for span in &ours {
            assert!(!format!("{span:?}").contains("XYZZY"), "the prompt is in no span");
        }
    }
    assert!(!logs.iter().any(|l| l.contains(UPSTREAM_KEY)), "the provider key is in a log line");
    assert!(!receiver.kept().is_empty(), "the logs were exported");
    let exported = format!("{:?}{:?}{:?}", receiver.kept(), receiver.kept_traces(), receiver.kept_metrics());
    assert!(!exported.contains(UPSTREAM_KEY), "the provider key is in an OTLP record");
    assert!(!exported.contains("XYZZY"), "the prompt is in an OTLP record");
}

/// With `on_budget_short: clamp` a call the budget cannot cover at its cap is made with the
/// cap lowered to what remains — forwarded as such — and refused below `min_output_tokens`.
#[test]
fn a_short_budget_clamps_the_cap_when_configured() {
    let upstream = Upstream::start();
    let (dir, data) = temp_dir();
    let config = config(dir.path(), &upstream);
    let yaml = std::fs::read_to_string(&config).unwrap().replace(
        "  default_max_output_tokens: 64\n",
        "  default_max_output_tokens: 64\n  on_budget_short: clamp\n  min_output_tokens: 20\n",
    );
    std::fs::write(&config, yaml).unwrap();
    let server = Server::start_with_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)],
    );
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "clamped");
    // gpt-4.1-mini: 0.4 USD per million input tokens, 1.6 per million output. The body is
    // about 100 bytes (input bound), so 0.00012 USD covers the input and some 50 output tokens.
    let (status, _) =
        admin.send("PUT", "/budget/config", &json!({"total_monthly": 100, "per_agent_daily_limit": 0.00012}));
    assert_eq!(status, 200);
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 4000})));
    assert_eq!(status, 200, "{answer}");
    let forwarded = upstream.received()[0]["body"]["max_tokens"].as_u64().unwrap();
    assert!((20..4000).contains(&forwarded), "the cap was clamped to what remains: {forwarded}");
    let (_, holds) = admin.get(&format!("/budget/reservations?agent_id={agent}"));
    let held = holds["items"][0]["amount"].as_f64().unwrap();
    assert!(held <= 0.00012, "the clamped hold fits the limit: {held}");
    // What is left now covers fewer than 20 output tokens: refused.
    let (status, _) =
        admin.send("PUT", "/budget/config", &json!({"total_monthly": 100, "per_agent_daily_limit": 0.00005}));
    assert_eq!(status, 200);
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 4000})));
    assert_eq!((status, &answer["error"]["code"]), (402, &json!("budget_exhausted")), "{answer}");
}

/// An Anthropic Messages call through the gateway: `x-api-key`, status, `retry-after`, body.
fn message(server: &Server, key: &str, body: &Value) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = server.base.replace("/api/v1", "/gateway/anthropic/v1/messages");
    let mut r =
        agent.post(url).header("x-api-key", key).header("anthropic-version", "2023-06-01").send_json(body).unwrap();
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status().as_u16(), retry_after, r.body_mut().read_to_string().unwrap())
}

fn claude(text: &str, extra: Value) -> Value {
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": text}]});
    merged(body, extra)
}

#[test]
fn anthropic_messages_are_held_forwarded_streamed_and_settled() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("claude-caller");

    // A message: the provider's key as x-api-key, the client's anthropic-version, the cap.
    let (status, _, answer) = message(&server, &key, &claude("hello", json!({})));
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((&answer["type"], &answer["content"][0]["text"]), (&json!("message"), &json!("ok")));
    let sent = upstream.received();
    assert_eq!(sent[0]["path"], "/v1/messages");
    assert_eq!(sent[0]["headers"]["x-api-key"], UPSTREAM_KEY);
    assert_eq!(sent[0]["headers"]["anthropic-version"], "2023-06-01");
    assert!(sent[0]["headers"].get("authorization").is_none());
    assert!(!sent[0].to_string().contains(&key), "the agent's key never reaches the provider");
    assert_eq!(sent[0]["body"]["max_tokens"], 50);
    // "hello": 5 / 4 + 7 = 8 input tokens, 4 of them read from the cache; 20 output.
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!(record["cost_source"], "metered");
    assert_eq!((&record["provider"], &record["model"]), (&json!("anth"), &json!("claude-haiku-4-5")));
    assert_eq!(
        (&record["input_tokens"], &record["cache_read_input_tokens"], &record["output_tokens"]),
        (&json!(8), &json!(4), &json!(20))
    );

    // A stream: Anthropic's events relayed, the usage of message_start and message_delta.
    let agent_http: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = server.base.replace("/api/v1", "/gateway/anthropic/v1/messages");
    let streamed = |body: Value| {
        let mut r = agent_http.post(&url).header("x-api-key", &key).send_json(body).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, events) = streamed(claude("hello", json!({"stream": true, "max_tokens": 5})));
    assert_eq!(status, 200);
    let text: String = events
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "w0 w1 w2 w3 w4 ");
    assert!(events.contains("event: message_stop"), "{events}");
    let record = records(&admin, &agent, 2).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("metered"), &json!(5)));

    // A provider past the cap is cut: the open block closed, max_tokens, message_stop.
    let (_, events) = streamed(claude("ignore-cap", json!({"stream": true, "max_tokens": 3})));
    assert!(events.contains("\"stop_reason\":\"max_tokens\""), "{events}");
    assert!(events.trim_end().ends_with("data: {\"type\":\"message_stop\"}"), "{events}");
    assert_eq!(events.matches("content_block_delta").count(), 3 * 2, "three deltas (event and type)");
    let record = records(&admin, &agent, 3).pop().unwrap();
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("estimated"), &json!(3)));

    // The provider's errors pass through in its shape; the gateway's own are in it too.
    let (status, retry_after, answer) = message(&server, &key, &claude("rate-limited", json!({})));
    assert_eq!((status, retry_after.as_deref()), (429, Some("7")));
    assert!(answer.contains("\"rate_limit_error\""), "{answer}");
    let (status, _, answer) =
        message(&server, &key, &json!({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]}));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (status, &answer["type"], &answer["error"]["type"]),
        (400, &json!("error"), &json!("invalid_request_error"))
    );
    assert!(answer["error"]["message"].as_str().unwrap().contains("max_tokens"));
    // A model of the other wire format, through either door: 400 naming both.
    let (status, _, answer) = message(&server, &key, &claude("x", json!({"model": "gpt-4.1-mini"})));
    assert_eq!(status, 400);
    assert!(answer.contains("speaks the openai API, not anthropic"), "{answer}");
    let (status, _, answer) = call(&server, &key, &hello(json!({"model": "claude-haiku-4-5"})));
    assert_eq!(status, 400);
    assert!(answer["error"]["message"].as_str().unwrap().contains("speaks the anthropic API, not openai"));

    // The simulated provider answers Anthropic's format too.
    let (status, _, answer) =
        message(&server, &key, &claude("hello", json!({"model": "claude-sonnet-4-5", "max_tokens": 4})));
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((&answer["stop_reason"], &answer["usage"]["output_tokens"]), (&json!("max_tokens"), &json!(4)));

    // A budget that cannot cover the hold: 402 billing_error, naming the scope.
    tight_budget(&admin);
    let (status, _, answer) = message(&server, &key, &claude("hello", json!({})));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((status, &answer["error"]["type"]), (402, &json!("billing_error")), "{answer}");
    assert_eq!(answer["error"]["budget"]["scope"], "agent_daily");
}

#[test]
fn the_anthropic_sdk_calls_through_the_gateway() {
    let Rig { upstream, _dir, server, admin, agent, key } = Rig::start("anthropic-sdk");
    let base = server.base.replace("/api/v1", "/gateway/anthropic");
    let sdk = |key: &str, scenario: &str| run_sdk("anthropic_client.py", &base, key, scenario);
    let message = sdk(&key, "message");
    assert_eq!((&message["text"], &message["stop_reason"]), (&json!("ok"), &json!("end_turn")));
    assert_eq!(message["usage"]["cache_read_input_tokens"], 4);
    let record = records(&admin, &agent, 1).pop().unwrap();
    assert_eq!((&record["id"], &record["cost_source"]), (&message["cost_record_id"], &json!("metered")));
    assert_eq!(upstream.received()[0]["headers"]["x-api-key"], UPSTREAM_KEY);

    let streamed = sdk(&key, "stream");
    assert_eq!((&streamed["text"], &streamed["stop_reason"]), (&json!("w0 w1 w2 w3 w4 w5 "), &json!("max_tokens")));
    assert_eq!(streamed["usage"]["output_tokens"], 6);
    let tools = sdk(&key, "tools");
    assert_eq!(
        (&tools["tool"], &tools["input"]["city"], &tools["stop_reason"]),
        (&json!("get_weather"), &json!("Paris"), &json!("tool_use"))
    );
    let counted = sdk(&key, "count");
    assert!(counted["input_tokens"].as_u64().unwrap() > 0, "{counted}");

    let limited = sdk(&key, "limited");
    assert_eq!((&limited["exception"], &limited["retry_after"]), (&json!("RateLimitError"), &json!("7")));
    let badkey = sdk("sk_nope_0000", "badkey");
    assert_eq!((&badkey["exception"], &badkey["status"]), (&json!("AuthenticationError"), &json!(401)));
    tight_budget(&admin);
    let refused = sdk(&key, "refused");
    assert_eq!((&refused["status"], &refused["type"]), (&json!(402), &json!("billing_error")));
    assert_eq!(refused["attempts"], 1, "a 402 is not retried: {refused}");
}

/// A stream still running when the server is told to stop: it runs to its end (graceful
/// shutdown), and its settlement, which follows it, is written before the store closes.
#[test]
fn a_stream_running_at_shutdown_is_settled_before_the_server_stops() {
    let upstream = Upstream::start();
    let (dir, data, server) = serve(&upstream, &[]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "late");
    let address = server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned();
    // About 200 chunks, 5 ms apart: a second of stream, cut at its cap of 150.
    let body = said("ignore-cap", json!({"max_tokens": 150})).to_string();
    let reader = std::thread::spawn(move || {
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        let request = format!(
            "POST /gateway/openai/v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        std::io::Write::write_all(&mut socket, request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut socket, &mut answer);
        answer
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert!(reader.join().unwrap().contains("data: [DONE]"), "the stream ran to its end");
    // The store as the next start finds it.
    let config = dir.path().join("gateway.yaml");
    let again = Server::start_with_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)],
    );
    let admin = Client::new(&again.base, &Server::bootstrap_key(&data));
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}"));
    let record = &costs["items"][0];
    assert_eq!((&record["cost_source"], &record["output_tokens"]), (&json!("estimated"), &json!(150)), "{costs}");
}
