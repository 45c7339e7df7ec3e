//! The tool gateway end to end: the real binary in front of an MCP server built with the
//! official `mcp` SDK (`tests/mcp/tool_server.py`, over stdio and over Streamable HTTP),
//! driven by the SDK's own client (`tests/mcp/client.py`) in both eras of the protocol (the
//! initialize handshake and the stateless revision), and by hand where a client would never
//! go (another key's session, oversized and malformed messages).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use synthorg_store::testing::PgSchema;

use crate::{Client, Server, temp_dir};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp").join(name)
}

/// The tool server over Streamable HTTP, killed when dropped.
struct HttpToolServer {
    child: Child,
    url: String,
}

impl HttpToolServer {
    fn start(calls: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg(script("tool_server.py"))
            .arg("http")
            .env("TOOL_CALLS", calls)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("port=").unwrap_or_else(|| panic!("tool server said {line:?}"));
        Self { child, url: format!("http://127.0.0.1:{port}/mcp") }
    }
}

impl Drop for HttpToolServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server fronting `files` (stdio), `web` (HTTP) and `quick` (stdio, 1 s timeout).
struct Rig {
    dir: tempfile::TempDir,
    _http: HttpToolServer,
    server: Server,
    admin: Client,
}

impl Rig {
    fn start(store: &[(&str, &str)], approval_wait: &str) -> Self {
        let (dir, data) = temp_dir();
        let calls = dir.path().join("calls.jsonl");
        let http = HttpToolServer::start(&dir.path().join("http-calls.jsonl"));
        let server_script = script("tool_server.py");
        let yaml = format!(
            "gateway:
  mcp:
    approval_wait: {approval_wait}
    servers:
      files:
        command: python3
        args: [{script:?}, stdio]
        env:
          TOOL_CALLS: {calls:?}
        action_types:
          fetch: read
      web:
        url: {url}
      quick:
        command: python3
        args: [{script:?}, stdio]
        timeout: 1s
      bad:
        command: python3
        args: [{hostile:?}]
",
            script = server_script.to_str().unwrap(),
            hostile = script("hostile_server.py").to_str().unwrap(),
            calls = calls.to_str().unwrap(),
            url = http.url,
        );
        let config = dir.path().join("mcp.yaml");
        std::fs::write(&config, yaml).unwrap();
        let server = Server::start_with_env(&data, &["--config", config.to_str().unwrap()], store);
        let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
        Self { dir, _http: http, server, admin }
    }

    fn url(&self, server: &str) -> String {
        self.server.base.replace("/api/v1", &format!("/mcp/{server}"))
    }

    /// An agent at `level` and its key.
    fn agent(&self, name: &str, level: &str) -> (String, String) {
        let (status, agent) =
            self.admin.post("/agents", &json!({"name": name, "role": "developer", "trust_level": level}));
        assert_eq!(status, 201, "{agent}");
        let agent = agent["id"].as_str().unwrap().to_owned();
        let (_, key) = self.admin.post("/keys", &json!({"role": "agent", "agent_id": agent}));
        (agent, key["key"].as_str().unwrap().to_owned())
    }

    /// The tool calls the stdio server `files` received (each process appends to one file).
    fn received(&self, file: &str) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join(file))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Runs `steps` in one session of the SDK's client in `mode`: what each gave.
fn client(url: &str, key: &str, mode: &str, steps: Value) -> Vec<Value> {
    client_for_task(url, key, mode, steps, None)
}

fn client_for_task(url: &str, key: &str, mode: &str, steps: Value, task: Option<&str>) -> Vec<Value> {
    client_with(url, key, mode, steps, task, None)
}

fn client_with(
    url: &str,
    key: &str,
    mode: &str,
    steps: Value,
    task: Option<&str>,
    traceparent: Option<&str>,
) -> Vec<Value> {
    let mut command = Command::new("python3");
    if let Some(traceparent) = traceparent {
        command.env("TRACEPARENT", traceparent);
    }
    command.arg(script("client.py")).args([url, key, mode, &steps.to_string()]);
    if let Some(task) = task {
        command.arg(task);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{mode}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The eras of the protocol: the handshake, and the stateless revision.
const MODES: [&str; 2] = ["legacy", "2026-07-28"];

#[test]
fn tools_are_listed_by_policy_judged_forwarded_and_scanned_on_sqlite() {
    listed_judged_forwarded(&[]);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn tools_are_listed_by_policy_judged_forwarded_and_scanned_on_postgres() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL");
    listed_judged_forwarded(&[
        ("SYNTHORG_DATABASE__URL", schema.url.as_str()),
        ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str()),
    ]);
}

fn listed_judged_forwarded(store: &[(&str, &str)]) {
    let rig = Rig::start(store, "2s");
    let (sandboxed, sandboxed_key) = rig.agent("reader", "sandboxed");
    let (_, standard_key) = rig.agent("builder", "standard");
    for server in ["files", "web"] {
        let url = rig.url(server);
        let calls_file = if server == "files" { "calls.jsonl" } else { "http-calls.jsonl" };
        for mode in MODES {
            let before = rig.received(calls_file).len();
            let out = client(
                &url,
                &sandboxed_key,
                mode,
                json!([
                    {"list": true},
                    {"call": "read_file", "arguments": {"path": "README.md"}},
                    {"call": "write_file", "arguments": {"path": "a.txt", "content": "x"}},
                    {"call": "show_config"},
                ]),
            );
            // A sandboxed agent reads only: tools that write, delete or reach out are hidden.
            let mut shown: Vec<&str> =
                out[0]["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            shown.sort_unstable();
            let mut expected = vec!["crash", "get_weather", "huge", "read_file", "show_config", "slow"];
            if server == "files" {
                // `fetch` is configured as a read on this server, whatever its annotations say.
                expected.push("fetch");
                expected.sort_unstable();
            }
            assert_eq!(shown, expected, "{server} {mode}");
            // Allowed: forwarded, the answer passed on.
            assert_eq!(out[1]["text"], "hello from the tool server", "{server} {mode}: {}", out[1]);
            assert_eq!(out[1]["isError"], false);
            // Denied (called anyway, though not listed): an error result with the reason.
            assert_eq!(out[2]["isError"], true, "{server} {mode}: {}", out[2]);
            let refusal = out[2]["text"].as_str().unwrap();
            assert!(refusal.contains("synthorg denied this tool call"), "{refusal}");
            assert!(refusal.contains("action type write is not allowed for trust level sandboxed"), "{refusal}");
            // The result's credential and email address are redacted, in text and structure.
            let config = out[3]["text"].as_str().unwrap();
            assert!(!config.contains("AKIAABCDEFGHIJKLMNOP") && !config.contains("ops@example.com"), "{config}");
            assert!(config.contains("region=eu-west-1") && config.contains("REDACTED"), "{config}");
            assert!(!out[3]["structured"].to_string().contains("AKIA"), "{}", out[3]);
            // The upstream saw the two allowed calls, never the denied one, and the agent's
            // trace arrived with them.
            let received = rig.received(calls_file);
            let new: Vec<&Value> = received[before..].iter().collect();
            let tools: Vec<&str> = new.iter().map(|c| c["tool"].as_str().unwrap()).collect();
            assert_eq!(tools, ["read_file", "show_config"], "{server} {mode}");
            for call in &new {
                let traceparent = call["meta"]["traceparent"].as_str().unwrap_or_default();
                assert!(traceparent.starts_with("00-") && traceparent.len() == 55, "{call}");
                assert!(
                    !call["meta"].to_string().contains("io.modelcontextprotocol/"),
                    "the stateless envelope is the gateway's, not the upstream's: {call}"
                );
            }
        }
    }
    // Every verdict was recorded, with the tool's policy name, for the agent.
    let (_, evaluations) = rig.admin.get(&format!("/security/evaluations?agent_id={sandboxed}&limit=100"));
    let items = evaluations["items"].as_array().unwrap();
    let denied = items.iter().filter(|e| e["tool"] == "files.write_file" && e["verdict"] == "deny").count();
    assert_eq!(denied, 2, "{evaluations}");
    let allowed = items.iter().filter(|e| e["tool"] == "web.read_file" && e["verdict"] == "allow").count();
    assert_eq!(allowed, 2, "{evaluations}");
    // The output scan's findings were audited.
    let (_, audit) = rig.admin.get("/audit?action=security.output_scanned&limit=100");
    assert!(audit["items"].as_array().unwrap().len() >= 4, "{audit}");
    // A standard agent sees everything, deletion included (it escalates, so it is offered).
    let out = client(&rig.url("files"), &standard_key, "legacy", json!([{"list": true}]));
    assert_eq!(out[0]["tools"].as_array().unwrap().len(), 9, "{}", out[0]);
}

/// One JSON-RPC exchange by hand: status, the session id answered, the body.
fn rpc(url: &str, key: &str, session: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent
        .post(url)
        .header("authorization", &format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let mut response = request.send(body).unwrap();
    let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, session, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A handshake by hand: the new session's id.
fn initialize(url: &str, key: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "by-hand", "version": "1"}}});
    let (status, session, answer) = rpc(url, key, None, &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["protocolVersion"], "2025-06-18", "{answer}");
    session.expect("an Mcp-Session-Id")
}

fn tool_call(id: u64, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
        .to_string()
}

#[test]
fn an_escalated_call_waits_for_its_approval_and_a_decision_releases_it_at_once_on_sqlite() {
    escalated_calls_wait(&[], &[]);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn an_escalated_call_waits_for_its_approval_and_a_decision_releases_it_at_once_on_postgres() {
    let (first, second) = (PgSchema::new().expect("SYNTHORG_TEST_PG_URL"), PgSchema::new().unwrap());
    escalated_calls_wait(
        &[("SYNTHORG_DATABASE__URL", first.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", first.name.as_str())],
        &[("SYNTHORG_DATABASE__URL", second.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", second.name.as_str())],
    );
}

/// `store` and `other` name two fresh stores (two servers start, each on its own).
fn escalated_calls_wait(store: &[(&str, &str)], other: &[(&str, &str)]) {
    let rig = Rig::start(store, "30s");
    let (agent, key) = rig.agent("builder", "standard");
    for (decision, mode) in [("approve", "legacy"), ("reject", "2026-07-28")] {
        let url = rig.url("files");
        let started = std::time::Instant::now();
        let waiting = {
            let (url, key) = (url.clone(), key.clone());
            std::thread::spawn(move || {
                client(
                    &url,
                    &key,
                    mode,
                    json!([{"call": "delete_file", "arguments": {"path": "README.md"}, "progress": true}]),
                )
            })
        };
        // The call opened an approval; an admin decides it over REST.
        let approval = loop {
            let (_, pending) = rig.admin.get(&format!("/approvals?status=pending&agent_id={agent}"));
            if let Some(first) = pending["items"].as_array().and_then(|a| a.first()) {
                break first.clone();
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "no approval opened");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(approval["tool"], "files.delete_file", "{approval}");
        assert_eq!(approval["arguments"], json!({"path": "README.md"}));
        let id = approval["id"].as_str().unwrap();
        let (status, decided) =
            rig.admin.post(&format!("/approvals/{id}/decision"), &json!({"decision": decision, "note": "checked"}));
        assert_eq!(status, 200, "{decided}");
        let out = waiting.join().unwrap();
        // Released well before the 30 s wait ran out.
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
        let result = &out[0];
        // The client asked for progress and was told what it waits for.
        let progress = result["progress"].as_array().unwrap();
        assert!(!progress.is_empty(), "{result}");
        assert!(progress[0]["message"].as_str().unwrap().contains(id), "{result}");
        let deleted = rig.received("calls.jsonl").iter().filter(|c| c["tool"] == "delete_file").count();
        match decision {
            "approve" => {
                assert_eq!(result["isError"], false, "{result}");
                assert_eq!(result["text"], "deleted README.md");
                assert_eq!(deleted, 1);
            }
            _ => {
                assert_eq!(result["isError"], true, "{result}");
                let text = result["text"].as_str().unwrap();
                assert!(text.contains(id) && text.contains("rejected") && text.contains("checked"), "{text}");
                assert_eq!(deleted, 1, "a rejected call never reaches the server");
            }
        }
    }
    // Undecided within the wait: an error result naming the approval, nothing run.
    drop(rig);
    let short = Rig::start(other, "1s");
    let (_, key) = short.agent("builder", "standard");
    let out = client(&short.url("web"), &key, "legacy", json!([{"call": "delete_file", "arguments": {"path": "x"}}]));
    assert_eq!(out[0]["isError"], true, "{}", out[0]);
    assert!(out[0]["text"].as_str().unwrap().contains("not decided within 1s"), "{}", out[0]);
    // An approval given after the call gave up runs nothing: the call is over.
    let (_, pending) = short.admin.get("/approvals?status=pending");
    let id = pending["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = short.admin.post(&format!("/approvals/{id}/decision"), &json!({"decision": "approve"}));
    assert_eq!(status, 200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!short.received("http-calls.jsonl").iter().any(|c| c["tool"] == "delete_file"));
}

/// stdio processes are capped (`max_processes`): past the cap a session is refused with
/// a clear error until one ends; an idle session is closed and its process stopped.
#[test]
fn server_processes_are_capped_and_idle_sessions_closed() {
    let (dir, data) = temp_dir();
    let yaml = format!(
        "gateway:\n  mcp:\n    max_processes: 1\n    max_sessions_per_key: 1\n    idle_timeout: 2s\n    servers:\n      files:\n        \
         command: python3\n        args: [{:?}, stdio]\n",
        script("tool_server.py").to_str().unwrap()
    );
    let config = dir.path().join("mcp.yaml");
    std::fs::write(&config, yaml).unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) = admin.post("/agents", &json!({"name": "a", "role": "developer"}));
    let (_, key) = admin.post("/keys", &json!({"role": "agent", "agent_id": agent["id"]}));
    let key = key["key"].as_str().unwrap();
    let (_, other) = admin.post("/agents", &json!({"name": "b", "role": "developer"}));
    let (_, other_key) = admin.post("/keys", &json!({"role": "agent", "agent_id": other["id"]}));
    let other_key = other_key["key"].as_str().unwrap();
    let url = server.base.replace("/api/v1", "/mcp/files");
    let first = initialize(&url, key);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "second", "version": "1"}}});
    // One key may hold one session here; the next is refused before any process starts.
    let (_, session, answer) = rpc(&url, key, None, &body.to_string());
    assert!(session.is_none(), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("max_sessions_per_key"), "{answer}");
    // Another key finds the one process place taken.
    let (_, session, answer) = rpc(&url, other_key, None, &body.to_string());
    assert!(session.is_none(), "{answer}");
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("max_processes"), "{answer}");
    // Ending the first session frees its process's place.
    let agent_http: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let response = agent_http
        .delete(&url)
        .header("authorization", &format!("Bearer {key}"))
        .header("mcp-session-id", &first)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let second = initialize(&url, key);
    // Unused past idle_timeout, the session is closed: 404, and a new one may start.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (status, _, _) = rpc(&url, key, Some(&second), r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    assert_eq!(status, 404);
    let third = initialize(&url, key);
    // Each session's start and end is a log line saying why it ended, with its id hashed.
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    let closed =
        |reason: &str| logs.iter().any(|l| l.contains("mcp session closed") && l.contains(&format!("reason={reason}")));
    assert!(closed("client") && closed("idle") && closed("shutdown"), "{logs:#?}");
    assert_eq!(logs.iter().filter(|l| l.contains("mcp session opened")).count(), 3, "{logs:#?}");
    for id in [&first, &second, &third] {
        assert!(!logs.iter().any(|l| l.contains(id.as_str())), "a session id is in a log line");
    }
}

#[test]
fn the_same_call_through_rest_and_through_the_gateway_gets_the_same_verdict_and_audit() {
    let rig = Rig::start(&[], "1s");
    let (agent, key) = rig.agent("reader", "sandboxed");
    let agent_client = Client::new(&rig.server.base, &key);
    let mut counted_before: std::collections::HashMap<&str, f64> = [("allow", 0.0), ("deny", 0.0)].into();
    for (tool, kind, arguments) in [
        ("read_file", "read", json!({"path": "README.md"})),
        ("write_file", "write", json!({"path": "a", "content": "b"})),
        ("read_file", "read", json!({"path": "../../etc/passwd"})),
    ] {
        let (status, rest) = agent_client.post(
            "/security/evaluate",
            &json!({"agent_id": agent, "tool": format!("files.{tool}"), "action_type": kind, "arguments": arguments}),
        );
        assert_eq!(status, 200, "{rest}");
        client(&rig.url("files"), &key, "legacy", json!([{"call": tool, "arguments": arguments}]));
        let (_, evaluations) = rig.admin.get(&format!("/security/evaluations?agent_id={agent}&limit=2&order=desc"));
        let items = evaluations["items"].as_array().unwrap();
        let (gateway, by_rest) = (&items[0], &items[1]);
        for field in ["tool", "action_type", "verdict", "risk_level", "reason", "matched_rules", "action"] {
            assert_eq!(gateway[field], by_rest[field], "{field}: {gateway} vs {by_rest}");
        }
        assert_eq!(by_rest["verdict"], rest["verdict"]);
        // Each wrote the same audit event, but for its id.
        let (_, audit) = rig.admin.get("/audit?action=security.verdict&limit=2&order=desc");
        let events = audit["items"].as_array().unwrap();
        for event in events {
            assert!(event["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{event}");
        }
        let strip = |e: &Value| {
            let mut after = e["after"].clone();
            after.as_object_mut().unwrap().remove("evaluation_id");
            (e["actor"].clone(), e["target_id"].clone(), after)
        };
        assert_eq!(strip(&events[0]), strip(&events[1]), "{audit}");
        // And each moved the verdict counter by one.
        let verdict = by_rest["verdict"].as_str().unwrap();
        let line = format!("synthorg_security_evaluations_total{{verdict=\"{verdict}\",action=\"{verdict}\"}}");
        let counted = |metrics: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(&line))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0.0)
        };
        let now = counted(&scrape(&rig));
        assert_eq!(now - counted_before[verdict], 2.0, "{line}");
        *counted_before.get_mut(verdict).unwrap() = now;
    }
}

fn scrape(rig: &Rig) -> String {
    ureq::get(format!("{}/metrics", rig.server.base)).call().unwrap().into_body().read_to_string().unwrap()
}

#[test]
fn hostile_clients_and_upstreams_get_clear_errors_and_lose_nothing() {
    let rig = Rig::start(&[], "1s");
    let (_, key) = rig.agent("builder", "standard");
    let (_, other_key) = rig.agent("other", "standard");
    let url = rig.url("files");
    let session = initialize(&url, &key);
    // Another key's session is not found, as is one never opened.
    let (status, _, answer) = rpc(&url, &other_key, Some(&session), &tool_call(2, "read_file", json!({"path": "x"})));
    assert_eq!(status, 404, "{answer}");
    let (status, _, _) = rpc(&url, &key, Some("0123456789abcdef"), r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    assert_eq!(status, 404);
    // No session named: a 400 saying to initialize.
    let (status, _, answer) = rpc(&url, &key, None, r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    assert_eq!(status, 400, "{answer}");
    // Unknown methods, malformed JSON, bad params, oversized messages and batches.
    let (status, _, answer) = rpc(&url, &key, Some(&session), r#"{"jsonrpc":"2.0","id":3,"method":"resources/read"}"#);
    assert_eq!((status, answer["error"]["code"].as_i64()), (200, Some(-32601)), "{answer}");
    let (status, _, answer) = rpc(&url, &key, Some(&session), r#"{"jsonrpc":"2.0","id":3,"method":"#);
    assert_eq!((status, answer["error"]["code"].as_i64()), (400, Some(-32700)), "{answer}");
    let (_, _, answer) =
        rpc(&url, &key, Some(&session), r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#);
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("params.name"), "{answer}");
    let (_, _, answer) = rpc(&url, &key, Some(&session), &tool_call(5, "no_such_tool", json!({})));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let big = tool_call(6, "write_file", json!({"path": "big", "content": "x".repeat(5 * 1024 * 1024)}));
    let (status, _, answer) = rpc(&url, &key, Some(&session), &big);
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("at most 4194304 bytes"), "{answer}");
    let batch: Vec<Value> = (0..33).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "ping"})).collect();
    let (status, _, answer) = rpc(&url, &key, Some(&session), &Value::Array(batch).to_string());
    assert_eq!(status, 400, "{answer}");
    let batch: Vec<Value> = (0..3).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "ping"})).collect();
    let (status, _, answer) = rpc(&url, &key, Some(&session), &Value::Array(batch).to_string());
    assert_eq!((status, answer.as_array().map(Vec::len)), (200, Some(3)), "{answer}");
    // A hostile argument is judged before anything runs: a path escaping the sandbox.
    let (_, _, answer) =
        rpc(&url, &key, Some(&session), &tool_call(7, "read_file", json!({"path": "../../etc/passwd"})));
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    // The session still works after all that.
    let (_, _, answer) = rpc(&url, &key, Some(&session), &tool_call(8, "read_file", json!({"path": "README.md"})));
    assert_eq!(answer["result"]["content"][0]["text"], "hello from the tool server", "{answer}");

    // A slow upstream: the server's timeout (1 s on `quick`), then the session goes on.
    let quick = rig.url("quick");
    let session = initialize(&quick, &key);
    let (_, _, answer) = rpc(&quick, &key, Some(&session), &tool_call(2, "slow", json!({"seconds": 3})));
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("did not answer within 1s"), "{answer}");
    let (status, _, answer) = rpc(&quick, &key, Some(&session), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    assert_eq!(status, 200, "{answer}");
    // A result larger than the gateway reads, a line that is not JSON-RPC, a process that
    // dies mid-call: each an error naming it, and the session is over (404: start anew).
    for (server, tool, arguments, says) in [
        ("files", "huge", json!({"megabytes": 20}), "larger than"),
        ("bad", "garble", json!({}), "not a JSON-RPC message"),
        ("files", "crash", json!({}), "process ended"),
    ] {
        let url = rig.url(server);
        let session = initialize(&url, &key);
        let (_, _, answer) = rpc(&url, &key, Some(&session), &tool_call(2, tool, arguments));
        assert_eq!(answer["error"]["code"], -32000, "{tool}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{tool}: {answer}");
        let (status, _, _) = rpc(&url, &key, Some(&session), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
        assert_eq!(status, 404, "{tool}: the session ended");
    }
    // A list in pages: each page filtered by the policy, the cursor passed both ways.
    let (_, sandboxed_key) = rig.agent("reader", "sandboxed");
    let bad = rig.url("bad");
    let session = initialize(&bad, &sandboxed_key);
    let (_, _, page) = rpc(&bad, &sandboxed_key, Some(&session), r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let names = |page: &Value| -> Vec<String> {
        page["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&page), ["garble"], "the destructive tool is hidden from a sandboxed agent: {page}");
    assert_eq!(page["result"]["nextCursor"], "page-2", "{page}");
    let (_, _, page) = rpc(
        &bad,
        &sandboxed_key,
        Some(&session),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"page-2"}}"#,
    );
    assert_eq!(names(&page), ["peek"], "{page}");
    assert!(page["result"].get("nextCursor").is_none(), "{page}");
    // Tools called before any listing are looked up, page after page, and judged as their
    // annotations say: the destructive one on the first page refused, the read-only one on
    // the second forwarded.
    let fresh = initialize(&bad, &sandboxed_key);
    let (_, _, answer) = rpc(&bad, &sandboxed_key, Some(&fresh), &tool_call(4, "wipe", json!({})));
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(answer["result"]["content"][0]["text"].as_str().unwrap().contains("delete"), "{answer}");
    let fresh = initialize(&bad, &sandboxed_key);
    let (_, _, answer) = rpc(&bad, &sandboxed_key, Some(&fresh), &tool_call(5, "peek", json!({})));
    assert_eq!(answer["result"]["content"][0]["text"], "ok", "{answer}");

    // The server itself is unharmed: the API answers and the tool gateway opens sessions.
    assert_eq!(rig.admin.get("/health").0, 200);
    initialize(&url, &key);
}

/// Each tool call is a SERVER span of the MCP conventions under the HTTP request's, with the
/// upstream call a CLIENT span under it whose context the upstream receives; the calls are
/// counted on `/metrics` by server, tool, verdict and outcome, with the conventions' duration
/// histograms on both sides; and one log line says what happened.
#[test]
fn each_tool_call_is_spans_metrics_and_a_log_line() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use synthorg_telemetry::otlp::receiver::Receiver;

    use crate::otlp::{attribute, hex};

    let receiver = Receiver::start().unwrap();
    let endpoint = receiver.endpoint();
    let rig = Rig::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())], "1s");
    let (_, key) = rig.agent("reader", "sandboxed");
    let trace = "e51f0a2b3c4d5e6f708192a3b4c5d6e7";
    let traceparent = format!("00-{trace}-1234567890abcdef-01");
    for mode in MODES {
        let out = client_with(
            &rig.url("files"),
            &key,
            mode,
            json!([
                {"call": "read_file", "arguments": {"path": "README.md"}},
                {"call": "write_file", "arguments": {"path": "x", "content": "y"}},
            ]),
            None,
            Some(&traceparent),
        );
        assert_eq!(out[0]["isError"], false, "{out:?}");
        assert_eq!(out[1]["isError"], true, "{out:?}");
    }
    let scrape =
        || ureq::get(format!("{}/metrics", rig.server.base)).call().unwrap().into_body().read_to_string().unwrap();
    let forwarded = "synthorg_gateway_tool_calls_total{server=\"files\",tool=\"files.read_file\",verdict=\"allow\",outcome=\"forwarded\"} 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !scrape().contains(forwarded) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let metrics = scrape();
    assert!(metrics.contains(forwarded), "{metrics}");
    assert!(
        metrics.contains(
            "synthorg_gateway_tool_calls_total{server=\"files\",tool=\"files.write_file\",verdict=\"deny\",outcome=\"denied\"} 2"
        ),
        "{metrics}"
    );
    for line in [
        "mcp_server_operation_duration_seconds_count{mcp_method_name=\"tools/call\",gen_ai_tool_name=\"read_file\",error_type=\"\"} 2",
        "mcp_server_operation_duration_seconds_count{mcp_method_name=\"tools/call\",gen_ai_tool_name=\"write_file\",error_type=\"tool_error\"} 2",
        "mcp_client_operation_duration_seconds_count{mcp_method_name=\"tools/call\",gen_ai_tool_name=\"read_file\",error_type=\"\"} 2",
        "synthorg_gateway_tool_overhead_seconds_count{server=\"files\"} 4",
    ] {
        assert!(metrics.contains(line), "no {line} in {metrics}");
    }
    assert!(
        !metrics.contains(
            "mcp_client_operation_duration_seconds_count{mcp_method_name=\"tools/call\",gen_ai_tool_name=\"write_file\""
        ),
        "a denied call never reached the server: {metrics}"
    );

    let received = rig.received("calls.jsonl");
    let (status, logs) = rig.server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    let line = logs.iter().find(|l| l.contains("tool call through the gateway") && l.contains("outcome=denied"));
    let line = line.unwrap_or_else(|| panic!("no log line of the denied call: {logs:?}"));
    assert!(
        line.contains("tool=write_file") && line.contains("server=files") && line.contains("verdict=deny"),
        "{line}"
    );
    let spans = receiver.spans();
    let ours: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    let http: Vec<_> =
        ours.iter().filter(|s| s.kind == SpanKind::Server as i32 && s.name.starts_with("POST")).collect();
    let mcp: Vec<_> =
        ours.iter().filter(|s| s.kind == SpanKind::Server as i32 && s.name == "tools/call read_file").collect();
    assert_eq!(mcp.len(), 2, "{ours:#?}");
    for span in &mcp {
        assert!(http.iter().any(|h| h.span_id == span.parent_span_id), "under the HTTP request's span: {span:#?}");
        let attr = |key: &str| attribute(span, key);
        assert_eq!(attr("mcp.method.name").as_deref(), Some("tools/call"));
        assert_eq!(attr("gen_ai.tool.name").as_deref(), Some("read_file"));
        assert_eq!(attr("gen_ai.operation.name").as_deref(), Some("execute_tool"));
        assert_eq!(attr("synthorg.security.verdict").as_deref(), Some("allow"));
        assert!(attr("jsonrpc.request.id").is_some(), "{span:#?}");
        let session = attr("mcp.session.id").unwrap();
        assert!(session.len() == 32 && !session.contains("stateless"), "hashed: {session}");
        let mut children: Vec<_> =
            ours.iter().filter(|s| s.kind == SpanKind::Client as i32 && s.parent_span_id == span.span_id).collect();
        children.sort_by_key(|c| c.start_time_unix_nano);
        // The session's first call looked the tool up in the server's list first.
        let names: Vec<&str> = children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tools/list", "tools/call read_file"], "{children:#?}");
        let client = children[1];
        assert_eq!(attribute(client, "network.transport").as_deref(), Some("pipe"));
        // The upstream was called in the CLIENT span's context.
        let sent = format!("00-{trace}-{}-01", hex(&client.span_id));
        assert!(received.iter().any(|c| c["meta"]["traceparent"] == sent.as_str()), "{sent} not in {received:?}");
    }
    let denied: Vec<_> =
        ours.iter().filter(|s| s.kind == SpanKind::Server as i32 && s.name == "tools/call write_file").collect();
    assert_eq!(denied.len(), 2);
    for span in denied {
        assert_eq!(attribute(span, "error.type").as_deref(), Some("tool_error"));
        assert_eq!(attribute(span, "synthorg.mcp.outcome").as_deref(), Some("denied"));
        assert!(!ours.iter().any(|s| s.parent_span_id == span.span_id && s.kind == SpanKind::Client as i32));
    }
}

/// An agent run by the OpenAI Agents SDK, governed at both doors: its model called through
/// the model gateway (held, metered), its tool through the tool gateway (judged, audited),
/// each with the agent's own synthorg key.
#[test]
fn an_agents_sdk_run_calls_its_model_and_its_mcp_tool_through_synthorg() {
    use crate::gateway::{UPSTREAM_KEY, Upstream};

    let upstream = Upstream::start();
    let (dir, data) = temp_dir();
    let calls = dir.path().join("calls.jsonl");
    let yaml = format!(
        "gateway:
  providers:
    up:
      kind: openai
      base_url: {}/v1
      api_key_env: MCP_TEST_UPSTREAM_KEY
  routes:
    - model: gpt-4.1-mini
      provider: up
  mcp:
    servers:
      files:
        command: python3
        args: [{:?}, stdio]
        env:
          TOOL_CALLS: {:?}
",
        upstream.base,
        script("tool_server.py").to_str().unwrap(),
        calls.to_str().unwrap(),
    );
    let config = dir.path().join("both.yaml");
    std::fs::write(&config, yaml).unwrap();
    let server = Server::start_with_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("MCP_TEST_UPSTREAM_KEY", UPSTREAM_KEY)],
    );
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) =
        admin.post("/agents", &json!({"name": "forecaster", "role": "analyst", "trust_level": "sandboxed"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let (_, key) = admin.post("/keys", &json!({"role": "agent", "agent_id": agent}));
    let key = key["key"].as_str().unwrap();
    let base = server.base.replace("/api/v1", "/gateway/openai/v1");
    let mcp = server.base.replace("/api/v1", "/mcp/files");
    let out = Command::new("python3").arg(script("agents_client.py")).args([&base, &mcp, key]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A sandboxed agent is offered the read tools only; the model called the first.
    assert_eq!(run["offered"][0], "get_weather", "{run}");
    assert!(!run["offered"].as_array().unwrap().iter().any(|t| t == "write_file" || t == "delete_file"), "{run}");
    assert_eq!((&run["final_output"], &run["model_calls"]), (&json!("done"), &json!(2)), "{run}");
    // The tool ran once, through the gateway, and its result went back to the model.
    let received: Vec<Value> =
        std::fs::read_to_string(&calls).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["arguments"], json!({"city": "Paris"}));
    let sent = upstream.received();
    assert!(sent.last().unwrap()["body"].to_string().contains("sunny in Paris"), "{sent:?}");
    // Both doors left their records: two metered model calls, one allowed tool call.
    let (_, costs) = admin.get(&format!("/costs?agent_id={agent}&limit=10"));
    let costs = costs["items"].as_array().unwrap();
    assert_eq!(costs.len(), 2, "{costs:?}");
    assert!(costs.iter().all(|c| c["cost_source"] == "metered"), "{costs:?}");
    let (_, evaluations) = admin.get(&format!("/security/evaluations?agent_id={agent}&limit=10"));
    let evaluations = evaluations["items"].as_array().unwrap();
    assert_eq!(evaluations.len(), 1, "{evaluations:?}");
    assert_eq!((&evaluations[0]["tool"], &evaluations[0]["verdict"]), (&json!("files.get_weather"), &json!("allow")));
}

/// `serve --demo` with no MCP server configured fronts a simulated one at `/mcp/demo`, whose
/// tools run nothing and say so: the tour's tool calls work without a server of one's own.
#[test]
fn the_demo_serves_a_simulated_mcp_server() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &["--demo"]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) =
        admin.post("/agents", &json!({"name": "tourist", "role": "developer", "trust_level": "sandboxed"}));
    let (_, key) = admin.post("/keys", &json!({"role": "agent", "agent_id": agent["id"]}));
    let key = key["key"].as_str().unwrap();
    let url = server.base.replace("/api/v1", "/mcp/demo");
    let out = client(
        &url,
        key,
        "auto",
        json!([
            {"list": true},
            {"call": "read_file", "arguments": {"path": "README.md"}},
            {"call": "delete_file", "arguments": {"path": "README.md"}},
        ]),
    );
    assert_eq!(out[0]["tools"], json!(["read_file"]), "a sandboxed agent sees the read tool only: {out:?}");
    assert_eq!(out[1]["text"], "simulated: the contents of README.md (no file was read)", "{out:?}");
    assert_eq!(out[2]["isError"], true, "{out:?}");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("/mcp/demo") && l.contains("simulated")), "the demo says so: {logs:?}");
}
