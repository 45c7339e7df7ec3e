//! The real binary exporting logs over OTLP: to the real collector `rotel` over
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
            .args(["--exporter", "blackhole", "--debug-log", "logs", "--debug-log-verbosity", "detailed"])
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
            if text.contains(&format!("request_id: Str({request_id})")) || Instant::now() > deadline {
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
        let drained = logs.iter().find(|l| l.contains("OTLP exporter drained")).unwrap();
        assert!(drained.contains("dropped=0"), "{drained}");
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
