//! A write whose commit fails leaves no trace: the client gets the error, and no log line,
//! audit line or business metric describes the change that was rolled back.

use serde_json::{Value, json};

use crate::{Client, Server, temp_dir};

/// The messages of the events every write route logs once its change is committed.
const EVENT_MESSAGES: &[&str] = &[
    "agent registered",
    "trust level changed",
    "agent status changed",
    "task created",
    "task transition",
    "cost recorded",
    "budget configured",
    "security verdict",
    "approval decided",
    "api key created",
    "api key revoked",
    "coordination run recorded",
    "budget reserved",
    "budget reservation released",
    "audit event",
    "output scanned",
];

/// The tables the write routes change.
const WRITTEN_TABLES: &[&str] = &[
    "agents",
    "tasks",
    "cost_records",
    "settings",
    "security_evaluations",
    "approvals",
    "api_keys",
    "coordination_runs",
    "budget_reservations",
    "audit_events",
];

/// Families that describe the organization (the service's own health families, which count
/// the failed requests themselves, are left out).
fn business_samples(base: &str) -> Vec<String> {
    let text = ureq::get(format!("{base}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    let samples: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            [
                "synthorg_agents_total",
                "synthorg_agent_",
                "synthorg_tasks_total",
                "synthorg_task_transitions_total",
                "synthorg_cost_total",
                "synthorg_budget_",
                "synthorg_approvals_pending",
                "synthorg_security_evaluations_total",
                "synthorg_coordination_",
                "synthorg_audit_events_total",
            ]
            .iter()
            .any(|family| l.starts_with(family))
        })
        // A clock, not a change.
        .filter(|l| !l.starts_with("synthorg_budget_period_remaining_seconds"))
        .map(str::to_owned)
        .collect();
    assert!(samples.len() > 10, "too few business samples to compare: {samples:?}");
    samples
}

/// Plants, through another connection on the server's database file, a trigger on every
/// table the write routes change that adds a dangling deferred foreign key: each write
/// succeeds inside its savepoint, and the COMMIT that holds it fails.
fn poison(db: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut sql = String::from("CREATE TABLE poison (ref TEXT REFERENCES agents(id) DEFERRABLE INITIALLY DEFERRED);");
    for table in WRITTEN_TABLES {
        for op in ["INSERT", "UPDATE"] {
            sql.push_str(&format!(
                "CREATE TRIGGER poison_{table}_{op} AFTER {op} ON {table} \
                 BEGIN INSERT INTO poison VALUES ('no such agent'); END;"
            ));
        }
    }
    conn.execute_batch(&sql).unwrap();
    conn
}

#[test]
fn a_failed_commit_logs_and_counts_nothing() {
    let (_tmp, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));

    // State for every write route to act on: an agent, a task, a pending approval, a key.
    let (_, agent) = admin.post("/agents", &json!({"name": "ada", "role": "developer"}));
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let (_, task) = admin.post("/tasks", &json!({"title": "t"}));
    let task_id = task["id"].as_str().unwrap().to_owned();
    let (_, escalated) = admin.post(
        "/security/evaluate",
        &json!({"agent_id": agent_id, "tool": "db",
        "action_type": "execute", "arguments": {"sql": "DROP TABLE customers"}}),
    );
    let approval_id = escalated["approval_id"].as_str().unwrap().to_owned();
    let (_, key) = admin.post("/keys", &json!({"role": "viewer"}));
    let key_id = key["id"].as_str().unwrap().to_owned();
    admin.post(
        "/coordination/runs",
        &json!({"agents": [agent_id], "topology": "star", "turns_mas": 12,
        "turns_sas": 10, "success_rate": 0.9}),
    );

    let (_, held) = admin.post("/budget/reservations", &json!({"agent_id": agent_id, "amount": 0.5}));
    let reservation_id = held["id"].as_str().unwrap().to_owned();

    let metrics_before = business_samples(&server.base);
    let lines_before = server.logs.lock().unwrap().len();
    let conn = poison(&data.join("synthorg.db"));

    let writes: Vec<(&str, String, Value)> = vec![
        ("POST", "/agents".into(), json!({"name": "bob", "role": "developer"})),
        ("POST", "/tasks".into(), json!({"title": "lost"})),
        ("POST", format!("/tasks/{task_id}/transitions"), json!({"to": "assigned", "assigned_to": agent_id})),
        (
            "POST",
            "/costs".into(),
            json!({"agent_id": agent_id, "provider": "p", "model": "m",
            "input_tokens": 1, "output_tokens": 1, "cost": 1.5}),
        ),
        ("PUT", "/budget/config".into(), json!({"total_monthly": 500, "reset_day": 1})),
        (
            "POST",
            "/security/evaluate".into(),
            json!({"agent_id": agent_id, "tool": "db", "action_type": "execute",
            "arguments": {"sql": "DROP TABLE customers"}}),
        ),
        ("POST", format!("/approvals/{approval_id}/decision"), json!({"decision": "approve"})),
        // Its only write is its audit event.
        ("POST", "/security/scan-output".into(), json!({"agent_id": agent_id, "output": "AKIAIOSFODNN7EXAMPLE"})),
        ("POST", "/keys".into(), json!({"role": "viewer"})),
        ("DELETE", format!("/keys/{key_id}"), Value::Null),
        (
            "POST",
            "/coordination/runs".into(),
            json!({"agents": [agent_id], "topology": "mesh", "turns_mas": 30,
            "turns_sas": 10, "success_rate": 0.5}),
        ),
        // A hold the store cannot confirm is refused (fail closed) and leaves no hold.
        ("POST", "/budget/reservations".into(), json!({"agent_id": agent_id, "amount": 0.25})),
        ("DELETE", format!("/budget/reservations/{reservation_id}"), Value::Null),
        // Last: once committed, the agent on leave could not take the task above.
        ("PATCH", format!("/agents/{agent_id}"), json!({"trust_level": "elevated", "status": "on_leave"})),
    ];
    for (method, path, body) in &writes {
        let (status, answer) = admin.send(method, path, body);
        assert_eq!(status, 503, "{method} {path} answered {status} {answer} although its commit failed");
    }

    assert_eq!(business_samples(&server.base), metrics_before, "a business metric moved for rolled-back writes");
    let lines: Vec<String> = server.logs.lock().unwrap()[lines_before..].to_vec();
    let failed = lines.iter().filter(|l| l.contains("synthorg::access") && l.contains("status=503")).count();
    assert_eq!(failed, writes.len(), "every failed write has its access line: {lines:#?}");
    for line in &lines {
        for message in EVENT_MESSAGES {
            assert!(!line.contains(message), "a rolled-back write was logged: {line}");
        }
    }

    // Once the cause is gone, the same writes are logged again: the check above could see them.
    conn.execute_batch(
        &WRITTEN_TABLES
            .iter()
            .flat_map(|t| [format!("DROP TRIGGER poison_{t}_INSERT;"), format!("DROP TRIGGER poison_{t}_UPDATE;")])
            .chain(["DROP TABLE poison;".to_owned()])
            .collect::<String>(),
    )
    .unwrap();
    let mark = server.logs.lock().unwrap().len();
    for (method, path, body) in &writes {
        let (status, answer) = admin.send(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    }
    let (_, logs) = server.signal("TERM");
    let committed = &logs[mark..];
    for message in EVENT_MESSAGES {
        assert!(
            committed.iter().any(|l| l.contains(message)),
            "no {message:?} line for a committed write: {committed:#?}"
        );
    }
}
