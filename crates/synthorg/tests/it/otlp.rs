//! The real binary exporting logs, traces and metrics over OTLP: to the real collector `rotel` over
//! `http/protobuf` and `http/json`, and to the exact-count receiver while SIGTERM arrives
//! under load.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};

use crate::{Client, Server, temp_dir};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `site-packages/rotel/rotel-agent`, installed by `scripts/install-peers`.
fn rotel_agent() -> String {
    let out = Command::new("python3")
        .args(["-c", "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "PyPI rotel is not installed; run scripts/install-peers");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn get(url: &str, headers: &[(&str, &str)]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.call().map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn rotel_receives_records_with_request_and_trace_ids() {
    let agent = rotel_agent();
    for protocol in ["http/protobuf", "http/json"] {
        let (dir, data) = temp_dir();
        let (http, grpc) = (free_port(), free_port());
        let out = dir.path().join("rotel.out");
        let mut rotel = Command::new(&agent)
            .args(["start", "--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--exporter", "blackhole", "--debug-log", "logs", "--debug-log", "traces", "--debug-log", "metrics"])
            .args(["--debug-log-verbosity", "detailed"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
            assert!(Instant::now() < deadline, "rotel did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let endpoint = format!("http://127.0.0.1:{http}");
        let server = Server::start_with_env(
            &data,
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_SERVICE_NAME", "synthorg-e2e"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "60000"),
            ],
        );
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let request_id = format!("rotel-{}", protocol.replace('/', "-"));
        let traceparent = format!("00-{trace}-b7ad6b7169203331-01");
        let health = format!("{}/health", server.base);
        assert_eq!(get(&health, &[("x-request-id", &request_id), ("traceparent", &traceparent)]), 200);
        let (status, logs) = server.signal("TERM");
        assert!(status.success(), "{logs:?}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let text = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let arrived = text.contains(&format!("request_id: Str({request_id})"))
                && text.contains("SPAN_KIND_SERVER")
                && text.contains("synthorg_http_requests");
            if arrived || Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = rotel.kill();
        let _ = rotel.wait();
        assert!(text.contains(&format!("request_id: Str({request_id})")), "{protocol}: {text}");
        assert!(text.contains(&format!("Trace ID       : {trace}")), "{protocol}: {text}");
        assert!(text.contains("service.name: Str(synthorg-e2e)"), "{protocol}: {text}");
        assert!(text.contains("InstrumentationScope synthorg::access"), "{protocol}: {text}");
        assert!(text.contains("SeverityNumber: SEVERITY_NUMBER_INFO(9)"), "{protocol}: {text}");
        // The request's SERVER span, a child of the caller's.
        assert!(text.contains("Name           : GET /api/v1/health"), "{protocol}: {text}");
        assert!(text.contains("Parent ID      : b7ad6b7169203331"), "{protocol}: {text}");
        assert!(text.contains("Kind           : SPAN_KIND_SERVER"), "{protocol}: {text}");
        assert!(text.contains("http.response.status_code: Int(200)"), "{protocol}: {text}");
        // The catalogue, pushed at shutdown: the request counted, its latency a histogram
        // with data (a collector that cannot read a point shows an empty data type).
        assert!(text.contains("Name: synthorg_http_requests\n"), "{protocol}: {text}");
        assert!(text.contains("IsMonotonic: true"), "{protocol}: {text}");
        assert!(text.contains("route: Str(/api/v1/health)"), "{protocol}: {text}");
        let histogram = text.split("Name: synthorg_http_request_duration_seconds").nth(1).unwrap_or_default();
        assert!(histogram.contains("DataType: Histogram"), "{protocol}: {histogram}");
        assert!(histogram.contains(&format!("Trace ID: {trace}")), "{protocol}: the exemplar: {histogram}");
        assert!(!text.contains("DataType: Empty"), "{protocol}: {text}");
        for signal in ["OTLP exporter drained", "OTLP trace exporter drained", "OTLP metric exporter drained"] {
            let drained = logs.iter().find(|l| l.contains(signal)).unwrap();
            assert!(drained.contains("dropped=0"), "{drained}");
        }
    }
}

/// A `key=value` number from a text log line.
fn field(line: &str, key: &str) -> u64 {
    line.split(&format!(" {key}=")).nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap()
}

/// The figures of the "OTLP exporter drained" line.
struct Drained {
    delivered: u64,
    rejected: u64,
    dropped: u64,
}

/// The drained line of a stopped server's logs and its figures, which must add up:
/// emitted = delivered + rejected + dropped.
fn drained(logs: &[String]) -> (String, Drained) {
    let line = logs.iter().find(|l| l.contains("OTLP exporter drained")).unwrap().clone();
    let figures = Drained {
        delivered: field(&line, "delivered"),
        rejected: field(&line, "rejected"),
        dropped: field(&line, "dropped"),
    };
    assert_eq!(field(&line, "emitted"), figures.delivered + figures.rejected + figures.dropped, "{line}");
    (line, figures)
}

#[test]
fn sigterm_under_load_delivers_everything_emitted_before_it() {
    let receiver = Receiver::start().unwrap();
    receiver.keep_requests();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    // Proxy variables pointing nowhere: the exporter must ignore them (SPEC §4).
    let dead_proxy = format!("http://127.0.0.1:{}", free_port());
    let server = Server::start_with_env(
        &data,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("HTTP_PROXY", &dead_proxy),
            ("http_proxy", &dead_proxy),
            ("ALL_PROXY", &dead_proxy),
        ],
    );
    let health = format!("{}/health", server.base);
    let answered = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (health, answered, stop) = (health.clone(), answered.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = format!("load-{w}-{i}");
                    match get(&health, &[("x-request-id", &id)]) {
                        200 => answered.lock().unwrap().insert(id),
                        _ => break,
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let (status, logs) = server.signal("TERM");
    stop.store(true, Ordering::SeqCst);
    workers.into_iter().for_each(|w| w.join().unwrap());
    assert!(status.success(), "{logs:?}");

    let (drained, Drained { delivered, dropped, .. }) = drained(&logs);
    assert_eq!(receiver.delivered(), delivered, "{drained}");
    assert_eq!(dropped, 0, "a healthy collector gets everything: {drained}");

    let received: BTreeSet<String> = receiver
        .kept()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter_map(|r| r.attributes.iter().find(|a| a.key == "request_id"))
        .filter_map(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Any::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let answered = answered.lock().unwrap();
    assert!(answered.len() > 50, "load ran: {}", answered.len());
    let missing: Vec<_> = answered.difference(&received).collect();
    assert!(
        missing.is_empty(),
        "{} answered requests have no exported access record: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// One `server.shutdown_timeout` bounds the whole shutdown: a request still running at the
/// signal and a collector that never answers do not add up to two timeouts. The drained line
/// accounts for records the collector rejected: emitted = delivered + rejected + dropped.
#[test]
fn shutdown_keeps_one_deadline_and_the_drained_line_adds_up() {
    let receiver = Receiver::start().unwrap();
    // The first export is half rejected; then the collector stops answering.
    receiver.script([Reply::Partial(1)]);
    receiver.set_default(Reply::Hang);
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(
        &data,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
            ("SYNTHORG_SERVER__SHUTDOWN_TIMEOUT", "2s"),
            // The script answers log requests only.
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    let key = Server::bootstrap_key(&data);
    let addr = server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned();
    // Records to export, then wait for the first (half rejected) export to be answered.
    for _ in 0..3 {
        assert_eq!(get(&format!("{}/health", server.base), &[]), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.requests() == 0 {
        assert!(Instant::now() < deadline, "no export arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A request that stays in flight: its body never completes.
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /api/v1/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
    );
    std::io::Write::write_all(&mut stalled, head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let (status, logs) = server.signal("TERM");
    let took = started.elapsed();
    assert!(status.success(), "{logs:?}");
    // 2 s for requests and exporter together, with slack for a loaded machine; two
    // timeouts back to back would be 4 s at least.
    assert!(took < Duration::from_millis(3500), "shutdown took {took:?}");
    let (drained, Drained { rejected, .. }) = drained(&logs);
    assert_eq!(rejected, 1, "{drained}");
    drop(stalled);
}

/// Across every kind of event an organization produces, each attribute keeps one type (a
/// backend indexes a field by its first type), and amounts are numbers, not strings.
#[test]
fn every_attribute_keeps_one_type_and_amounts_are_numbers() {
    use serde_json::json;

    let receiver = Receiver::start().unwrap();
    receiver.keep_requests();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) = admin.post("/agents", &json!({"name": "ada", "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let (_, task) = admin.post("/tasks", &json!({"title": "t"}));
    let task = task["id"].as_str().unwrap().to_owned();
    admin.post(&format!("/tasks/{task}/transitions"), &json!({"to": "assigned", "assigned_to": agent}));
    admin.send("PATCH", &format!("/agents/{agent}"), &json!({"trust_level": "elevated"}));
    for cost in [json!(null), json!("0.5"), json!(0.00001)] {
        let mut report = json!({"agent_id": agent, "task_id": task, "provider": "anthropic",
            "model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 100});
        if !cost.is_null() {
            report["cost"] = cost;
        }
        assert_eq!(admin.post("/costs", &report).0, 201);
    }
    admin.send("PUT", "/budget/config", &json!({"total_monthly": 100}));
    let (_, verdict) = admin.post(
        "/security/evaluate",
        &json!({"agent_id": agent, "tool": "db",
        "action_type": "admin", "arguments": {"sql": "DROP TABLE t"}}),
    );
    let approval = verdict["approval_id"].as_str().unwrap().to_owned();
    admin.post(&format!("/approvals/{approval}/decision"), &json!({"decision": "approve"}));
    admin.post("/security/scan-output", &json!({"agent_id": agent, "output": "key sk-abcdefghijklmnopqrstuvwx"}));
    admin.post(
        "/coordination/runs",
        &json!({"agents": [agent], "topology": "centralized",
        "turns_mas": 3, "turns_sas": 2, "success_rate": 0.9}),
    );
    let (_, key) = admin.post("/keys", &json!({"role": "viewer"}));
    admin.send("DELETE", &format!("/keys/{}", key["id"].as_str().unwrap()), &json!(null));
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");

    let mut types: std::collections::BTreeMap<String, BTreeSet<&str>> = Default::default();
    let mut amounts = Vec::new();
    let requests = receiver.kept();
    for record in
        requests.iter().flat_map(|r| &r.resource_logs).flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records)
    {
        for attribute in &record.attributes {
            let kind = match attribute.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(_)) => "string",
                Some(Any::IntValue(_)) => "int",
                Some(Any::DoubleValue(_)) => "double",
                Some(Any::BoolValue(_)) => "bool",
                _ => "other",
            };
            types.entry(attribute.key.clone()).or_default().insert(kind);
            if ["cost", "computed_cost", "total_monthly"].contains(&attribute.key.as_str()) {
                amounts.push((attribute.key.clone(), kind));
            }
        }
    }
    let mixed: Vec<_> = types.iter().filter(|(_, kinds)| kinds.len() > 1).collect();
    assert!(mixed.is_empty(), "attributes whose type changes between events: {mixed:?}");
    assert!(amounts.len() >= 6, "{amounts:?}");
    assert!(amounts.iter().all(|(_, kind)| *kind == "double"), "{amounts:?}");
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A span attribute's value, as text (ints, booleans and strings alike), by key.
pub(crate) fn attribute(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Some(s.clone()),
        Any::IntValue(n) => Some(n.to_string()),
        Any::BoolValue(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Every sampled request is one SERVER span in the HTTP conventions, continuing the caller's
/// trace, with the span id its log lines carry; an unsampled one is not exported; the trace
/// exporter's accounting adds up and matches what the receiver got.
#[test]
fn each_request_is_one_server_span_at_the_receiver() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let key = Server::bootstrap_key(&data);
    let auth = format!("Bearer {key}");
    let (trace, parent) = ("3c1f0a2b3c4d5e6f708192a3b4c5d6e7", "1234567890abcdef");
    // Sampled, with the random bit (0x02): the span keeps both.
    let sampled = format!("00-{trace}-{parent}-03");
    assert_eq!(
        get(&format!("{}/agents?limit=5", server.base), &[("authorization", &auth), ("traceparent", &sampled)]),
        200
    );
    let missing = format!("{}/agents/00000000-0000-4000-8000-000000000000", server.base);
    assert_eq!(get(&missing, &[("authorization", &auth), ("traceparent", &sampled)]), 404);
    // A method outside HTTP's standard set: its span is named `HTTP {route}`.
    let other_trace = "8d1f0a2b3c4d5e6f708192a3b4c5d6e7";
    {
        // HTTP clients refuse methods they do not know; the request is written by hand.
        use std::io::{Read, Write};
        let host = server.base.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        write!(
            stream,
            "PURGE /api/v1/agents HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n\
             traceparent: 00-{other_trace}-{parent}-01\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    }
    let unsampled = "4d1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let quiet = format!("00-{unsampled}-{parent}-00");
    assert_eq!(get(&format!("{}/agents", server.base), &[("authorization", &auth), ("traceparent", &quiet)]), 200);
    // A verdict and a cost report, each in a trace of its own, with their child spans.
    let admin = Client::new(&server.base, &key);
    let (_, agent) = admin.post("/agents", &serde_json::json!({"name": "ada", "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let post = |path: &str, body: serde_json::Value, trace: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        agent
            .post(format!("{}{path}", server.base))
            .header("authorization", &auth)
            .header("traceparent", &format!("00-{trace}-{parent}-01"))
            .send_json(body)
            .unwrap()
            .status()
            .as_u16()
    };
    let (verdict_trace, cost_trace) = ("5a1f0a2b3c4d5e6f708192a3b4c5d6e7", "6b1f0a2b3c4d5e6f708192a3b4c5d6e7");
    let body = serde_json::json!({"agent_id": agent, "tool": "db", "action_type": "admin"});
    assert_eq!(post("/security/evaluate", body, verdict_trace), 200);
    let body = serde_json::json!({"agent_id": agent, "provider": "anthropic", "model": "claude-sonnet-4-5",
        "input_tokens": 1000, "output_tokens": 100, "cache_read_input_tokens": 400, "reasoning_output_tokens": 60,
        "idempotency_key": "call-1"});
    assert_eq!(post("/costs", body.clone(), cost_trace), 201);
    // The same report again: a replay, recorded once; its span uses no tokens again.
    let replay_trace = "7c1f0a2b3c4d5e6f708192a3b4c5d6e7";
    assert_eq!(post("/costs", body, replay_trace), 201);
    let metrics = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    assert!(metrics.contains("synthorg_otlp_records_emitted_total{signal=\"traces\"}"), "{metrics}");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");

    let spans = receiver.spans();
    let ours: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    assert_eq!(ours.len(), 2, "one span per request of the trace: {ours:#?}");
    for span in &ours {
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(hex(&span.parent_span_id), parent, "a child of the caller's span");
        assert_eq!(attribute(span, "http.request.method").as_deref(), Some("GET"));
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano && span.start_time_unix_nano > 0);
        let span_id = hex(&span.span_id);
        assert!(
            logs.iter().any(|l| l.contains(trace) && l.contains(&format!("span_id={span_id}"))),
            "the request's log lines carry its span id {span_id}"
        );
    }
    let list = ours.iter().find(|s| attribute(s, "http.route").as_deref() == Some("/api/v1/agents")).unwrap();
    assert_eq!(list.name, "GET /api/v1/agents");
    assert_eq!(list.flags & 0xff, 0x03, "the caller's W3C flags, random bit included: {:#x}", list.flags);
    assert_eq!(attribute(list, "url.scheme").as_deref(), Some("http"));
    assert_eq!(attribute(list, "url.query").as_deref(), Some("limit=5"));
    assert_eq!(attribute(list, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(list, "url.path").as_deref(), Some("/api/v1/agents"));
    let one = ours.iter().find(|s| attribute(s, "http.route").as_deref() == Some("/api/v1/agents/{id}")).unwrap();
    assert_eq!(attribute(one, "http.response.status_code").as_deref(), Some("404"));
    assert!(one.status.as_ref().is_none_or(|s| s.code == 0), "a 4xx is not a server error");
    assert!(!spans.iter().any(|s| hex(&s.trace_id) == unsampled), "an unsampled request is not exported");
    let other = spans.iter().find(|s| hex(&s.trace_id) == other_trace).unwrap();
    assert!(other.name == "HTTP /api/v1/agents" || other.name == "HTTP", "{}", other.name);
    assert_eq!(attribute(other, "http.request.method").as_deref(), Some("_OTHER"));
    assert_eq!(attribute(other, "http.request.method_original").as_deref(), Some("PURGE"));
    // The children hang under their request's SERVER span, in the conventions.
    let children = |trace: &str| {
        let of: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
        let server = *of.iter().find(|s| s.kind == SpanKind::Server as i32).unwrap();
        let children: Vec<_> = of.iter().copied().filter(|s| s.parent_span_id == server.span_id).collect();
        assert_eq!(children.len() + 1, of.len(), "every other span is a child of the request's: {of:#?}");
        children
    };
    let verdict = children(verdict_trace);
    // A unit of writes has no one operation or collection: named after the system alone.
    let write = verdict.iter().find(|s| s.name == "sqlite").unwrap();
    assert_eq!((write.kind, attribute(write, "db.system.name").as_deref()), (SpanKind::Client as i32, Some("sqlite")));
    // The GenAI conventions' in-process guardrail span, with every attribute they require.
    let guardrail = verdict.iter().find(|s| s.name == "run_guardrail synthorg").unwrap();
    assert_eq!(guardrail.kind, SpanKind::Internal as i32);
    for (key, value) in [
        ("gen_ai.operation.name", "run_guardrail"),
        ("gen_ai.guardrail.component.name", "synthorg"),
        ("gen_ai.guardrail.target.type", "input"),
        ("gen_ai.guardrail.target.subtype", "tool_call"),
        ("gen_ai.guardrail.verdict.type", "escalate"),
        ("gen_ai.guardrail.action.type", "escalate"),
        ("gen_ai.guardrail.security.policy.id", "synthorg.security.policies"),
        ("gen_ai.agent.id", agent.as_str()),
    ] {
        assert_eq!(attribute(guardrail, key).as_deref(), Some(value), "{key}: {guardrail:#?}");
    }
    assert!(attribute(guardrail, "gen_ai.guardrail.security.policy.rule.id").is_some(), "{guardrail:#?}");
    assert!(attribute(guardrail, "gen_ai.guardrail.policy.id").is_none(), "not a name of the conventions");
    let cost = children(cost_trace);
    let report = cost.iter().find(|s| s.name == "record_cost claude-sonnet-4-5").unwrap();
    assert_eq!(attribute(report, "gen_ai.provider.name").as_deref(), Some("anthropic"));
    assert_eq!(attribute(report, "gen_ai.usage.input_tokens").as_deref(), Some("1000"));
    assert_eq!(attribute(report, "gen_ai.usage.cache_read.input_tokens").as_deref(), Some("400"));
    assert_eq!(attribute(report, "gen_ai.usage.reasoning.output_tokens").as_deref(), Some("60"));
    assert_eq!(attribute(report, "synthorg.cost.source").as_deref(), Some("computed"));
    assert_eq!(attribute(report, "synthorg.cost.operation").as_deref(), Some("chat"));
    assert!(attribute(report, "gen_ai.operation.name").is_none(), "a report is not the model call");
    let amount = report.attributes.iter().find(|a| a.key == "synthorg.cost.amount").unwrap();
    assert!(
        matches!(amount.value.as_ref().and_then(|v| v.value.as_ref()), Some(Any::DoubleValue(usd)) if *usd > 0.0),
        "the priced cost, a number: {amount:?}"
    );
    assert!(cost.iter().any(|s| s.name == "sqlite"));
    let replay = children(replay_trace);
    let replayed = replay.iter().find(|s| s.name == "record_cost claude-sonnet-4-5").unwrap();
    assert_eq!(attribute(replayed, "synthorg.cost.replayed").as_deref(), Some("true"));
    assert_eq!(attribute(replayed, "synthorg.cost.record_id"), attribute(report, "synthorg.cost.record_id"));
    let usage: Vec<_> = replayed
        .attributes
        .iter()
        .filter(|a| a.key.starts_with("gen_ai.usage.") || a.key == "synthorg.cost.amount")
        .collect();
    assert!(usage.is_empty(), "a replay used no tokens again, so span-based sums do not count it twice: {usage:?}");
    let line = logs.iter().find(|l| l.contains("OTLP trace exporter drained")).unwrap();
    assert_eq!(
        field(line, "emitted"),
        field(line, "delivered") + field(line, "rejected") + field(line, "dropped"),
        "{line}"
    );
    assert_eq!(field(line, "delivered"), receiver.delivered_spans(), "{line}");
    assert_eq!(receiver.delivered_spans(), spans.len() as u64);
}

/// `OTEL_LOGS_EXPORTER=none`: spans only; no log record reaches the collector and only the
/// trace exporter is accounted for.
#[test]
fn logs_exporter_none_sends_spans_only() {
    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(
        &data,
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_LOGS_EXPORTER", "none")],
    );
    let traced = "00-7c1f0a2b3c4d5e6f708192a3b4c5d6e7-1111111111111111-01";
    assert_eq!(get(&format!("{}/health", server.base), &[("traceparent", traced)]), 200);
    let metrics = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    assert!(metrics.contains("synthorg_otlp_records_emitted_total{signal=\"traces\"}"), "{metrics}");
    assert!(!metrics.contains("signal=\"logs\""), "no log exporter runs");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert_eq!(receiver.seen_spans(), 1, "the traced health check (the scrape starts no trace)");
    assert_eq!(receiver.seen(), 0, "no log record was sent");
    assert!(logs.iter().any(|l| l.contains("OTLP trace exporter drained")));
    assert!(!logs.iter().any(|l| l.contains("OTLP exporter drained")));
}

/// Health probes and metric scrapes start no trace of their own: without a `traceparent`
/// they export no span and leave no exemplar, so a kubelet and a Prometheus polling every
/// few seconds do not fill the trace store. With one, they are traced like any request, and
/// any other request starts a trace as before.
#[test]
fn probes_and_scrapes_start_no_trace_of_their_own() {
    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let auth = format!("Bearer {}", Server::bootstrap_key(&data));
    let trace = "8d1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let traceparent = format!("00-{trace}-1111111111111111-01");
    assert_eq!(get(&format!("{}/health", server.base), &[("traceparent", &traceparent)]), 200);
    for _ in 0..3 {
        assert_eq!(get(&format!("{}/health", server.base), &[]), 200);
        assert_eq!(get(&format!("{}/health/ready", server.base), &[]), 200);
        assert_eq!(get(&format!("{}/metrics", server.base), &[]), 200);
    }
    assert_eq!(get(&format!("{}/agents", server.base), &[("authorization", &auth)]), 200);
    // The health route's latency exemplars all point at the one traced probe.
    let scrape = ureq::get(format!("{}/metrics", server.base))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let exemplars: Vec<&str> = scrape
        .lines()
        .filter(|l| l.starts_with("synthorg_http_request_duration_seconds_bucket") && l.contains("/api/v1/health\""))
        .filter(|l| l.contains(" # {"))
        .collect();
    assert!(!exemplars.is_empty(), "the traced probe left an exemplar: {scrape}");
    assert!(exemplars.iter().all(|l| l.contains(trace)), "{exemplars:#?}");
    assert!(!scrape.lines().any(|l| l.contains("/api/v1/metrics\"") && l.contains(" # {")), "{scrape}");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");

    let spans = receiver.spans();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let health = named("GET /api/v1/health");
    assert_eq!(health.len(), 1, "only the probe that came with a trace: {spans:#?}");
    assert_eq!(hex(&health[0].trace_id), trace);
    assert!(named("GET /api/v1/health/ready").is_empty(), "{spans:#?}");
    assert!(named("GET /api/v1/metrics").is_empty(), "{spans:#?}");
    assert_eq!(named("GET /api/v1/agents").len(), 1, "other requests start a trace: {spans:#?}");
    // The untraced probes still log, with their ids and an unsampled flag.
    assert!(logs.iter().any(|l| l.contains("route=/api/v1/health/ready") && l.contains("trace_flags=0")), "{logs:#?}");
}

/// `OTEL_TRACES_SAMPLER=parentbased_always_off`: a request that starts its own trace makes no
/// span, one that continues a sampled caller's trace does; with `always_off` neither does;
/// with `OTEL_PROPAGATORS=none` a caller's trace is not continued. At a real receiver.
#[test]
fn the_sampler_and_propagators_decide_what_reaches_the_receiver() {
    let caller = "9a1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let traceparent = format!("00-{caller}-2222222222222222-01");
    let run = |env: &[(&str, &str)]| {
        let receiver = Receiver::start().unwrap();
        let (_dir, data) = temp_dir();
        let endpoint = receiver.endpoint();
        let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_METRICS_EXPORTER", "none")];
        all.extend_from_slice(env);
        let server = Server::start_with_env(&data, &[], &all);
        let auth = format!("Bearer {}", Server::bootstrap_key(&data));
        assert_eq!(get(&format!("{}/agents", server.base), &[("authorization", &auth)]), 200);
        let traced = [("authorization", auth.as_str()), ("traceparent", traceparent.as_str())];
        assert_eq!(get(&format!("{}/agents?limit=1", server.base), &traced), 200);
        let (status, logs) = server.signal("TERM");
        assert!(status.success(), "{logs:?}");
        receiver
            .spans()
            .into_iter()
            .filter(|s| s.name == "GET /api/v1/agents")
            .map(|s| hex(&s.trace_id))
            .collect::<Vec<_>>()
    };
    let parent_off = run(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]);
    assert_eq!(parent_off, [caller], "only the caller's sampled trace");
    assert!(run(&[("OTEL_TRACES_SAMPLER", "always_off")]).is_empty());
    let ratio_zero = run(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0")]);
    assert_eq!(ratio_zero, [caller]);
    let deaf = run(&[("OTEL_PROPAGATORS", "none")]);
    assert_eq!(deaf.len(), 2, "both requests traced: {deaf:?}");
    assert!(!deaf.contains(&caller.to_owned()), "the caller's trace is not continued: {deaf:?}");
}

/// A signal's own endpoint alone sends that signal only (nothing goes to a default address
/// nobody named); `OTEL_SDK_DISABLED=true` sends nothing at all. At a real receiver.
#[test]
fn a_signals_own_endpoint_alone_sends_that_signal_only() {
    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let traces = format!("{}/v1/traces", receiver.endpoint());
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces)]);
    let auth = format!("Bearer {}", Server::bootstrap_key(&data));
    assert_eq!(get(&format!("{}/agents", server.base), &[("authorization", &auth)]), 200);
    let metrics = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    assert!(metrics.contains("synthorg_otlp_records_emitted_total{signal=\"traces\"}"), "{metrics}");
    assert!(!metrics.contains("signal=\"logs\"") && !metrics.contains("signal=\"metrics\""), "{metrics}");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert_eq!(receiver.seen_spans(), 1, "the one request");
    assert_eq!(receiver.seen(), 0, "no log record");

    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_SDK_DISABLED", "true")];
    let server = Server::start_with_env(&data, &[], &env);
    let auth = format!("Bearer {}", Server::bootstrap_key(&data));
    assert_eq!(get(&format!("{}/agents", server.base), &[("authorization", &auth)]), 200);
    let metrics = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();
    assert!(!metrics.contains("synthorg_otlp_records_emitted_total{"), "no exporter runs: {metrics}");
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert_eq!((receiver.seen(), receiver.seen_spans()), (0, 0));
}

/// The family names a scrape declares, as their OTLP names: a counter without `_total`, an
/// info family with `_info`, the token usage histogram under its conventional name.
fn scrape_families(scrape: &str) -> BTreeSet<String> {
    let mut families = BTreeSet::new();
    for line in scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap();
        let name = match kind {
            "counter" => name.strip_suffix("_total").unwrap_or(name).to_owned(),
            _ if name == "gen_ai_client_token_usage" => "gen_ai.client.token.usage".to_owned(),
            _ => name.to_owned(),
        };
        families.insert(name);
    }
    families
}

/// The metric push carries the `/metrics` catalogue: every family the scrape declares, with
/// the same values, the token usage histogram with its exemplar in the reporting request's
/// trace, and every data point accounted for at shutdown.
#[test]
fn metrics_push_carries_the_scrape_catalogue() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;

    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(
        &data,
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "300")],
    );
    let key = Server::bootstrap_key(&data);
    let admin = Client::new(&server.base, &key);
    let (_, agent) = admin.post("/agents", &serde_json::json!({"name": "ada", "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let trace = "7c1f0a2b3c4d5e6f708192a3b4c5d6e7";
    let body = serde_json::json!({"agent_id": agent, "provider": "anthropic", "model": "claude-sonnet-4-5",
        "input_tokens": 1000, "output_tokens": 100, "operation": "embeddings", "cost": "0.25"});
    let answer = ureq::Agent::from(ureq::Agent::config_builder().http_status_as_error(false).build())
        .post(format!("{}/costs", server.base))
        .header("authorization", &format!("Bearer {key}"))
        .header("traceparent", &format!("00-{trace}-1234567890abcdef-01"))
        .send_json(body)
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let bad = serde_json::json!({"agent_id": agent, "provider": "anthropic", "model": "m",
        "input_tokens": 1, "output_tokens": 1, "operation": "telepathy"});
    let (status, error) = admin.post("/costs", &bad);
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("operation"), "the field is named: {error}");

    // A reading taken after the report.
    let after = Instant::now() + Duration::from_millis(400);
    let deadline = Instant::now() + Duration::from_secs(20);
    let find = |name: &str| receiver.metrics().into_iter().rfind(|m| m.name == name);
    while Instant::now() < after || find("gen_ai.client.token.usage").is_none() {
        assert!(Instant::now() < deadline, "no reading with token usage arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    let scrape = ureq::get(format!("{}/metrics", server.base)).call().unwrap().into_body().read_to_string().unwrap();

    // Every family of the scrape, under the same name.
    let pushed: BTreeSet<String> = receiver.metrics().into_iter().map(|m| m.name).collect();
    let declared = scrape_families(&scrape);
    let missing: Vec<_> = declared.iter().filter(|name| !pushed.contains(*name)).collect();
    // A family with no series yet (the coordination gauges before a run) has no point to push.
    let empty: Vec<&String> = missing
        .iter()
        .copied()
        .filter(|name| {
            scrape.lines().any(|l| l.starts_with(&format!("{}{{", name)) || l.starts_with(&format!("{} ", name)))
        })
        .collect();
    assert!(empty.is_empty(), "families with samples in the scrape but not pushed: {empty:?}");
    assert!(pushed.is_subset(&declared), "pushed but not in the scrape: {:?}", pushed.difference(&declared));
    assert!(pushed.len() > 40, "{pushed:?}");

    // The ledger's total, as the scrape says it.
    let Some(Data::Sum(cost)) = find("synthorg_cost").unwrap().data else { panic!("a counter is a sum") };
    assert!(cost.is_monotonic);
    assert_eq!(cost.data_points[0].value, Some(Number::AsDouble(0.25)));
    assert!(scrape.contains("synthorg_cost_total 0.25"), "{scrape}");
    // The token usage of the report, in the GenAI conventions, with its trace.
    let tokens = find("gen_ai.client.token.usage").unwrap();
    assert_eq!(tokens.unit, "{token}");
    let Some(Data::Histogram(h)) = tokens.data else { panic!("a histogram") };
    let attr = |p: &opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint, key: &str| {
        p.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            _ => None,
        })
    };
    let input = h.data_points.iter().find(|p| attr(p, "gen_ai.token.type").as_deref() == Some("input")).unwrap();
    assert_eq!(attr(input, "gen_ai.operation.name").as_deref(), Some("embeddings"));
    assert_eq!(attr(input, "gen_ai.provider.name").as_deref(), Some("anthropic"));
    assert_eq!(attr(input, "gen_ai.request.model").as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!((input.count, input.sum), (1, Some(1000.0)), "the rejected report is not counted");
    assert_eq!(hex(&input.exemplars[0].trace_id), trace);
    assert!(
        scrape.contains(r#"gen_ai_client_token_usage_sum{gen_ai_operation_name="embeddings",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4-5",gen_ai_token_type="output"} 100"#),
        "{scrape}"
    );

    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    let line = logs.iter().find(|l| l.contains("OTLP metric exporter drained")).unwrap();
    let (emitted, delivered) = (field(line, "emitted"), field(line, "delivered"));
    assert_eq!((emitted, field(line, "dropped")), (delivered, 0), "{line}");
    assert_eq!(receiver.delivered_points(), delivered, "{line}");
}

/// Totals kept in the store are pushed as cumulative sums that count from the store's origin,
/// not from the process's start: across a restart their start time stays put and their value
/// goes on from where it was, so a consumer's rate is right. What the process counts itself
/// starts again with the process. The audit chain's length may go down: a non-monotonic sum.
#[test]
fn store_totals_keep_their_start_time_across_a_restart() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint};

    let (_dir, data) = temp_dir();
    let sum_of = |m: &Metric| match &m.data {
        Some(Data::Sum(sum)) => (sum.is_monotonic, sum.data_points.clone()),
        other => panic!("{} is not a sum: {other:?}", m.name),
    };
    let value = |p: &NumberDataPoint| match p.value {
        Some(Number::AsDouble(v)) => v,
        _ => panic!("not a double"),
    };
    // One life of the server: reports `cost` USD, then waits for a push showing `total`; gives
    // the cost point and the HTTP request counter's start time.
    let life = |cost: &str, total: f64| -> (NumberDataPoint, u64, bool, u64) {
        let receiver = Receiver::start().unwrap();
        let endpoint = receiver.endpoint();
        let server = Server::start_with_env(
            &data,
            &[],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "200")],
        );
        let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
        let (_, agents) = admin.get("/agents");
        let agent = match agents["items"].as_array().and_then(|a| a.first()) {
            Some(agent) => agent["id"].as_str().unwrap().to_owned(),
            None => admin.post("/agents", &serde_json::json!({"name": "ada", "role": "developer"})).1["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        };
        let body = serde_json::json!({"agent_id": agent, "provider": "anthropic", "model": "claude-sonnet-4-5",
            "input_tokens": 10, "output_tokens": 1, "cost": cost});
        let reported_at =
            u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
                .unwrap();
        assert_eq!(admin.post("/costs", &body).0, 201);
        let deadline = Instant::now() + Duration::from_secs(20);
        let point = loop {
            let pushed = receiver.metrics().into_iter().rfind(|m| m.name == "synthorg_cost");
            if let Some(point) = pushed.and_then(|m| sum_of(&m).1.pop()).filter(|p| (value(p) - total).abs() < 1e-9) {
                break point;
            }
            assert!(Instant::now() < deadline, "no push with the total {total}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let metrics = receiver.metrics();
        let http = metrics.iter().rfind(|m| m.name == "synthorg_http_requests").expect("the request counter");
        let http_start = sum_of(http).1[0].start_time_unix_nano;
        let audit = metrics.iter().rfind(|m| m.name == "synthorg_audit_events").expect("the audit chain's length");
        let (audit_monotonic, _) = sum_of(audit);
        let (status, _) = server.signal("TERM");
        assert!(status.success());
        (point, http_start, audit_monotonic, reported_at)
    };
    let (first, first_http, audit_monotonic, reported_at) = life("1.5", 1.5);
    assert!(!audit_monotonic, "the audit chain's length is pushed as a non-monotonic sum");
    std::thread::sleep(Duration::from_millis(50));
    let (second, second_http, _, _) = life("0.5", 2.0);
    assert_eq!(first.start_time_unix_nano, second.start_time_unix_nano, "the store's origin, both times");
    assert!(first.start_time_unix_nano < first.time_unix_nano);
    assert!(second_http > first_http, "the process's own counters start with the process");
    assert!(first.start_time_unix_nano < reported_at, "the origin precedes the first report");
}

/// An incoming `tracestate` travels with the trace it belongs to: the request's SERVER span
/// and its children (here a cost report's) carry it as it came; one that does not parse is
/// dropped whole, and without a `traceparent` there is no trace to carry it.
#[test]
fn tracestate_is_carried_on_every_span_of_the_trace() {
    let receiver = Receiver::start().unwrap();
    let (_dir, data) = temp_dir();
    let endpoint = receiver.endpoint();
    let server = Server::start_with_env(&data, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let key = Server::bootstrap_key(&data);
    let admin = Client::new(&server.base, &key);
    let (_, agent) = admin.post("/agents", &serde_json::json!({"name": "ada", "role": "developer"}));
    let agent = agent["id"].as_str().unwrap().to_owned();
    let parent = "1234567890abcdef";
    let report = |trace: &str, tracestate: Option<&str>| {
        let client: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut request = client
            .post(format!("{}/costs", server.base))
            .header("authorization", &format!("Bearer {key}"))
            .header("traceparent", &format!("00-{trace}-{parent}-03"));
        if let Some(state) = tracestate {
            request = request.header("tracestate", state);
        }
        let body = serde_json::json!({"agent_id": agent, "provider": "anthropic", "model": "claude-sonnet-4-5",
            "input_tokens": 10, "output_tokens": 1});
        assert_eq!(request.send_json(body).unwrap().status().as_u16(), 201);
    };
    let (kept, dropped) = ("5e1f0a2b3c4d5e6f708192a3b4c5d6e7", "6e1f0a2b3c4d5e6f708192a3b4c5d6e7");
    report(kept, Some("congo=t61rcWkgMzE, tenant@vendor=x y"));
    report(dropped, Some("Congo=not-a-key"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans_of = |trace: &str| -> Vec<_> {
        receiver.spans().into_iter().filter(|s| crate::otlp::hex(&s.trace_id) == trace).collect()
    };
    while spans_of(kept).len() < 2 || spans_of(dropped).len() < 2 {
        assert!(Instant::now() < deadline, "the spans did not arrive");
        std::thread::sleep(Duration::from_millis(50));
    }
    for span in spans_of(kept) {
        assert_eq!(span.trace_state, "congo=t61rcWkgMzE,tenant@vendor=x y", "{}", span.name);
        assert_eq!(span.flags & 0xff, 0x03, "the caller's flags, random bit included: {}", span.name);
    }
    for span in spans_of(dropped) {
        assert_eq!(span.trace_state, "", "an invalid tracestate is dropped: {}", span.name);
    }
}
