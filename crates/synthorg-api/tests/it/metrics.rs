//! The scrape endpoint against real peers: `promtool` and the strict OpenMetrics parser of
//! Python's `prometheus_client` (installed by scripts/install-peers).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use axum::http::{Method, StatusCode};
use serde_json::json;
use synthorg_api::{ApiSettings, MetricsSettings};
use synthorg_telemetry::metrics::{Exposition, Format, Kind};

use crate::TestApp;

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The two seed families whose exact names (gauges ending in `_total`) promtool's linter
/// flags; everything else must pass clean.
const KNOWN_LINTS: &[&str] = &[
    "synthorg_agents_total non-counter metrics should not have \"_total\" suffix",
    "synthorg_tasks_total non-counter metrics should not have \"_total\" suffix",
];

fn run_peer(program: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test (run scripts/install-peers): {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `promtool check metrics`: no parse error and no lint beyond the known seed names.
pub(crate) fn promtool_check(text: &str) {
    let (code, out) = run_peer("promtool", &["check", "metrics"], text);
    let unexpected: Vec<_> = out.lines().filter(|l| !l.trim().is_empty() && !KNOWN_LINTS.contains(&l.trim())).collect();
    assert!(unexpected.is_empty() && (code == 0 || code == 3), "promtool exit {code}: {out}");
}

/// The strict OpenMetrics parser accepts the text; returns the number of families.
pub(crate) fn python_parse(text: &str) -> usize {
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                  print(len(list(text_string_to_metric_families(sys.stdin.read()))))";
    let (code, out) = run_peer("python3", &["-c", script], text);
    assert_eq!(code, 0, "the OpenMetrics parser refused the exposition: {out}");
    out.trim().parse().unwrap()
}

pub(crate) async fn scrape(app: &TestApp, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = axum::http::Request::builder().uri("/api/v1/metrics");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp =
        tower::ServiceExt::oneshot(app.router.clone(), req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of the sample line starting with `prefix` (name and labels).
pub(crate) fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

fn sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

async fn seed_adversarial(app: &TestApp) {
    // Line breaks and other controls are refused in names (the encoder's own test covers
    // them); everything else a label value can hold comes through the API.
    let names = ["plain", "quote\"d", "back\\slash", "} 1\\", "emoji 🤖👾", "\\\"", "x=\"y\",z", &"ü".repeat(128)];
    for (i, name) in names.iter().enumerate() {
        let r = app.post("/api/v1/agents", json!({"name": name, "role": "r\"\\", "department": name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name:?}: {:?}", r.body);
        let agent = crate::id(&r.body);
        let task = app.task(&format!("task {i}")).await;
        app.transition(task, json!({"to": "assigned", "assigned_to": agent})).await;
        app.post("/api/v1/costs", json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": "0.1"})).await;
    }
}

#[tokio::test]
async fn real_peers_accept_both_formats_with_adversarial_names() {
    let app = TestApp::new();
    seed_adversarial(&app).await;
    let (status, ct, text) = scrape(&app, None).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8"));
    promtool_check(&text);
    let (_, ct, om) = scrape(&app, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.ends_with("# EOF\n"));
    assert!(python_parse(&om) >= 20);
    let (_, ct, _) = scrape(&app, Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "VictoriaMetrics gets text");
}

/// Label values and HELP of any length and content survive both peers.
#[test]
fn encoder_escapes_anything() {
    let nasty = format!("{}\"\\\n\t🤖{}", "x".repeat(5000), "\\n".repeat(2500));
    for format in [Format::Text, Format::OpenMetrics] {
        let mut e = Exposition::new(format);
        e.header("t_family", Kind::Gauge, &format!("help with {nasty}"));
        e.gauge("t_family", &[("label", &nasty), ("other", "")], 1.0);
        e.header("t_events", Kind::Counter, "quote \" backslash \\ newline \n end");
        e.counter("t_events", &[("agent", &nasty)], 3.0);
        let text = String::from_utf8(e.finish()).unwrap();
        match format {
            Format::Text => promtool_check(&text),
            Format::OpenMetrics => assert_eq!(python_parse(&text), 2),
        }
    }
}

#[tokio::test]
async fn metrics_need_no_key_and_gzip_on_request() {
    let app = TestApp::new();
    let req = axum::http::Request::builder()
        .uri("/api/v1/metrics")
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
    assert!(text.contains("synthorg_app_info{version="));
}

#[tokio::test]
async fn not_wired_is_503_with_one_line() {
    let app = TestApp::with_settings(ApiSettings { metrics: None, ..Default::default() });
    let (status, ct, body) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ct.starts_with("text/plain"));
    assert_eq!(body.lines().count(), 1);
}

crate::on_both_stores! {
async fn values_follow_the_store_and_the_code_paths() {
    let app = TestApp::new();
    let (_, _, before) = scrape(&app, None).await;
    for verdict in ["allow", "deny", "escalate", "output_scan"] {
        let series = format!("synthorg_security_evaluations_total{{verdict=\"{verdict}\",action=\"{verdict}\"}}");
        assert_eq!(value(&before, &series), Some(0.0));
    }
    let ada = app.agent("ada").await;
    let bob = app.agent("bob").await;
    let t1 = app.task("one").await;
    app.task("two").await;
    app.transition(t1, json!({"to": "assigned", "assigned_to": ada})).await;
    app.post(
        "/api/v1/costs",
        json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": "2.5"}),
    )
    .await;
    app.call(
        Method::PUT,
        "/api/v1/budget/config",
        Some(&app.admin),
        Some(json!({"total_monthly": 10, "per_agent_daily_limit": 5})),
    )
    .await;
    app.post(
        "/api/v1/security/evaluate",
        json!({"agent_id": bob, "tool": "db", "action_type": "execute", "arguments": {"sql": "DROP TABLE x"}}),
    )
    .await;
    app.post("/api/v1/security/evaluate", json!({"agent_id": bob, "tool": "fs.read", "action_type": "read"})).await;
    app.post(
        "/api/v1/coordination/runs",
        json!({"agents": [ada, bob], "topology": "star", "turns_mas": 6, "turns_sas": 4, "success_rate": 0.9}),
    )
    .await;
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(sum(&text, "synthorg_agents_total"), 2.0);
    assert_eq!(value(&text, "synthorg_agents_total{status=\"active\",trust_level=\"standard\"}"), Some(2.0));
    assert_eq!(sum(&text, "synthorg_tasks_total"), 2.0);
    assert_eq!(value(&text, &format!("synthorg_tasks_total{{status=\"assigned\",agent=\"{ada}\"}}")), Some(1.0));
    assert_eq!(value(&text, "synthorg_tasks_total{status=\"created\",agent=\"unassigned\"}"), Some(1.0));
    assert_eq!(value(&text, "synthorg_cost_total"), Some(2.5));
    assert_eq!(value(&text, "synthorg_budget_monthly_usd"), Some(10.0));
    assert_eq!(value(&text, "synthorg_budget_used_percent"), Some(25.0));
    assert_eq!(value(&text, &format!("synthorg_agent_cost_total{{agent_id=\"{ada}\"}}")), Some(2.5));
    assert_eq!(value(&text, &format!("synthorg_agent_budget_used_percent{{agent_id=\"{ada}\"}}")), Some(50.0));
    assert_eq!(value(&text, "synthorg_task_transitions_total{from=\"created\",to=\"assigned\"}"), Some(1.0));
    assert_eq!(value(&text, "synthorg_approvals_pending"), Some(1.0));
    assert_eq!(value(&text, "synthorg_security_evaluations_total{verdict=\"escalate\",action=\"escalate\"}"), Some(1.0));
    assert_eq!(value(&text, "synthorg_security_evaluations_total{verdict=\"allow\",action=\"allow\"}"), Some(1.0));
    assert_eq!(value(&text, "synthorg_coordination_efficiency"), Some(0.6));
    assert_eq!(value(&text, "synthorg_coordination_overhead_percent"), Some(50.0));
    assert!(
        value(&text, "synthorg_http_requests_total{method=\"POST\",route=\"/api/v1/agents\",status_class=\"2xx\"}")
            .unwrap()
            >= 2.0
    );
    assert!(text.contains("synthorg_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/tasks/{id}/transitions\",le=\"+Inf\"}"));
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
}
}

crate::on_both_stores! {
async fn the_sqlite_writer_counts_its_commits_and_writes() {
    let app = TestApp::new();
    let sqlite = matches!(app.backing, crate::Backing::Sqlite(_));
    let (_, _, before) = scrape(&app, None).await;
    if !sqlite {
        assert!(!before.contains("synthorg_store_"), "PostgreSQL has no in-process writer");
        return;
    }
    let writes = |text: &str| value(text, "synthorg_store_writes_total").unwrap();
    let commits = |text: &str| value(text, "synthorg_store_commits_total").unwrap();
    // Three successful writes, one refused (a transition the table forbids): each answered
    // after its commit, so the counters already hold them when the scrape comes.
    let task = app.task("one").await;
    app.task("two").await;
    app.task("three").await;
    assert_eq!(app.transition(task, json!({"to": "completed"})).await.status, StatusCode::CONFLICT);
    let (_, _, after) = scrape(&app, None).await;
    assert_eq!(writes(&after) - writes(&before), 3.0);
    let new_commits = commits(&after) - commits(&before);
    assert!((1.0..=3.0).contains(&new_commits), "{new_commits} commits for 3 writes");
    assert_eq!(value(&after, "synthorg_store_write_queue_depth"), Some(0.0), "nothing is waiting at rest");
}
}

crate::on_both_stores! {
async fn agent_labels_are_bounded_and_terminated_agents_disappear() {
    let settings = ApiSettings {
        metrics: Some(MetricsSettings { max_agent_series: 2, ..Default::default() }),
        ..Default::default()
    };
    let app = TestApp::with_settings(settings);
    let mut agents = Vec::new();
    for i in 0..4 {
        let a = app.agent(&format!("a{i}")).await;
        let t = app.task(&format!("t{i}")).await;
        app.transition(t, json!({"to": "assigned", "assigned_to": a})).await;
        app.post(
            "/api/v1/costs",
            json!({"agent_id": a, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 1}),
        )
        .await;
        agents.push(a);
    }
    let (_, _, text) = scrape(&app, None).await;
    let agent_series = text.lines().filter(|l| l.starts_with("synthorg_tasks_total{status=\"assigned\"")).count();
    assert_eq!(agent_series, 3, "two agents and __other__:\n{text}");
    assert_eq!(value(&text, "synthorg_tasks_total{status=\"assigned\",agent=\"__other__\"}"), Some(2.0));
    assert_eq!(sum(&text, "synthorg_tasks_total"), 4.0, "folding keeps the sum");
    assert_eq!(value(&text, "synthorg_agent_cost_total{agent_id=\"__other__\"}"), Some(2.0));
    assert!(value(&text, "synthorg_metric_series_folded_total{family=\"tasks_total\"}").unwrap() >= 2.0);
    assert_eq!(text.lines().filter(|l| l.starts_with("synthorg_agent_info{")).count(), 2);
    promtool_check(&text);

    app.call(
        Method::PATCH,
        &format!("/api/v1/agents/{}", agents[0]),
        Some(&app.admin),
        Some(json!({"status": "terminated"})),
    )
    .await;
    let (_, _, text) = scrape(&app, None).await;
    let first = agents[0].to_string();
    assert!(
        !text.lines().any(|l| !l.starts_with('#') && l.contains(&first)),
        "terminated agent's series are gone:\n{text}"
    );
    assert!(text.contains(&format!("agent_id=\"{}\"", agents[2])), "the next agent takes the free slot");
}
}

/// A failing source keeps its last good values, counts the error and logs a WARN; the other
/// sources keep updating. The failure is real: the store's aggregate table is dropped.
#[tokio::test]
async fn a_failing_source_keeps_its_last_good_values() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let t = app.task("t").await;
    app.transition(t, json!({"to": "assigned", "assigned_to": ada})).await;
    let (_, _, first) = scrape(&app, None).await;
    assert_eq!(value(&first, "synthorg_scrape_errors_total{source=\"tasks\"}"), Some(0.0));
    let conn = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    conn.execute_batch("DROP TRIGGER tasks_count_insert; DROP TRIGGER tasks_count_update; DROP TRIGGER tasks_count_delete; DROP TABLE task_counts;").unwrap();
    app.agent("bob").await;
    let (status, _, second) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value(&second, "synthorg_scrape_errors_total{source=\"tasks\"}"), Some(1.0));
    assert_eq!(
        value(&second, &format!("synthorg_tasks_total{{status=\"assigned\",agent=\"{ada}\"}}")),
        Some(1.0),
        "last good value"
    );
    assert_eq!(sum(&second, "synthorg_agents_total"), 2.0, "other sources still update");
    assert_eq!(value(&second, "synthorg_scrape_errors_total{source=\"agents\"}"), Some(0.0));
}

crate::on_both_stores! {
async fn concurrent_scrapes_are_safe() {
    let app = std::sync::Arc::new(TestApp::new());
    let ada = app.agent("ada").await;
    let mut handles = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.post("/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 1})).await;
            }
            scrape(&app, Some(PROMETHEUS_ACCEPT)).await
        }));
    }
    for h in handles {
        let (status, _, body) = h.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.ends_with("# EOF\n"));
    }
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, "synthorg_cost_total"), Some(8.0));
}
}

fn docs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// Every family a dashboard or alert names is one we expose.
fn assert_known_families(source: &str, exposed: &std::collections::BTreeSet<String>, text: &str) {
    let re = regex::Regex::new(r"\b(?:synthorg|process)_[a-z_]+").unwrap();
    for m in re.find_iter(text) {
        assert!(exposed.contains(m.as_str()), "{source} names {}, which synthorg does not expose", m.as_str());
    }
}

/// The alert rules pass `promtool check rules` and their unit tests; the Grafana dashboard's
/// queries are valid PromQL (checked by promtool as recording rules); both name only
/// families a real scrape exposes.
#[tokio::test]
async fn operator_artifacts_match_the_exposition() {
    use std::sync::Arc;

    use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
    use synthorg_telemetry::otlp::receiver::Receiver;
    use synthorg_telemetry::otlp::{Exporter, ExporterConfig};

    // With an OTLP exporter, as in a deployment that ships its logs, so its families exist.
    let receiver = Receiver::start().unwrap();
    let policy = EndpointPolicy::default();
    let endpoint = policy.check_endpoint(&receiver.endpoint(), &SystemResolver).unwrap();
    let exporter = Exporter::start(ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver))).unwrap();
    let app = TestApp::with_settings(ApiSettings { otlp: vec![exporter.handle()], ..ApiSettings::default() });
    seed_adversarial(&app).await;
    app.post("/api/v1/coordination/runs", json!({"agents": [crate::id(&app.get("/api/v1/agents").await.body["items"][0])], "topology": "solo", "turns_mas": 1, "turns_sas": 1, "success_rate": 1})).await;
    let (_, _, text) = scrape(&app, None).await;
    // Families with samples, and families declared without one at this moment (the burn rate
    // and the time to the hard stop need minutes of history).
    let mut exposed: std::collections::BTreeSet<String> =
        text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(['{', ' ']).next().unwrap().to_owned()).collect();
    let declared = ["synthorg_budget_burn_rate_usd_per_hour", "synthorg_budget_exhaustion_seconds"];
    for family in declared {
        assert!(text.contains(&format!("# TYPE {family} gauge\n")), "{family} is declared");
        exposed.insert(family.to_owned());
    }

    let prom = docs_dir().join("prometheus");
    let check = |args: &[&str]| {
        let out =
            Command::new("promtool").args(args).current_dir(&prom).output().expect("promtool (scripts/install-peers)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    check(&["check", "rules", "synthorg-alerts.yml"]);
    check(&["test", "rules", "synthorg-alerts.test.yml"]);
    assert_known_families("alert rules", &exposed, &std::fs::read_to_string(prom.join("synthorg-alerts.yml")).unwrap());

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docs_dir().join("grafana/synthorg-overview.json")).unwrap())
            .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 15);
    // Panels follow the job picked in the dashboard, whatever the scrape job is called.
    let variables: Vec<&str> =
        dashboard["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(variables.contains(&"job"), "{variables:?}");
    for e in &exprs {
        assert!(!e.contains("job=\""), "a panel hard-codes a job name: {e}");
    }
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(e).unwrap()
        ));
        assert_known_families("the Grafana dashboard", &exposed, e);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    let out =
        Command::new("promtool").args(["check", "rules", "dashboard.yml"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "dashboard PromQL: {}", String::from_utf8_lossy(&out.stdout));
}

/// With an OTLP exporter wired, its accounting is on the scrape, and the exposition still
/// passes the real peers.
#[tokio::test]
async fn the_otlp_exporters_counters_are_exposed() {
    use std::sync::Arc;
    use std::time::Duration;

    use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
    use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
    use synthorg_telemetry::otlp::{Exporter, ExporterConfig};
    use tracing_subscriber::layer::SubscriberExt;

    let receiver = Receiver::start().unwrap();
    receiver.script([Reply::Status(400, None)]);
    let policy = EndpointPolicy::default();
    let endpoint = policy.check_endpoint(&receiver.endpoint(), &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver));
    // Batches leave on the interval only (a batch never fills), so the first eleven events
    // all meet the same queue.
    config.batch_size = 20;
    config.queue_capacity = 10;
    config.export_interval = Duration::from_millis(100);
    let exporter = Exporter::start(config).unwrap();
    let subscriber = tracing_subscriber::registry().with(exporter.layer());
    tracing::subscriber::with_default(subscriber, || {
        // The first 10 fill the queue (the 11th is dropped as queue_full); that batch is
        // refused (400, not retried); the next 10 are delivered.
        for i in 0..11u64 {
            tracing::info!(i, "first");
        }
        std::thread::sleep(Duration::from_millis(400));
        for i in 0..10u64 {
            tracing::info!(i, "second");
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while receiver.delivered() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let app = TestApp::with_settings(ApiSettings { otlp: vec![exporter.handle()], ..ApiSettings::default() });
    let (status, _, text) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value(&text, r#"synthorg_otlp_records_emitted_total{signal="logs"}"#), Some(21.0), "{text}");
    assert_eq!(value(&text, r#"synthorg_otlp_records_exported_total{signal="logs",outcome="delivered"}"#), Some(10.0));
    assert_eq!(value(&text, r#"synthorg_otlp_records_exported_total{signal="logs",outcome="rejected"}"#), Some(0.0));
    assert_eq!(value(&text, r#"synthorg_otlp_records_dropped_total{signal="logs",reason="queue_full"}"#), Some(1.0));
    assert_eq!(
        value(&text, r#"synthorg_otlp_records_dropped_total{signal="logs",reason="non_retryable"}"#),
        Some(10.0)
    );
    assert_eq!(value(&text, r#"synthorg_otlp_records_dropped_total{signal="logs",reason="shutdown"}"#), Some(0.0));
    assert_eq!(value(&text, r#"synthorg_otlp_batches_total{signal="logs",outcome="failed"}"#), Some(1.0));
    assert_eq!(value(&text, r#"synthorg_otlp_batches_total{signal="logs",outcome="success"}"#), Some(1.0));
    assert_eq!(value(&text, r#"synthorg_otlp_queue_depth{signal="logs"}"#), Some(0.0));
    assert_eq!(value(&text, r#"synthorg_otlp_queue_capacity{signal="logs"}"#), Some(10.0));
    promtool_check(&text);
    let (_, _, open_metrics) = scrape(&app, Some(PROMETHEUS_ACCEPT)).await;
    python_parse(&open_metrics);
    exporter.shutdown(Duration::from_secs(2));
}

/// A GET of `path` with the admin key and `traceparent`.
async fn get_traced(app: &TestApp, path: &str, traceparent: &str) -> StatusCode {
    let req = axum::http::Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {}", app.admin))
        .header("traceparent", traceparent)
        .body(axum::body::Body::empty())
        .unwrap();
    tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap().status()
}

/// A sampled request's trace becomes the exemplar of its latency bucket, in OpenMetrics only
/// (and the strict parser accepts it); an unsampled request's trace is never an exemplar.
#[tokio::test]
async fn request_latency_buckets_carry_sampled_traces_as_exemplars() {
    let app = TestApp::new();
    let sampled = "4bf92f3577b34da6a3ce929d0e0e4736";
    let unsampled = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
    assert_eq!(get_traced(&app, "/api/v1/agents", &format!("00-{sampled}-00f067aa0ba902b7-01")).await, StatusCode::OK);
    assert_eq!(get_traced(&app, "/api/v1/tasks", &format!("00-{unsampled}-00f067aa0ba902b7-00")).await, StatusCode::OK);
    let (_, _, om) = scrape(&app, Some(PROMETHEUS_ACCEPT)).await;
    let exemplars: Vec<&str> = om.lines().filter(|l| l.contains(" # {")).collect();
    let agents: Vec<&str> = exemplars
        .iter()
        .copied()
        .filter(|l| {
            l.starts_with("synthorg_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/agents\"")
        })
        .collect();
    assert_eq!(agents.len(), 1, "one bucket holds the request's exemplar: {exemplars:#?}");
    let (sample, exemplar) = agents[0].split_once(" # ").unwrap();
    let labels = exemplar.strip_prefix("{trace_id=\"").unwrap();
    let (trace_id, rest) = labels.split_once("\",span_id=\"").unwrap();
    let (span_id, rest) = rest.split_once("\"} ").unwrap();
    assert_eq!(trace_id, sampled, "the incoming trace is continued");
    assert!(span_id.len() == 16 && span_id != "00f067aa0ba902b7", "the request's own span: {span_id}");
    let (seconds, timestamp) = rest.split_once(' ').unwrap();
    let seconds: f64 = seconds.parse().unwrap();
    let le: f64 = sample.split("le=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!(seconds > 0.0 && seconds <= le, "the exemplar's value {seconds} lies in its bucket (le {le})");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - timestamp.parse::<f64>().unwrap()).abs() < 60.0, "timestamped now: {timestamp}");
    assert!(!om.contains(unsampled), "an unsampled trace is not an exemplar");
    assert!(
        !exemplars.iter().any(|l| l.contains("route=\"/api/v1/tasks\"")),
        "the unsampled request left its buckets without exemplars"
    );
    assert!(python_parse(&om) >= 20);
    let (_, _, text) = scrape(&app, None).await;
    assert!(!text.contains(" # {"), "the Prometheus text format has no exemplars");
    promtool_check(&text);
}
