//! Every kind of bad input gets a clear 4xx naming the field, and nothing is half-written.

use axum::http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::TestApp;

crate::on_both_stores! {
async fn malformed_json_is_400() {
    let app = TestApp::new();
    let r = app
        .raw(Method::POST, "/api/v1/agents", Some(&app.admin), Some(b"{\"name\": ".to_vec()), "application/json")
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"));
    assert!(r.message().starts_with("malformed JSON"), "{}", r.message());
    let r = app
        .raw(
            Method::POST,
            "/api/v1/agents",
            Some(&app.admin),
            Some(br#"{"name": "x", "role": "y"} {}"#.to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.raw(Method::POST, "/api/v1/agents", Some(&app.admin), Some(b"name=x".to_vec()), "text/plain").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("/api/v1/agents").await, 0);
}
}

crate::on_both_stores! {
async fn shape_errors_are_422_naming_the_field() {
    let app = TestApp::new();
    let agent = app.agent("ada").await;
    let cases = [
        ("/api/v1/agents", json!({"name": "x", "role": "qa", "colour": "red"}), "colour"),
        ("/api/v1/agents", json!({"name": 5, "role": "qa"}), "name"),
        ("/api/v1/agents", json!({"role": "qa"}), "body"),
        ("/api/v1/agents", json!({"name": "x", "role": "qa", "status": "sleeping"}), "status"),
        ("/api/v1/tasks", json!({"title": "t", "parent_id": "not-a-uuid"}), "parent_id"),
        (
            "/api/v1/costs",
            json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": -1, "output_tokens": 0, "cost": 1}),
            "input_tokens",
        ),
        (
            "/api/v1/costs",
            json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 0, "cost": -0.5}),
            "cost",
        ),
        (
            "/api/v1/costs",
            json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 0, "cost": "NaN"}),
            "cost",
        ),
        (
            "/api/v1/costs",
            json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 0, "cost": 0.0000000001}),
            "cost",
        ),
        (
            "/api/v1/costs",
            json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 0, "cost": "1e400"}),
            "cost",
        ),
        (
            "/api/v1/coordination/runs",
            json!({"agents": [agent], "topology": "star", "turns_mas": 0, "turns_sas": 2, "success_rate": 1}),
            "turns_mas",
        ),
        (
            "/api/v1/coordination/runs",
            json!({"agents": [agent], "topology": "star", "turns_mas": 3, "turns_sas": -2, "success_rate": 1}),
            "turns_sas",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.post(path, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert!(r.message().starts_with(&format!("{field}:")), "{body}: {}", r.message());
    }
    assert_eq!(app.count("/api/v1/agents").await, 1);
    assert_eq!(app.count("/api/v1/costs").await, 0);
    assert_eq!(app.count("/api/v1/coordination/runs").await, 0);
}
}

crate::on_both_stores! {
async fn oversized_bodies_and_fields() {
    let app = TestApp::new();
    let huge = json!({"title": "x".repeat(10 * 1024 * 1024)});
    let r = app.post("/api/v1/tasks", huge).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let long = json!({"title": "t", "description": "d".repeat(100_000)});
    let r = app.post("/api/v1/tasks", long).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("description: must be at most 65536"), "{}", r.message());
    let r = app.post("/api/v1/agents", json!({"name": "n".repeat(129), "role": "qa"})).await;
    assert!(r.message().starts_with("name:"), "{}", r.message());
    assert_eq!(app.count("/api/v1/tasks").await, 0);
    // A declared length over the limit is refused at once: the body (which never comes
    // here) is not waited for.
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/tasks")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "application/json")
        .header("content-length", "10000000000")
        .body(axum::body::Body::from_stream(futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>()))
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), tower::ServiceExt::oneshot(app.router.clone(), request))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
}

crate::on_both_stores! {
async fn ids_and_pagination() {
    let app = TestApp::new();
    let r = app.get("/api/v1/tasks/12345").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("not a UUID"), "{}", r.message());
    let r = app.get(&format!("/api/v1/tasks/{}", Uuid::now_v7())).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.get("/api/v1/tasks?limit=1000000000").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("limit:"), "{}", r.message());
    let r = app.get("/api/v1/tasks?limit=0").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/tasks?cursor=abc").await;
    assert!(r.message().starts_with("cursor:"), "{}", r.message());
    let r = app.get("/api/v1/tasks?stauts=created").await;
    assert!(r.message().contains("unknown field `stauts`"), "{}", r.message());
    let r = app.get("/api/v1/tasks?status=sleeping").await;
    assert!(r.message().starts_with("status:"), "{}", r.message());
    for i in 0..5 {
        app.task(&format!("t{i}")).await;
    }
    let first = app.get("/api/v1/tasks?limit=2").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/api/v1/tasks?limit=2&cursor={cursor}")).await;
    assert_ne!(first.body["items"][0]["id"], second.body["items"][0]["id"]);
    let last = app.get("/api/v1/tasks?limit=5").await;
    assert!(last.body["next_cursor"].is_null());
}
}

crate::on_both_stores! {
async fn references_to_unknown_entities() {
    let app = TestApp::new();
    let ghost = Uuid::now_v7();
    let r = app
        .post(
            "/api/v1/costs",
            json!({"agent_id": ghost, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("agent_id:"), "{}", r.message());
    let agent = app.agent("ada").await;
    let r = app.post("/api/v1/costs", json!({"agent_id": agent, "task_id": ghost, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 1})).await;
    assert!(r.message().starts_with("task_id:"), "{}", r.message());
    let task = app.task("t").await;
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": ghost})).await;
    assert!(r.message().starts_with("assigned_to:"), "{}", r.message());
    let r = app.post("/api/v1/tasks", json!({"title": "child", "parent_id": ghost})).await;
    assert!(r.message().starts_with("parent_id:"), "{}", r.message());
    let r = app.post(&format!("/api/v1/tasks/{ghost}/transitions"), json!({"to": "cancelled"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("/api/v1/costs").await, 0);
    assert_eq!(app.count("/api/v1/tasks").await, 1);
}
}

crate::on_both_stores! {
async fn conflicts() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let r = app.post("/api/v1/agents", json!({"name": "ada", "role": "qa"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.message().contains("\"ada\""), "{}", r.message());
    let task = app.task("t").await;
    let r = app.transition(task, json!({"to": "completed"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.message().ends_with("allowed next states: assigned, cancelled"), "{}", r.message());
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": ada, "expected_version": 7})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.message().contains("stale version"), "{}", r.message());
    let bob = app.agent("bob").await;
    let r = app
        .call(Method::PATCH, &format!("/api/v1/agents/{bob}"), Some(&app.admin), Some(json!({"status": "terminated"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.transition(task, json!({"to": "assigned", "assigned_to": bob})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().contains("is terminated"), "{}", r.message());
    let r = app
        .call(Method::PATCH, &format!("/api/v1/agents/{bob}"), Some(&app.admin), Some(json!({"status": "active"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let history = app.count(&format!("/api/v1/tasks/{task}/transitions")).await;
    assert_eq!(history, 0, "no failed transition left a trace");
}
}

crate::on_both_stores! {
async fn budget_config_errors_are_all_reported() {
    let app = TestApp::new();
    for (body, fields) in [
        (json!({"reset_day": 0}), vec!["reset_day"]),
        (json!({"reset_day": 29}), vec!["reset_day"]),
        (json!({"alerts": {"warn": 90, "critical": 90, "hard_stop": 100}}), vec!["alerts"]),
        (
            json!({"reset_day": 31, "total_monthly": -5, "alerts": {"warn": 95, "critical": 90, "hard_stop": 100}}),
            vec!["total_monthly", "reset_day", "alerts"],
        ),
    ] {
        let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let named: Vec<_> = r.message().split("; ").map(|m| m.split(':').next().unwrap()).collect();
        assert_eq!(named, fields, "{}", r.message());
    }
    let r = app.get("/api/v1/budget/config").await;
    assert_eq!(r.body["reset_day"], 1, "the defaults are still in force");
}
}

crate::on_both_stores! {
async fn replayed_cost_reports_are_recorded_once_with_the_same_answer() {
    let app = TestApp::new();
    let agent = app.agent("ada").await;
    let body = json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 5, "output_tokens": 5, "cost": "0.125", "idempotency_key": "call-1"});
    let first = app.post("/api/v1/costs", body.clone()).await;
    let second = app.post("/api/v1/costs", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!((second.status, &second.body), (first.status, &first.body));
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert!(first.headers.get("idempotent-replayed").is_none());
    let mut changed = body.clone();
    changed["cost"] = json!("0.5");
    assert_eq!(app.post("/api/v1/costs", changed).await.status, StatusCode::CONFLICT);
    assert_eq!(app.count("/api/v1/costs").await, 1);
}
}

crate::on_both_stores! {
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::new();
    let r = app.get("/api/v1/nothing").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.call(Method::DELETE, "/api/v1/tasks", Some(&app.admin), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    // Keys are for the API: outside it, what is not served is a 404, never a 401; inside it,
    // an unknown route still needs a key (it says nothing about what exists).
    for path in ["/favicon.ico", "/console/nothing.js", "/robots.txt"] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    assert_eq!(app.call(Method::GET, "/api/v1/nothing", None, None).await.status, StatusCode::UNAUTHORIZED);
}
}

/// A request stuck behind a lock held by another process is answered 503 `timeout` once
/// `request_timeout` passes. (Like any timeout, the outcome of the write is then unknown to
/// the client: docs/api.md tells clients to retry with an idempotency key or re-read.)
#[tokio::test]
async fn slow_requests_time_out() {
    let settings =
        synthorg_api::ApiSettings { request_timeout: std::time::Duration::from_millis(300), ..Default::default() };
    let app = TestApp::with_settings(settings);
    let mut other = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    let lock = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let started = std::time::Instant::now();
    let r = app.post("/api/v1/tasks", json!({"title": "t"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "timeout"));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    lock.rollback().unwrap();
}

/// Policy names are matched in canonical spelling over HTTP too, and names holding
/// invisible characters are refused wherever they enter (evaluations, agents' tool lists).
#[tokio::test]
async fn spelling_does_not_dodge_the_policy() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    for kind in ["delete", "DELETE", "ｄｅｌｅｔｅ", " 𝐝𝐞𝐥𝐞𝐭𝐞\u{3000}"] {
        let r =
            app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "fs", "action_type": kind})).await;
        assert_eq!(
            (r.status, r.body["verdict"].as_str()),
            (StatusCode::OK, Some("escalate")),
            "{kind:?}: {:?}",
            r.body
        );
    }
    for (tool, kind, field) in [("fs", "de\u{200B}lete", "action_type"), ("f\u{202E}s", "read", "tool")] {
        let r =
            app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": tool, "action_type": kind})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind:?}");
        assert!(r.message().starts_with(&format!("{field}: must not contain invisible")), "{}", r.message());
    }
    assert_eq!(app.count("/api/v1/security/evaluations").await, 4, "refused requests record nothing");
    let r = app
        .post(
            "/api/v1/agents",
            json!({"name": "eve", "role": "qa", "trust_level": "custom", "denied_tools": ["prod\u{2060}.*"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("denied_tools[0]: must not contain invisible"), "{}", r.message());
}

/// A body must be a JSON object sent as JSON: an array is not read field by field into an
/// object, and a body without a Content-Type is a 415 like one with the wrong type.
#[tokio::test]
async fn bodies_are_json_objects_with_a_json_content_type() {
    let app = TestApp::new();
    let r = app
        .raw(Method::POST, "/api/v1/agents", Some(&app.admin), Some(br#" ["eve", "qa"]"#.to_vec()), "application/json")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.message(), "body: must be a JSON object, not an array");
    let req = axum::http::Request::post("/api/v1/agents")
        .header("authorization", format!("Bearer {}", app.admin))
        .body(axum::body::Body::from(r#"{"name": "eve", "role": "qa"}"#))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("/api/v1/agents").await, 0);
}

/// Names, roles, departments, titles, labels and the other one-line fields refuse control
/// and invisible characters (a newline or an escape sequence would forge output).
#[tokio::test]
async fn control_characters_are_refused_in_one_line_fields() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let cases = [
        ("/api/v1/agents", json!({"name": "eve\nINFO approval decided", "role": "qa"}), "name"),
        ("/api/v1/agents", json!({"name": "eve", "role": "qa\u{1b}[31m"}), "role"),
        ("/api/v1/agents", json!({"name": "eve", "role": "qa", "department": "ops\u{202e}"}), "department"),
        ("/api/v1/tasks", json!({"title": "ship\r\nit"}), "title"),
        ("/api/v1/keys", json!({"role": "viewer", "label": "ops\u{0000}"}), "label"),
        (
            "/api/v1/costs",
            json!({"agent_id": ada, "provider": "p\u{200b}", "model": "m", "input_tokens": 1, "output_tokens": 1}),
            "provider",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.post(path, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.message().starts_with(&format!("{field}: must not contain invisible")), "{body}: {}", r.message());
    }
    // Free text keeps its line breaks.
    let r = app.post("/api/v1/tasks", json!({"title": "t", "description": "line one\nline two\ttabbed"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.count("/api/v1/agents").await, 1);
}

crate::on_both_stores! {
async fn agent_names_are_unique_regardless_of_case() {
    let app = TestApp::new();
    app.agent("Ada Lovelace").await;
    for taken in ["ada lovelace", "ADA LOVELACE", "Ａｄａ Ｌｏｖｅｌａｃｅ", " Ada Lovelace "] {
        let r = app.post("/api/v1/agents", json!({"name": taken, "role": "dev"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "{taken:?}: {:?}", r.body);
        assert!(r.message().contains("unique regardless of case"), "{}", r.message());
    }
    let r = app.post("/api/v1/agents", json!({"name": "Ada Byron", "role": "dev"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.count("/api/v1/agents").await, 2);
}
}

crate::on_both_stores! {
async fn wrong_json_types_are_422_naming_the_field() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let task = app.task("t").await;
    let transitions = format!("/api/v1/tasks/{task}/transitions");
    // A wrong JSON type for an enum, a nested struct given as an array, a version that names
    // none: each is the field's fault, named, and changes nothing.
    let cases = [
        (Method::POST, "/api/v1/agents", json!({"name": "x", "role": "qa", "status": 5}), "status"),
        (Method::POST, "/api/v1/agents", json!({"name": "x", "role": "qa", "trust_level": ["standard"]}), "trust_level"),
        (Method::POST, "/api/v1/agents", json!({"name": "x", "role": "qa", "status": true}), "status"),
        (Method::POST, &transitions, json!({"to": 3}), "to"),
        (Method::POST, &transitions, json!({"to": "assigned", "assigned_to": ada, "expected_version": -1}), "expected_version"),
        (Method::POST, &transitions, json!({"to": "assigned", "assigned_to": ada, "expected_version": 0}), "expected_version"),
        (Method::PUT, "/api/v1/budget/config", json!({"alerts": [10, 20, 30]}), "alerts"),
        (Method::POST, "/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "t", "action_type": "read",
            "reserve": ["1"]}), "reserve"),
        (Method::POST, "/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1,
            "output_tokens": 1, "call_category": 7}), "call_category"),
    ];
    for (method, path, body, field) in cases {
        let r = app.call(method, path, Some(&app.admin), Some(body.clone())).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"), "{body}: {:?}", r.body);
        assert!(r.message().starts_with(&format!("{field}: ")), "{body}: {}", r.message());
    }
    assert_eq!(app.count("/api/v1/agents").await, 1);
    assert_eq!(app.get(&format!("/api/v1/tasks/{task}")).await.body["version"], 1);
    assert_eq!(app.get("/api/v1/budget/config").await.body["alerts"]["warn"], 75.0);
    assert_eq!(app.count("/api/v1/security/evaluations").await, 0);
    assert_eq!(app.count("/api/v1/costs").await, 0);
    // The auth scheme is case-insensitive (RFC 9110).
    let r = app
        .raw(Method::GET, "/api/v1/agents", None, None, "application/json")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for scheme in ["BEARER", "bearer", "Bearer", "bEaReR"] {
        let req = axum::http::Request::builder()
            .uri("/api/v1/agents")
            .header("authorization", format!("{scheme} {}", app.admin))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
    }
}
}
