//! The model gateway end to end: the real binary in front of a stand-in OpenAI upstream (its
//! own process on loopback, `tests/providers/openai_upstream.py`), called over HTTP and with
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

const UPSTREAM_KEY: &str = "sk-upstream-7f3a9c2e5b1d4e6f8a0b";

/// The stand-in upstream, killed when dropped.
struct Upstream {
    child: Child,
    base: String,
}

impl Upstream {
    fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/providers/openai_upstream.py");
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
    fn received(&self) -> Vec<Value> {
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
    sim:
      kind: simulated
      price_as: openai
  routes:
    - model: gpt-4.1-mini
      provider: up
    - model: gpt-4.1-nano
      provider: sim
",
        upstream.base
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

fn agent_key(admin: &Client, name: &str) -> (String, String) {
    let (_, agent) = admin.post("/agents", &json!({"name": name, "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let (_, key) = admin.post("/keys", &json!({"role": "agent", "agent_id": agent}));
    (agent, key["key"].as_str().unwrap().to_owned())
}

fn hello(extra: Value) -> Value {
    let mut body = json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hello there"}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
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

fn held_forwarded_settled(store: &[(&str, &str)]) {
    let upstream = Upstream::start();
    let (dir, data) = temp_dir();
    let config = config(dir.path(), &upstream);
    let mut env = vec![("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)];
    env.extend_from_slice(store);
    let server = Server::start_with_env(&data, &["--config", config.to_str().unwrap()], &env);
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

    // Each call is one metered record with the provider's own usage, settling its hold.
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}&limit=10"));
    let records = costs["items"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let first = &records[0];
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
    assert!(records.iter().all(|r| holds.iter().any(|h| h["id"] == r["reservation_id"])));

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
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}&limit=10"));
    let sources: Vec<&str> =
        costs["items"].as_array().unwrap().iter().map(|r| r["cost_source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["metered", "metered", "metered", "estimated"]);

    // The simulated provider answers in process and says so.
    let (status, _, answer) = call(&server, &key, &hello(json!({"model": "gpt-4.1-nano", "max_tokens": 5})));
    assert_eq!(status, 200);
    assert_eq!(answer["system_fingerprint"], "synthorg-simulated");
    assert_eq!(answer["usage"]["completion_tokens"], 5);

    // A budget that cannot cover the hold: 402 budget_exhausted naming the scope; nothing sent.
    let before = upstream.received().len();
    let (status, _) =
        admin.send("PUT", "/budget/config", &json!({"total_monthly": 100, "per_agent_daily_limit": 0.0001}));
    assert_eq!(status, 200);
    let (status, _, answer) = call(&server, &key, &hello(json!({"max_tokens": 50})));
    assert_eq!(status, 402, "{answer}");
    assert_eq!(answer["error"]["code"], "budget_exhausted");
    assert_eq!(answer["error"]["type"], "insufficient_quota");
    assert_eq!(answer["error"]["budget"]["scope"], "agent_daily");
    assert_eq!(upstream.received().len(), before);

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
}

#[test]
fn the_openai_sdk_calls_through_the_gateway() {
    let upstream = Upstream::start();
    let (dir, data) = temp_dir();
    let config = config(dir.path(), &upstream);
    let server = Server::start_with_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("GATEWAY_TEST_UPSTREAM_KEY", UPSTREAM_KEY)],
    );
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (agent, key) = agent_key(&admin, "sdk");
    let base = server.base.replace("/api/v1", "/gateway/openai/v1");
    let sdk = |key: &str, scenario: &str| -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/providers/openai_client.py");
        let out = Command::new("python3").arg(script).args([&base, key, scenario]).output().unwrap();
        assert!(out.status.success(), "{scenario}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let chat = sdk(&key, "chat");
    assert_eq!(chat["content"], "ok");
    assert_eq!(chat["usage"]["completion_tokens"], 20);
    assert_eq!(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    let record_id = chat["cost_record_id"].as_str().unwrap();
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}"));
    let record = &costs["items"][0];
    assert_eq!((&record["id"], &record["cost_source"]), (&json!(record_id), &json!("metered")));
    let sent = upstream.received();
    assert!(sent[0]["headers"]["user-agent"].as_str().unwrap().starts_with("synthorg/"));
    assert_eq!(sent[0]["body"]["max_tokens"], 50);

    let tools = sdk(&key, "tools");
    assert_eq!((&tools["tool"], &tools["arguments"]["city"]), (&json!("get_weather"), &json!("Paris")));
    assert_eq!(tools["finish_reason"], "tool_calls");
    let sent = upstream.received();
    assert_eq!(sent.last().unwrap()["body"]["tools"][0]["function"]["name"], "get_weather");

    // The upstream's 429 is the SDK's RateLimitError, with the provider's Retry-After.
    let limited = sdk(&key, "limited");
    assert_eq!((&limited["exception"], &limited["status"]), (&json!("RateLimitError"), &json!(429)));
    assert_eq!(limited["retry_after"], "7");

    let badkey = sdk("sk_nope_0000", "badkey");
    assert_eq!((&badkey["exception"], &badkey["status"]), (&json!("AuthenticationError"), &json!(401)));

    // The gateway's 402 is raised at once: the SDK does not retry it (one attempt).
    let (status, _) =
        admin.send("PUT", "/budget/config", &json!({"total_monthly": 100, "per_agent_daily_limit": 0.0001}));
    assert_eq!(status, 200);
    let refused = sdk(&key, "refused");
    assert_eq!((&refused["status"], &refused["code"]), (&json!(402), &json!("budget_exhausted")));
    assert_eq!(refused["attempts"], 1, "{refused}");
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
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}"));
    let record = &costs["items"][0];
    assert_eq!((&record["provider"], &record["cost_source"]), (&json!("simulated"), &json!("metered")));
    assert_eq!(record["output_tokens"], 8);
}
