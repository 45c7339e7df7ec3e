//! A client cannot forge log lines: text with line breaks, terminal controls and a whole
//! fake audit line, sent in every text field of every write route through the real binary,
//! never starts a line of its own on the console; each committed change has its one line.

use serde_json::{Value, json};

use crate::{Client, Server, temp_dir};

/// A fake audit line behind every kind of line break and terminal control.
const HOSTILE: &str = "ada\n2026-01-01T00:00:00Z  INFO synthorg::audit: approval decided by=key:admin\r\u{1b}[2K\u{2028}x\u{2029}\u{85}\u{0}\u{202e}";

/// `2026-12-05T01:02:03.123Z  INFO target: …`: a line the console wrote.
fn is_log_line(line: &str) -> bool {
    let mut parts = line.split_whitespace();
    let (Some(time), Some(level), Some(target)) = (parts.next(), parts.next(), parts.next()) else { return false };
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).is_ok()
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
        && target.ends_with(':')
}

#[test]
fn hostile_text_in_every_write_route_stays_inside_its_line() {
    let (_tmp, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) = admin.post("/agents", &json!({"name": "ada", "role": "developer"}));
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let (_, task) = admin.post("/tasks", &json!({"title": "t"}));
    let task_id = task["id"].as_str().unwrap().to_owned();
    let (_, escalated) = admin.post(
        "/security/evaluate",
        &json!({"agent_id": agent_id, "tool": "db", "action_type": "execute",
            "arguments": {"sql": "DROP TABLE customers"}}),
    );
    let approval_id = escalated["approval_id"].as_str().unwrap().to_owned();

    let h = HOSTILE;
    // Every text field of every write route, and what it answers: one-line names refuse the
    // text (422), free text (a description, a reason, tool arguments, scanned output, a
    // decision's note) takes it.
    let writes: Vec<(&str, String, Value, u16)> = vec![
        ("POST", "/agents".into(), json!({"name": h, "role": h, "department": h}), 422),
        ("POST", "/agents".into(), json!({"name": "bob", "role": "developer", "allowed_tools": [h]}), 422),
        ("PATCH", format!("/agents/{agent_id}"), json!({"role": h, "department": h}), 422),
        ("POST", "/tasks".into(), json!({"title": h, "description": h}), 422),
        ("POST", "/tasks".into(), json!({"title": "fine", "description": h}), 201),
        (
            "POST",
            format!("/tasks/{task_id}/transitions"),
            json!({"to": "assigned", "assigned_to": agent_id, "reason": h}),
            200,
        ),
        (
            "POST",
            "/costs".into(),
            json!({"agent_id": agent_id, "provider": h, "model": h, "input_tokens": 1, "output_tokens": 1}),
            422,
        ),
        (
            "POST",
            "/costs".into(),
            json!({"agent_id": agent_id, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1,
                "cost": 0.5, "idempotency_key": h}),
            422,
        ),
        (
            "POST",
            "/budget/reservations".into(),
            json!({"agent_id": agent_id, "amount": 1, "provider": h, "model": h}),
            422,
        ),
        ("PUT", "/budget/config".into(), json!({"total_monthly": 100, "currency": h}), 422),
        ("POST", "/security/evaluate".into(), json!({"agent_id": agent_id, "tool": h, "action_type": h}), 422),
        (
            "POST",
            "/security/evaluate".into(),
            json!({"agent_id": agent_id, "tool": "fs.read", "action_type": "read", "arguments": {"path": h}}),
            200,
        ),
        ("POST", "/security/scan-output".into(), json!({"agent_id": agent_id, "tool": h, "output": h}), 200),
        ("POST", format!("/approvals/{approval_id}/decision"), json!({"decision": "approve", "note": h}), 200),
        ("POST", "/keys".into(), json!({"role": "viewer", "label": h}), 422),
        (
            "POST",
            "/coordination/runs".into(),
            json!({"agents": [agent_id], "topology": h, "turns_mas": 2, "turns_sas": 1, "success_rate": 1}),
            422,
        ),
    ];
    let mark = server.logs.lock().unwrap().len();
    for (method, path, body, expected) in &writes {
        let (status, answer) = admin.send(method, path, body);
        assert_eq!(status, *expected, "{method} {path}: {answer}");
    }
    let (_, logs) = server.signal("TERM");
    let lines = &logs[mark..];
    for line in lines {
        assert!(is_log_line(line), "a line the console did not start: {line:?}");
        assert!(!line.contains(['\u{1b}', '\u{2028}', '\u{2029}', '\u{85}', '\0', '\r', '\u{202e}']), "{line:?}");
    }
    // One access line per request, and the forged audit line never stands alone.
    let access = lines.iter().filter(|l| l.contains("synthorg::access") && l.contains(" request ")).count();
    assert!(access >= writes.len(), "{access} access lines for {} requests: {lines:#?}", writes.len());
    assert!(!lines.iter().any(|l| l.starts_with("2026-01-01T00:00:00Z")), "a forged line: {lines:#?}");
}
