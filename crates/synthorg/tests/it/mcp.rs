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
",
            script = server_script.to_str().unwrap(),
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
    let mut command = Command::new("python3");
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
            let mut expected = vec!["crash", "garble", "huge", "read_file", "show_config", "slow"];
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
