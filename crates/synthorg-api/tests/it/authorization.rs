//! Who may do what, decided once by the engine: an agent key acts only for its agent and only
//! on tasks assigned to that agent, whatever the route; a settling report inherits its
//! reservation's agent and task; holds meet the token scope; a refused hold names its scope.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use synthorg_core::Role;
use uuid::Uuid;

use crate::{TestApp, id};

/// Sets the budget configuration (admin).
async fn budget(app: &TestApp, config: Value) {
    let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(config)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// A task assigned to `agent`.
async fn assigned_task(app: &TestApp, title: &str, agent: Uuid) -> Uuid {
    let task = app.task(title).await;
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": agent})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    task
}

fn report(agent: Uuid, task: Option<Uuid>, cost: &str) -> Value {
    json!({"agent_id": agent, "task_id": task, "provider": "p", "model": "m", "input_tokens": 10,
        "output_tokens": 10, "cost": cost})
}

crate::on_both_stores! {
async fn an_agent_key_acts_only_on_tasks_assigned_to_its_agent() {
    let app = TestApp::new();
    budget(&app, json!({"per_task_limit": "0.10"})).await;
    let (a, b) = (app.agent("ada").await, app.agent("bob").await);
    let theirs = assigned_task(&app, "bob's", b).await;
    let nobodys = app.task("unassigned").await;
    let a_key = app.key(Role::Agent, Some(a));
    let b_key = app.key(Role::Agent, Some(b));
    let as_a = async |method: Method, path: &str, body: Option<Value>| app.call(method, path, Some(&a_key), body).await;
    for task in [theirs, nobodys] {
        let refused = [
            as_a(Method::POST, "/api/v1/budget/reservations", Some(json!({"agent_id": a, "task_id": task, "amount": "0.10"}))).await,
            as_a(Method::POST, "/api/v1/costs", Some(report(a, Some(task), "0.01"))).await,
            as_a(Method::POST, "/api/v1/security/evaluate", Some(json!({"agent_id": a, "task_id": task, "tool": "search",
                "action_type": "read"}))).await,
            as_a(Method::POST, "/api/v1/security/scan-output", Some(json!({"agent_id": a, "task_id": task, "output": "ok"}))).await,
            as_a(Method::GET, &format!("/api/v1/budget/remaining?task_id={task}"), None).await,
        ];
        // The same answer whatever the route.
        let expected = format!("task {task} is not assigned to agent {a}");
        for r in &refused {
            assert_eq!((r.status, r.code(), r.message()), (StatusCode::FORBIDDEN, "forbidden", expected.as_str()), "{:?}", r.body);
        }
    }
    // Nothing was held, recorded or judged on bob's task: bob's own hold of the whole task
    // limit is granted and his evaluation allowed.
    assert_eq!(app.count(&format!("/api/v1/costs?task_id={theirs}")).await, 0);
    assert_eq!(app.count("/api/v1/security/evaluations").await, 0);
    let r = app.call(Method::POST, "/api/v1/budget/reservations", Some(&b_key),
        Some(json!({"agent_id": b, "task_id": theirs, "amount": "0.10"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The agent's own task works on every route; an admin may act on any task.
    let own = assigned_task(&app, "ada's", a).await;
    let r = as_a(Method::POST, "/api/v1/costs", Some(report(a, Some(own), "0.01"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = as_a(Method::GET, &format!("/api/v1/budget/remaining?task_id={own}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = as_a(Method::POST, "/api/v1/security/evaluate", Some(json!({"agent_id": a, "task_id": own, "tool": "search",
        "action_type": "read"}))).await;
    assert_eq!((r.status, r.body["verdict"].clone()), (StatusCode::OK, json!("allow")), "{:?}", r.body);
    assert_eq!(app.post("/api/v1/costs", report(a, Some(nobodys), "0.01")).await.status, StatusCode::CREATED);
    // Another agent's name is refused the same way on every route, before its task is looked at.
    let r = as_a(Method::POST, "/api/v1/costs", Some(report(b, Some(theirs), "0.01"))).await;
    assert_eq!((r.status, r.message()), (StatusCode::FORBIDDEN, format!("this key acts for agent {a} only, not {b}").as_str()));
    let r = as_a(Method::POST, "/api/v1/budget/reservations", Some(json!({"agent_id": b, "amount": "0.01"}))).await;
    assert_eq!((r.status, r.message()), (StatusCode::FORBIDDEN, format!("this key acts for agent {a} only, not {b}").as_str()));
}
}

crate::on_both_stores! {
async fn a_settling_report_inherits_its_reservations_task_and_agent() {
    let app = TestApp::new();
    budget(&app, json!({"per_task_limit": "0.10"})).await;
    let (a, b) = (app.agent("ada").await, app.agent("bob").await);
    let task = assigned_task(&app, "t", a).await;
    let other = assigned_task(&app, "u", a).await;
    let hold = |task: Uuid| json!({"agent_id": a, "task_id": task, "amount": "0.06"});
    let r = app.post("/api/v1/budget/reservations", hold(task)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let held = id(&r.body);
    // Naming another task or agent than the reservation's is a 422; nothing is recorded.
    let mut wrong_task = report(a, Some(other), "0.09");
    wrong_task["reservation_id"] = json!(held);
    let r = app.post("/api/v1/costs", wrong_task).await;
    assert_eq!((r.status, r.message()), (StatusCode::UNPROCESSABLE_ENTITY,
        format!("task_id: reservation {held} was made for task {task}, not {other}").as_str()));
    let mut wrong_agent = report(b, None, "0.09");
    wrong_agent["reservation_id"] = json!(held);
    let r = app.post("/api/v1/costs", wrong_agent).await;
    assert_eq!((r.status, r.message()), (StatusCode::UNPROCESSABLE_ENTITY,
        format!("agent_id: reservation {held} was made for agent {a}, not {b}").as_str()));
    assert_eq!(app.count("/api/v1/costs").await, 0);
    // Leaving the task out does not move the spend out of the task's scope.
    let mut settle = report(a, None, "0.09");
    settle["reservation_id"] = json!(held);
    let r = app.post("/api/v1/costs", settle).await;
    assert_eq!((r.status, r.body["task_id"].clone()), (StatusCode::CREATED, json!(task)), "{:?}", r.body);
    let r = app.get(&format!("/api/v1/budget/remaining?task_id={task}")).await;
    let scope = r.body["scopes"].as_array().unwrap().iter().find(|s| s["scope"] == "task").unwrap().clone();
    assert_eq!((scope["spent"].clone(), scope["held"].clone()), (json!(0.09), json!(0)), "{:?}", r.body);
    // So a fresh hold on the task does not fit.
    let r = app.post("/api/v1/budget/reservations", hold(task)).await;
    assert_eq!((r.status, r.body["error"]["budget"]["scope"].clone()), (StatusCode::CONFLICT, json!("task")), "{:?}", r.body);
}
}

crate::on_both_stores! {
async fn holds_meet_the_token_scope() {
    let app = TestApp::new();
    budget(&app, json!({"per_agent_daily_tokens": 1000})).await;
    let ada = app.agent("ada").await;
    let r = app.post("/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 900,
        "output_tokens": 99, "cost": 0})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // One token left: an amount-only hold counts as one token (a call uses at least one),
    // so of 32 concurrent holds exactly one is granted.
    let holds = (0..32).map(|_| app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": "0.01"})));
    let answers = futures_util::future::join_all(holds).await;
    let granted: Vec<_> = answers.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(granted.len(), 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(granted[0].body["tokens"], json!(1));
    for refused in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((refused.status, refused.body["error"]["budget"]["scope"].clone()),
            (StatusCode::CONFLICT, json!("agent_daily_tokens")), "{:?}", refused.body);
    }
    // A hold that carries a token estimate is checked against what is left.
    let r = app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": "0.01", "provider": "p",
        "model": "m", "max_input_tokens": 2, "max_output_tokens": 2})).await;
    assert_eq!((r.status, r.body["error"]["budget"]["requested"].clone()), (StatusCode::CONFLICT, json!(4)), "{:?}", r.body);
}
}

crate::on_both_stores! {
async fn an_evaluation_refused_by_a_spent_budget_names_the_scope() {
    let app = TestApp::new();
    budget(&app, json!({"per_agent_daily_limit": "1"})).await;
    let ada = app.agent("ada").await;
    assert_eq!(app.post("/api/v1/costs", report(ada, None, "1")).await.status, StatusCode::CREATED);
    let r = app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "search", "action_type": "read",
        "reserve": {"amount": "0.01"}})).await;
    assert_eq!((r.status, r.body["verdict"].clone()), (StatusCode::OK, json!("deny")), "{:?}", r.body);
    let exhausted = &r.body["budget_exhausted"];
    assert_eq!((exhausted["scope"].clone(), exhausted["remaining"].clone()), (json!("agent_daily"), json!(0)), "{:?}", r.body);
    // Without a hold asked for, the refusal still says which scope stopped the work.
    let r = app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "search", "action_type": "read"})).await;
    assert_eq!((r.body["verdict"].clone(), r.body["budget_exhausted"]["scope"].clone()), (json!("deny"), json!("agent_daily")));
}
}
