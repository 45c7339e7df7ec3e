//! Whole capabilities through the API.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use synthorg_core::Role;

use crate::{TestApp, id};

crate::on_both_stores! {
async fn task_lifecycle_with_history() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let task = app.task("ship it").await;
    let mut version = 1;
    for (to, extra) in [
        ("assigned", json!({"assigned_to": ada})),
        ("in_progress", json!({})),
        ("in_review", json!({})),
        ("in_progress", json!({"reason": "rework: tests missing"})),
        ("in_review", json!({})),
        ("completed", json!({})),
    ] {
        let mut body = json!({"to": to, "expected_version": version});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = app.transition(task, body).await;
        assert_eq!(r.status, StatusCode::OK, "{to}: {:?}", r.body);
        version += 1;
        assert_eq!(r.body["task"]["version"], version);
    }
    let history = app.get(&format!("/api/v1/tasks/{task}/transitions")).await;
    let steps: Vec<_> =
        history.body["items"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(steps, ["assigned", "in_progress", "in_review", "in_progress", "in_review", "completed"]);
    assert_eq!(history.body["items"][3]["reason"], "rework: tests missing");
    assert_eq!(app.count(&format!("/api/v1/tasks?assigned_to={ada}&status=completed")).await, 1);
    assert_eq!(app.count("/api/v1/tasks?unassigned=true").await, 0);
}
}

crate::on_both_stores! {
async fn terminating_an_agent_interrupts_its_tasks() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let task = app.task("t").await;
    app.transition(task, json!({"to": "assigned", "assigned_to": ada})).await;
    let r = app
        .call(Method::PATCH, &format!("/api/v1/agents/{ada}"), Some(&app.admin), Some(json!({"status": "terminated"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/tasks/{task}")).await.body["status"], "interrupted");
    let bob = app.agent("bob").await;
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": bob})).await;
    assert_eq!(r.status, StatusCode::OK, "reassignable: {:?}", r.body);
}
}

crate::on_both_stores! {
async fn escalations_wait_for_an_admin() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let r = app
        .post(
            "/api/v1/security/evaluate",
            json!({"agent_id": ada, "tool": "db", "action_type": "execute",
            "arguments": {"sql": "DROP TABLE users", "password": "hunter2hunter2"}}),
        )
        .await;
    // The credential detector runs before the destructive one: deny.
    assert_eq!(r.body["verdict"], "deny", "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/security/evaluate",
            json!({"agent_id": ada, "tool": "db", "action_type": "execute",
            "arguments": {"sql": "DROP TABLE users", "session": {"id": 7}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["verdict"], "escalate");
    let approval = r.body["approval_id"].as_str().unwrap().to_owned();
    let pending = app.get("/api/v1/approvals?status=pending").await;
    assert_eq!(pending.body["items"][0]["id"], approval.as_str());
    assert_eq!(pending.body["items"][0]["arguments"]["session"], "**REDACTED**");
    let ada_key = app.key(Role::Agent, Some(ada));
    let decision = format!("/api/v1/approvals/{approval}/decision");
    let r = app.call(Method::POST, &decision, Some(&ada_key), Some(json!({"decision": "approve"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&decision, json!({"decision": "approve", "note": "migration planned"})).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("approved")));
    let r = app.call(Method::GET, &format!("/api/v1/approvals/{approval}"), Some(&ada_key), None).await;
    assert_eq!(r.body["status"], "approved", "the agent can poll its approval");
    let r = app.post(&decision, json!({"decision": "reject"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let audit = app.get(&format!("/api/v1/security/evaluations?agent_id={ada}")).await;
    let verdicts: Vec<_> =
        audit.body["items"].as_array().unwrap().iter().map(|e| e["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["deny", "escalate"]);
    assert!(!audit.body.to_string().contains("hunter2"), "arguments are never kept in the audit");
    let r = app.post("/api/v1/security/scan-output", json!({"agent_id": ada, "output": "mail bob@example.com"})).await;
    assert_eq!(
        (r.body["verdict"].as_str(), r.body["sensitive_data_found"].as_bool()),
        (Some("output_scan"), Some(true))
    );
}
}

// What remains per scope follows the ledger; an agent key sees only its own agent and the
// tasks assigned to it; unknown agents and tasks are 404s.
crate::on_both_stores! {
async fn budget_remaining_names_the_tightest_scope() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let bob = app.agent("bob").await;
    let nothing = app.get(&format!("/api/v1/budget/remaining?agent_id={ada}")).await;
    assert_eq!(nothing.status, StatusCode::OK, "{:?}", nothing.body);
    assert_eq!((nothing.body["scopes"].clone(), nothing.body["remaining"].clone()), (json!([]), serde_json::Value::Null));
    let config = json!({"total_monthly": 100, "per_agent_daily_limit": 2, "per_task_limit": 5,
        "alerts": {"warn": 50, "critical": 80, "hard_stop": 120}});
    let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(config)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let task = app.task("t").await;
    app.transition(task, json!({"to": "assigned", "assigned_to": ada})).await;
    let r = app.post("/api/v1/costs", json!({"agent_id": ada, "task_id": task, "provider": "p", "model": "m",
        "input_tokens": 1, "output_tokens": 1, "cost": "1.7"})).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let ada_key = app.key(Role::Agent, Some(ada));
    let mine = app.call(Method::GET, &format!("/api/v1/budget/remaining?task_id={task}"), Some(&ada_key), None).await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    let b = &mine.body;
    assert_eq!((b["agent_id"].as_str(), b["task_id"].as_str()), (Some(ada.to_string().as_str()), Some(task.to_string().as_str())));
    let scopes: Vec<_> = b["scopes"].as_array().unwrap().iter().map(|s| s["scope"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["monthly", "agent_daily", "task"]);
    // The monthly limit is the hard stop, 120 % of 100.
    assert_eq!((b["scopes"][0]["limit"].clone(), b["scopes"][0]["remaining"].clone()), (json!(120), json!(118.3)));
    // 1.7 of 2 is 85 % of the agent's limit: past critical (80 of 120, i.e. 66.7 %).
    assert_eq!(b["scopes"][1]["remaining"], json!(0.3));
    assert_eq!(b["scopes"][1]["alert_level"], "critical");
    assert_eq!(b["scopes"][2]["remaining"], json!(3.3));
    assert_eq!((b["tightest"].as_str(), b["remaining"].clone(), b["alert_level"].as_str()), (Some("agent_daily"), json!(0.3), Some("critical")));
    assert_eq!(b["scopes"][1]["held"], json!(0));

    let other = app.call(Method::GET, &format!("/api/v1/budget/remaining?agent_id={bob}"), Some(&ada_key), None).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{:?}", other.body);
    let bobs_task = app.task("b").await;
    let r = app.call(Method::GET, &format!("/api/v1/budget/remaining?task_id={bobs_task}"), Some(&ada_key), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app.get(&format!("/api/v1/budget/remaining?agent_id={}", uuid::Uuid::now_v7())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app.get("/api/v1/budget/remaining?agent=x").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    // Without an agent, only the organization's scope.
    let org = app.get("/api/v1/budget/remaining").await.body;
    assert_eq!((org["scopes"].as_array().unwrap().len(), org["tightest"].as_str()), (1, Some("monthly")));
}
}

crate::on_both_stores! {
async fn budget_status_follows_the_ledger() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/budget/config",
            Some(&app.admin),
            Some(json!({"total_monthly": 100, "per_agent_daily_limit": 2, "reset_day": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for _ in 0..3 {
        let r = app.post("/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 0.8})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let s = app.get("/api/v1/budget/status").await.body;
    assert_eq!(s["period_spend"], json!(2.4));
    assert_eq!(s["today_spend"], json!(2.4));
    assert!((s["used_percent"].as_f64().unwrap() - 2.4).abs() < 1e-9);
    assert_eq!(s["alert_level"], "normal");
    assert_eq!(s["agents"][0]["over_limit"], true);
    let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(json!({"total_monthly": 2}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/budget/status").await.body["alert_level"], "hard_stop");
}
}

crate::on_both_stores! {
async fn coordination_runs_derive_their_figures() {
    let app = TestApp::new();
    let a = app.agent("a").await;
    let b = app.agent("b").await;
    let r = app
        .post(
            "/api/v1/coordination/runs",
            json!({"agents": [a, b], "topology": "centralized", "turns_mas": 12, "turns_sas": 4, "success_rate": 0.9}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!((r.body["efficiency"].as_f64().unwrap() - 0.3).abs() < 1e-12);
    assert!((r.body["overhead_percent"].as_f64().unwrap() - 200.0).abs() < 1e-12);
    let listed = app.get("/api/v1/coordination/runs").await;
    assert_eq!(id(&listed.body["items"][0]), id(&r.body));
}
}

crate::on_both_stores! {
async fn request_ids_are_kept_when_valid_and_always_echoed() {
    let app = TestApp::new();
    let send = |id: Option<&str>| {
        let mut req = axum::http::Request::builder().uri("/api/v1/health");
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        tower::ServiceExt::oneshot(app.router.clone(), req.body(axum::body::Body::empty()).unwrap())
    };
    let kept = send(Some("client-req-7")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "client-req-7");
    let replaced = send(Some("bad id with spaces")).await.unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let generated = send(None).await.unwrap();
    assert_ne!(generated.headers()["x-request-id"].to_str().unwrap(), id);
}
}

// Spend is always recorded; once a limit is reached, new actions of that agent (or task, or
// the whole organization) are denied by the budget gate.
crate::on_both_stores! {
async fn exhausted_budgets_deny_new_actions() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let bob = app.agent("bob").await;
    let task = app.task("t").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/budget/config",
            Some(&app.admin),
            Some(json!({"total_monthly": 100, "per_agent_daily_limit": 10, "per_task_limit": 4})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let act = |agent, task: Option<uuid::Uuid>| json!({"agent_id": agent, "task_id": task, "tool": "fs.read", "action_type": "read"});
    let spend = |agent, task: Option<uuid::Uuid>, cost: f64| json!({"agent_id": agent, "task_id": task, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": cost});
    assert_eq!(app.post("/api/v1/security/evaluate", act(ada, Some(task))).await.body["verdict"], "allow");

    assert_eq!(app.post("/api/v1/costs", spend(ada, Some(task), 4.0)).await.status, StatusCode::CREATED);
    let r = app.post("/api/v1/security/evaluate", act(ada, Some(task))).await;
    assert_eq!((r.body["verdict"].as_str(), r.body["matched_rules"][0].as_str()), (Some("deny"), Some("budget")));
    assert!(r.body["reason"].as_str().unwrap().starts_with("task limit reached"), "{:?}", r.body);
    assert_eq!(app.post("/api/v1/security/evaluate", act(ada, None)).await.body["verdict"], "allow");

    assert_eq!(app.post("/api/v1/costs", spend(ada, None, 6.0)).await.status, StatusCode::CREATED);
    let r = app.post("/api/v1/security/evaluate", act(ada, None)).await;
    assert!(r.body["reason"].as_str().unwrap().starts_with("agent daily limit"), "{:?}", r.body);
    assert_eq!(app.post("/api/v1/security/evaluate", act(bob, None)).await.body["verdict"], "allow");

    assert_eq!(
        app.post("/api/v1/costs", spend(bob, None, 95.0)).await.status,
        StatusCode::CREATED,
        "spend is always recorded"
    );
    let r = app.post("/api/v1/security/evaluate", act(bob, None)).await;
    assert!(r.body["reason"].as_str().unwrap().starts_with("budget hard stop"), "{:?}", r.body);
}
}

crate::on_both_stores! {
async fn approval_waits_and_decision_times_are_on_the_scrape() {
    use crate::metrics::{scrape, value};
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, "synthorg_approvals_oldest_pending_seconds"), Some(0.0), "nothing pending");
    let escalate = json!({"agent_id": ada, "tool": "db", "action_type": "execute", "arguments": {"sql": "DROP TABLE users"}});
    let r = app.post("/api/v1/security/evaluate", escalate.clone()).await;
    let first = r.body["approval_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = app.post("/api/v1/security/evaluate", escalate).await;
    let second = r.body["approval_id"].as_str().unwrap().to_owned();
    let (_, _, text) = scrape(&app, None).await;
    let oldest = value(&text, "synthorg_approvals_oldest_pending_seconds").unwrap();
    assert!((0.3..60.0).contains(&oldest), "the first escalation's wait: {oldest}");
    let r = app.post(&format!("/api/v1/approvals/{first}/decision"), json!({"decision": "reject"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, _, text) = scrape(&app, None).await;
    assert!(value(&text, "synthorg_approvals_oldest_pending_seconds").unwrap() < oldest, "now the second is the oldest");
    let r = app.post(&format!("/api/v1/approvals/{second}/decision"), json!({"decision": "approve"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, "synthorg_approvals_oldest_pending_seconds"), Some(0.0));
    for decision in ["approve", "reject"] {
        let count = format!(r#"synthorg_approval_decision_seconds_count{{decision="{decision}"}}"#);
        assert_eq!(value(&text, &count), Some(1.0), "{decision}: {text}");
        let fast = format!(r#"synthorg_approval_decision_seconds_bucket{{decision="{decision}",le="10.0"}}"#);
        assert_eq!(value(&text, &fast), Some(1.0), "decided within 10 s");
    }
    let sum = value(&text, r#"synthorg_approval_decision_seconds_sum{decision="reject"}"#).unwrap();
    assert!(sum >= 0.3, "the rejected one waited at least 300 ms: {sum}");
}
}

// The overview's counts (maintained by the store) equal a recount of the lists, every status
// and verdict present; viewers read it, agent keys may not.
crate::on_both_stores! {
async fn the_overview_counts_what_the_lists_hold() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let bob = app.agent("bob").await;
    let task = app.task("first").await;
    app.task("second").await;
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": ada})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let calls = [
        ("fs.read", "read", json!({"path": "/workspace/a"})),
        ("fs.read", "read", json!({"path": "/workspace/b"})),
        ("shell", "execute", json!({"command": "cat /etc/shadow"})),
        ("db.query", "write", json!({"sql": "DROP TABLE staging"})),
        ("http.get", "network", json!({"url": "https://example.com"})),
    ];
    for (agent, (tool, action, arguments)) in [ada, bob, ada, bob, ada].into_iter().zip(calls) {
        let body = json!({"agent_id": agent, "tool": tool, "action_type": action, "arguments": arguments});
        assert_eq!(app.post("/api/v1/security/evaluate", body).await.status, StatusCode::OK);
    }

    let overview = app.get("/api/v1/overview").await;
    assert_eq!(overview.status, StatusCode::OK, "{:?}", overview.body);
    let recount = |items: &Value, field: &str| {
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for item in items.as_array().unwrap() {
            *counts.entry(item[field].as_str().unwrap().to_owned()).or_default() += 1;
        }
        counts
    };
    let present = |counts: &Value| -> std::collections::BTreeMap<String, u64> {
        counts.as_object().unwrap().iter().filter(|(_, n)| n.as_u64() != Some(0)).map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect()
    };
    assert_eq!(present(&overview.body["agents"]), recount(&app.get("/api/v1/agents").await.body["items"], "status"));
    assert_eq!(present(&overview.body["tasks"]), recount(&app.get("/api/v1/tasks").await.body["items"], "status"));
    let evaluations = app.get("/api/v1/security/evaluations").await.body["items"].clone();
    assert_eq!(evaluations.as_array().unwrap().len(), 5);
    assert_eq!(present(&overview.body["verdicts"]), recount(&evaluations, "verdict"));
    let pending = app.count("/api/v1/approvals?status=pending").await as u64;
    assert_eq!(overview.body["pending_approvals"], pending);
    for (field, statuses) in [
        ("agents", synthorg_core::agent::AgentStatus::ALL.iter().map(ToString::to_string).collect::<Vec<_>>()),
        ("tasks", synthorg_core::task::TaskStatus::ALL.iter().map(ToString::to_string).collect()),
        ("verdicts", synthorg_core::security::Verdict::ALL.iter().map(ToString::to_string).collect()),
    ] {
        for status in statuses {
            assert!(overview.body[field][&status].is_u64(), "{field}.{status} present: {:?}", overview.body);
        }
    }

    let viewer = app.key(synthorg_core::Role::Viewer, None);
    assert_eq!(app.call(Method::GET, "/api/v1/overview", Some(&viewer), None).await.body, overview.body);
    let agent_key = app.key(synthorg_core::Role::Agent, Some(ada));
    let refused = app.call(Method::GET, "/api/v1/overview", Some(&agent_key), None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "forbidden"), "{:?}", refused.body);
}
}

crate::on_both_stores! {
async fn lists_page_newest_first_and_stay_exact_while_rows_arrive() {
    let app = TestApp::new();
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(app.agent(&format!("agent-{i}")).await);
    }
    // Newest first, three to a page; agents registered between pages never shift a page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/agents?order=desc&limit=3".to_owned(),
            Some(c) => format!("/api/v1/agents?order=desc&limit=3&cursor={c}"),
        };
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        seen.extend(r.body["items"].as_array().unwrap().iter().map(crate::id));
        app.agent(&format!("late-{}", seen.len())).await;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<_> = made.iter().rev().copied().collect();
    assert_eq!(seen, expected, "every agent of the start once, newest first; none of the late ones");
    // Oldest first is still the default, and an unknown order names the parameter.
    let first = app.get("/api/v1/agents?limit=1").await;
    assert_eq!(crate::id(&first.body["items"][0]), made[0]);
    let r = app.get("/api/v1/agents?order=sideways").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("order"), "{}", r.message());
    // Every list takes it.
    for path in ["/api/v1/tasks", "/api/v1/costs", "/api/v1/budget/reservations", "/api/v1/coordination/runs",
        "/api/v1/security/evaluations", "/api/v1/approvals", "/api/v1/audit", "/api/v1/keys"] {
        let r = app.get(&format!("{path}?order=desc&limit=2")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    }
    let audit = app.get("/api/v1/audit?order=desc&limit=1").await;
    let head = app.get("/api/v1/audit/head").await;
    assert_eq!(audit.body["items"][0]["seq"], head.body["seq"], "the newest audit event first");
}
}
