//! The engine's invariant (ARCHITECTURE.md, "The engine and its doors"): the same request
//! through two doors gives the same verdict, records, audit events and metrics; only the wire
//! format differs. The doors here are REST and the engine's operations called directly, as a
//! gateway calls them, on one store with one set of metrics.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use synthorg_api::dto::EvaluationResult;
use synthorg_core::audit::AuditContext;
use synthorg_core::cost::{GenAiOperation, NewCostRecord};
use synthorg_core::price::Usage;
use synthorg_core::security::SecurityAction;
use synthorg_core::{Actor, Role};

use crate::TestApp;
use crate::metrics::{scrape, value};

/// `v` without the members that name this very record or moment (ids, times, hashes, the
/// request's correlation ids), at any depth: what two equal requests must agree on.
fn comparable(mut v: Value) -> Value {
    const OWN: &[&str] = &[
        "id",
        "seq",
        "at",
        "created_at",
        "recorded_at",
        "occurred_at",
        "evaluation_id",
        "approval_id",
        "hash",
        "prev_hash",
        "request_id",
        "trace_id",
    ];
    if let Value::Object(map) = &mut v {
        map.retain(|k, _| !OWN.contains(&k.as_str()));
        for value in map.values_mut() {
            *value = comparable(value.take());
        }
    }
    v
}

/// The last `n` items of a list endpoint, oldest first.
async fn last(app: &TestApp, path: &str, n: usize) -> Vec<Value> {
    let items = app.get(path).await.body["items"].as_array().unwrap().clone();
    assert!(items.len() >= n, "{path}: {items:?}");
    items[items.len() - n..].to_vec()
}

crate::on_both_stores! {
async fn the_same_request_through_two_doors_gives_the_same_outcome() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let key = app.key(Role::Agent, Some(ada));
    let actor = Actor::Agent { key_id: key.split('_').nth(1).unwrap().to_owned(), agent_id: ada };
    let task = app.task("migrate the customers table").await;
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": ada})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // A verdict: DROP TABLE escalates, through either door.
    let arguments = json!({"sql": "DROP TABLE customers"});
    let rest = app
        .call(Method::POST, "/api/v1/security/evaluate", Some(&key), Some(json!({"agent_id": ada, "task_id": task,
            "tool": "db", "action_type": "execute", "arguments": arguments})))
        .await;
    assert_eq!((rest.status, rest.body["verdict"].clone()), (StatusCode::OK, json!("escalate")), "{:?}", rest.body);
    let action = SecurityAction { agent_id: ada, task_id: Some(task), tool: "db".into(), action_type: "execute".into(),
        arguments };
    let evaluated = app.engine.evaluate(&actor, AuditContext::new(&actor, None, None), action, None).await.unwrap();
    let direct = serde_json::to_value(EvaluationResult::from(evaluated)).unwrap();
    assert_eq!(comparable(rest.body.clone()), comparable(direct.clone()));
    assert!(direct["approval_id"].is_string() && direct["approval_id"] != rest.body["approval_id"]);
    // The same records: two evaluations and two pending approvals, alike.
    let evaluations = last(&app, "/api/v1/security/evaluations", 2).await;
    assert_eq!(comparable(evaluations[0].clone()), comparable(evaluations[1].clone()));
    let approvals = last(&app, "/api/v1/approvals?status=pending", 2).await;
    assert_eq!(comparable(approvals[0].clone()), comparable(approvals[1].clone()));
    // The same audit events, by the same actor.
    let audit = last(&app, "/api/v1/audit", 2).await;
    assert_eq!(audit[0]["action"], "security.verdict");
    assert_eq!(audit[0]["actor"], format!("key:{}", actor.key().unwrap().0));
    assert_eq!(comparable(audit[0].clone()), comparable(audit[1].clone()));

    // A cost report: the same record and the same ledger.
    let rest = app
        .call(Method::POST, "/api/v1/costs", Some(&key), Some(json!({"agent_id": ada, "task_id": task,
            "provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 6000, "output_tokens": 300,
            "cache_read_input_tokens": 5000})))
        .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{:?}", rest.body);
    let report = NewCostRecord {
        agent_id: ada,
        task_id: Some(task),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        usage: Usage { input: 6000, output: 300, cache_read_input: 5000, ..Usage::default() },
        cost: None,
        call_category: None,
        occurred_at: None,
        idempotency_key: None,
        reservation_id: None,
    };
    let reported = app.engine.report_cost(&actor, report, GenAiOperation::Chat).await.unwrap();
    assert!(!reported.replayed);
    let direct = serde_json::to_value(&reported.record).unwrap();
    assert_eq!(comparable(rest.body.clone()), comparable(direct));
    assert_eq!(rest.body["cost_source"], "computed");

    // The same metrics: each door moved the same counters once.
    let (_, _, text) = scrape(&app, None).await;
    let verdicts = r#"synthorg_security_evaluations_total{verdict="escalate",action="escalate"}"#;
    assert_eq!(value(&text, verdicts), Some(2.0), "{text}");
    let cost = rest.body["cost"].as_f64().unwrap();
    let total = value(&text, "synthorg_cost_total").unwrap();
    assert!((total - 2.0 * cost).abs() < 1e-9, "{total} vs 2 × {cost}");
    let tokens = r#"gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4-5",gen_ai_token_type="input"}"#;
    assert_eq!(value(&text, tokens), Some(2.0), "{text}");
}
}
