//! A real Prometheus server scrapes the real binary over loopback.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Client, Server, temp_dir};

pub(crate) struct Prometheus {
    child: Child,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Prometheus {
    /// A Prometheus scraping `targets` (host:port) every second, with exemplar storage on.
    pub(crate) fn start(dir: &std::path::Path, targets: &[&str]) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: synthorg\n    metrics_path: /api/v1/metrics\n    static_configs:\n      - targets: {targets:?}\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("prometheus is needed for this test (run scripts/install-peers): {e}"));
        Prometheus { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// The value of an instant query with a single result, if any.
    pub(crate) fn query(&self, promql: &str) -> Option<f64> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent.get(format!("{}/api/v1/query", self.base)).query("query", promql).call().ok()?;
        let v: Value = r.body_mut().read_json().ok()?;
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    /// The exemplars of the series `selector` selects over the last 10 minutes: each as its
    /// series labels, its exemplar labels and its value.
    pub(crate) fn exemplars(&self, selector: &str) -> Vec<(Value, Value, f64)> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let Ok(mut r) = agent
            .get(format!("{}/api/v1/query_exemplars", self.base))
            .query("query", selector)
            .query("start", (now - 600.0).to_string())
            .query("end", (now + 60.0).to_string())
            .call()
        else {
            return Vec::new();
        };
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        let mut out = Vec::new();
        for series in v["data"].as_array().into_iter().flatten() {
            for e in series["exemplars"].as_array().into_iter().flatten() {
                let value = e["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
                out.push((series["seriesLabels"].clone(), e["labels"].clone(), value));
            }
        }
        out
    }

    /// Polls a query until `check` accepts its value, with a deadline.
    pub(crate) fn wait_for(&self, promql: &str, check: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = self.query(promql).filter(|v| check(*v)) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {promql}; last value {:?}", self.query(promql));
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn prometheus_scrapes_the_organization() {
    let (tmp, data) = temp_dir();
    // Spans go to a collector, so that the exemplars can be matched with exported spans.
    let receiver = synthorg_telemetry::otlp::receiver::Receiver::start().unwrap();
    let collector = receiver.endpoint();
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let mut agents = Vec::new();
    for name in ["ada", "quote\"d \\ agent", "braces} {and=\"label\" 🤖"] {
        let (s, a) = admin.post("/agents", &json!({"name": name, "role": "developer"}));
        assert_eq!(s, 201);
        agents.push(a["id"].as_str().unwrap().to_owned());
    }
    for (i, assignee) in agents.iter().map(Some).chain([None, None]).enumerate() {
        let (_, t) = admin.post("/tasks", &json!({"title": format!("t{i}")}));
        if let Some(agent) = assignee {
            let id = t["id"].as_str().unwrap();
            admin.post(&format!("/tasks/{id}/transitions"), &json!({"to": "assigned", "assigned_to": agent}));
        }
    }
    let target = server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned();
    let prometheus = Prometheus::start(tmp.path(), &[&target]);
    prometheus.wait_for("up{job=\"synthorg\"}", |v| v == 1.0);

    let (_, listed_agents) = admin.get("/agents?limit=1000");
    let (_, listed_tasks) = admin.get("/tasks?limit=1000");
    let n_agents = listed_agents["items"].as_array().unwrap().len() as f64;
    let n_tasks = listed_tasks["items"].as_array().unwrap().len() as f64;
    assert_eq!(prometheus.wait_for("sum(synthorg_agents_total)", |v| v == n_agents), n_agents);
    assert_eq!(prometheus.wait_for("sum(synthorg_tasks_total)", |v| v == n_tasks), n_tasks);
    prometheus.wait_for("sum(synthorg_tasks_total{agent=\"unassigned\"})", |v| v == 2.0);
    prometheus.wait_for("count(synthorg_agent_info)", |v| v == 3.0);

    let before = prometheus.wait_for("sum(synthorg_security_evaluations_total)", |_| true);
    for _ in 0..3 {
        let (s, _) =
            admin.post("/security/evaluate", &json!({"agent_id": agents[0], "tool": "fs.read", "action_type": "read"}));
        assert_eq!(s, 200);
    }
    prometheus.wait_for("synthorg_security_evaluations_total{verdict=\"allow\"}", |v| v >= before + 3.0);

    // Exemplars: a request in a sampled trace links its latency bucket to that trace, and
    // Prometheus keeps the link; the span id is the request's, as its log lines carry it.
    let trace_id = "5e1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let traced: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let r = traced
        .get(format!("{}/agents/{}", server.base, agents[1]))
        .header("authorization", &format!("Bearer {}", Server::bootstrap_key(&data)))
        .header("traceparent", &format!("00-{trace_id}-1111111111111111-01"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let find = |selector: &str, trace_id: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found =
                prometheus.exemplars(selector).into_iter().find(|(_, labels, _)| labels["trace_id"] == trace_id);
            if let Some(found) = found {
                return found;
            }
            assert!(Instant::now() < deadline, "no exemplar of trace {trace_id}: {:?}", prometheus.exemplars(selector));
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let (series, labels, seconds) =
        find("synthorg_http_request_duration_seconds_bucket{route=\"/api/v1/agents/{id}\"}", trace_id);
    assert_eq!(series["method"], "GET");
    let le: f64 = series["le"].as_str().unwrap().replace("+Inf", "inf").parse().unwrap();
    assert!(seconds > 0.0 && seconds <= le, "the exemplar {seconds} s lies in its bucket (le {le})");
    let span_id = labels["span_id"].as_str().unwrap();
    assert!(span_id.len() == 16 && span_id != "1111111111111111", "the request's own span: {span_id}");
    let logs = server.logs.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains(trace_id) && l.contains(span_id)),
        "a log line of the request carries the exemplar's trace and span ids"
    );
    // The exemplar points at a span that was exported: the request's SERVER span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let exported = loop {
        let spans = receiver.spans();
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        if let Some(span) = spans.into_iter().find(|s| hex(&s.trace_id) == trace_id && hex(&s.span_id) == span_id) {
            break span;
        }
        assert!(Instant::now() < deadline, "no exported span {span_id} in trace {trace_id}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(exported.name, "GET /api/v1/agents/{id}");
    // A verdict and a cost report link their counters to their requests' traces.
    let traced_post = |path: &str, body: Value, trace_id: &str| {
        traced
            .post(format!("{}{path}", server.base))
            .header("authorization", &format!("Bearer {}", Server::bootstrap_key(&data)))
            .header("traceparent", &format!("00-{trace_id}-2222222222222222-01"))
            .send_json(body)
            .unwrap()
            .status()
            .as_u16()
    };
    let verdict_trace = "6a1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let body = json!({"agent_id": agents[0], "tool": "fs.read", "action_type": "read"});
    assert_eq!(traced_post("/security/evaluate", body, verdict_trace), 200);
    let (series, _, value) = find("synthorg_security_evaluations_total", verdict_trace);
    assert_eq!((series["verdict"].as_str(), series["action"].as_str(), value), (Some("allow"), Some("allow"), 1.0));
    let cost_trace = "7b1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let body = json!({"agent_id": agents[0], "provider": "anthropic", "model": "claude-sonnet-4", "input_tokens": 10,
        "output_tokens": 5, "cost": "0.25"});
    assert_eq!(traced_post("/costs", body, cost_trace), 201);
    let (_, _, value) = find("synthorg_cost_total", cost_trace);
    assert_eq!(value, 0.25, "the exemplar is the report's cost");
    let (series, _, tokens) = find("gen_ai_client_token_usage_bucket{gen_ai_token_type=\"input\"}", cost_trace);
    assert_eq!((series["gen_ai_request_model"].as_str(), tokens), (Some("claude-sonnet-4"), 10.0));
    // The dashboard's panels answer as shown: the 5xx ratio is 0 without any 5xx (not "No
    // data"), and panels filtered by the dashboard's job variable find this job.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/grafana/synthorg-overview.json"))
            .unwrap(),
    )
    .unwrap();
    let panel = |title: &str| {
        let panel = dashboard["panels"].as_array().unwrap().iter().find(|p| p["title"] == title).unwrap();
        panel["targets"][0]["expr"].as_str().unwrap().replace("$job", "synthorg")
    };
    prometheus.wait_for("sum(rate(synthorg_http_requests_total[5m]))", |v| v > 0.0);
    assert_eq!(prometheus.query(&panel("5xx ratio")), Some(0.0));
    assert_eq!(prometheus.query(&panel("Instances up")), Some(1.0));
    // The target stayed up through every scrape, adversarial names included.
    assert_eq!(prometheus.query("min_over_time(up{job=\"synthorg\"}[1m])"), Some(1.0));
    drop(prometheus);
    let (status, _) = server.signal("TERM");
    assert!(status.success());
}
