//! Authentication and authorization.

use axum::http::{Method, StatusCode};
use serde_json::json;
use synthorg_api::{ApiSettings, ExcludePaths};
use synthorg_core::Role;

use crate::TestApp;

crate::on_both_stores! {
async fn keys_are_required_checked_and_revocable() {
    let app = TestApp::new();
    let r = app.call(Method::GET, "/api/v1/agents", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    for bad in ["nonsense", "sk_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000"] {
        let r = app.call(Method::GET, "/api/v1/agents", Some(bad), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // A real id with a wrong secret.
    let viewer = app.key(Role::Viewer, None);
    let forged = format!("{}{}", &viewer[..viewer.len() - 1], if viewer.ends_with('0') { '1' } else { '0' });
    assert_eq!(app.call(Method::GET, "/api/v1/agents", Some(&forged), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::GET, "/api/v1/agents", Some(&viewer), None).await.status, StatusCode::OK);
    let id = viewer.split('_').nth(1).unwrap();
    let r = app.call(Method::DELETE, &format!("/api/v1/keys/{id}"), Some(&app.admin), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["revoked_at"].is_string());
    assert_eq!(app.call(Method::GET, "/api/v1/agents", Some(&viewer), None).await.status, StatusCode::UNAUTHORIZED);
}
}

// A key revoked or an agent terminated by another process (`synthorg keys revoke` on the same
// file, another replica on the same database) is refused within `KEY_FRESH`: the engine reads
// a remembered key again once it is that old.
crate::on_both_stores! {
async fn revocations_made_elsewhere_take_effect_within_the_bound() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let viewer = app.key(Role::Viewer, None);
    let agent = app.key(Role::Agent, Some(ada));
    let write = || app.call(Method::POST, "/api/v1/tasks", Some(&agent), Some(json!({"title": "t"})));
    assert_eq!(app.call(Method::GET, "/api/v1/agents", Some(&viewer), None).await.status, StatusCode::OK);
    assert_eq!(write().await.status, StatusCode::CREATED);
    let store = app.store.clone();
    let viewer_id = viewer.split('_').nth(1).unwrap().to_owned();
    crate::blocking(move || {
        let audit = synthorg_core::audit::AuditContext::command_line();
        store.revoke_api_key(&viewer_id, synthorg_store::now(), &audit).unwrap();
        let patch = synthorg_core::agent::AgentPatch {
            status: Some(synthorg_core::agent::AgentStatus::Terminated),
            ..Default::default()
        };
        store.update_agent(ada, patch, &synthorg_core::Actor::System, &audit).unwrap();
    });
    tokio::time::sleep(synthorg_engine::KEY_FRESH + std::time::Duration::from_millis(50)).await;
    assert_eq!(app.call(Method::GET, "/api/v1/agents", Some(&viewer), None).await.status, StatusCode::UNAUTHORIZED);
    let r = write().await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.message().contains("terminated"), "{:?}", r.body);
}
}

crate::on_both_stores! {
async fn keys_created_through_the_api_work_and_are_shown_once() {
    let app = TestApp::new();
    let r = app.post("/api/v1/keys", json!({"role": "viewer", "label": "grafana"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = r.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Method::GET, "/api/v1/tasks", Some(&key), None).await.status, StatusCode::OK);
    let listed = app.get("/api/v1/keys").await;
    assert!(!listed.body.to_string().contains(&key[20..]), "secrets are never listed");
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let r = app.post("/api/v1/keys", json!({"role": "agent"})).await;
    assert!(r.message().starts_with("agent_id:"), "{}", r.message());
}
}

crate::on_both_stores! {
async fn viewers_only_read() {
    let app = TestApp::new();
    let viewer = app.key(Role::Viewer, None);
    let r = app.call(Method::POST, "/api/v1/tasks", Some(&viewer), Some(json!({"title": "t"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::GET, "/api/v1/budget/status", Some(&viewer), None).await.status, StatusCode::OK);
    assert_eq!(app.count("/api/v1/tasks").await, 0);
}
}

crate::on_both_stores! {
async fn agent_keys_act_only_for_their_agent() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let bob = app.agent("bob").await;
    let ada_key = app.key(Role::Agent, Some(ada));
    let as_ada = |method, path: String, body| {
        let key = ada_key.clone();
        let app = &app;
        async move { app.call(method, &path, Some(&key), body).await }
    };
    let theirs = app.task("bob's").await;
    assert_eq!(app.transition(theirs, json!({"to": "assigned", "assigned_to": bob})).await.status, StatusCode::OK);
    let r =
        as_ada(Method::POST, format!("/api/v1/tasks/{theirs}/transitions"), Some(json!({"to": "in_progress"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let mine = app.task("ada's").await;
    let r = as_ada(
        Method::POST,
        format!("/api/v1/tasks/{mine}/transitions"),
        Some(json!({"to": "assigned", "assigned_to": ada})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = as_ada(Method::POST, format!("/api/v1/tasks/{mine}/transitions"), Some(json!({"to": "in_progress"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let cost = |agent| json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 1});
    assert_eq!(as_ada(Method::POST, "/api/v1/costs".into(), Some(cost(bob))).await.status, StatusCode::FORBIDDEN);
    assert_eq!(as_ada(Method::POST, "/api/v1/costs".into(), Some(cost(ada))).await.status, StatusCode::CREATED);
    let eval = |agent| json!({"agent_id": agent, "tool": "fs.read", "action_type": "read"});
    assert_eq!(
        as_ada(Method::POST, "/api/v1/security/evaluate".into(), Some(eval(bob))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(as_ada(Method::POST, "/api/v1/security/evaluate".into(), Some(eval(ada))).await.status, StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, "/api/v1/agents".to_owned(), Some(json!({"name": "eve", "role": "qa"}))),
        (Method::POST, "/api/v1/keys".to_owned(), Some(json!({"role": "admin"}))),
        (Method::GET, "/api/v1/keys".to_owned(), None),
        (Method::PUT, "/api/v1/budget/config".to_owned(), Some(json!({}))),
        (Method::PATCH, format!("/api/v1/agents/{ada}"), Some(json!({"trust_level": "elevated"}))),
        (Method::PATCH, format!("/api/v1/agents/{bob}"), Some(json!({"status": "on_leave"}))),
    ] {
        let r = as_ada(method.clone(), path.clone(), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {:?}", r.body);
    }
    let r = as_ada(Method::PATCH, format!("/api/v1/agents/{ada}"), Some(json!({"status": "on_leave"}))).await;
    assert_eq!(r.status, StatusCode::OK);
}
}

async fn status_without_key(app: &TestApp, path: &str) -> StatusCode {
    app.call(Method::GET, path, None, None).await.status
}

#[tokio::test]
async fn exclude_paths_default_list() {
    let app = TestApp::new();
    assert_eq!(status_without_key(&app, "/api/v1/health").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/health/ready").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/openapi.json").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/metrics").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/agents").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_without_key(&app, "/api/v1/metrics/../agents").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn exclude_paths_custom_list_without_metrics_still_excludes_metrics() {
    let exclude = ExcludePaths::new(Some(&["^/api/v1/health$".to_owned()])).unwrap();
    let app = TestApp::with_settings(ApiSettings { exclude_paths: exclude, ..Default::default() });
    assert_eq!(status_without_key(&app, "/api/v1/health").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/health/ready").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_without_key(&app, "/api/v1/openapi.json").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_without_key(&app, "/api/v1/metrics").await, StatusCode::OK);
}

#[tokio::test]
async fn exclude_paths_custom_list_with_metrics() {
    let exclude = ExcludePaths::new(Some(&["^/api/v1/metrics$".to_owned()])).unwrap();
    assert_eq!(exclude.patterns(), ["^/api/v1/metrics$"], "no duplicate");
    let app = TestApp::with_settings(ApiSettings { exclude_paths: exclude, ..Default::default() });
    assert_eq!(status_without_key(&app, "/api/v1/metrics").await, StatusCode::OK);
    assert_eq!(status_without_key(&app, "/api/v1/health").await, StatusCode::UNAUTHORIZED);
}

crate::on_both_stores! {
async fn a_terminated_agents_keys_may_only_read() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let task = app.task("t").await;
    let key = app.key(Role::Agent, Some(ada));
    // Before: the agent's key writes.
    let r = app.call(Method::POST, "/api/v1/tasks", Some(&key), Some(json!({"title": "mine"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.call(Method::PATCH, &format!("/api/v1/agents/{ada}"), None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .call(Method::PATCH, &format!("/api/v1/agents/{ada}"), Some(&app.admin), Some(json!({"status": "terminated"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let writes: Vec<(Method, String, serde_json::Value)> = vec![
        (Method::POST, "/api/v1/tasks".into(), json!({"title": "after"})),
        (Method::POST, format!("/api/v1/tasks/{task}/transitions"), json!({"to": "cancelled"})),
        (Method::POST, "/api/v1/costs".into(), json!({"agent_id": ada, "provider": "p", "model": "m",
            "input_tokens": 1, "output_tokens": 1, "cost": 0.5})),
        (Method::POST, "/api/v1/security/evaluate".into(), json!({"agent_id": ada, "tool": "fs.read",
            "action_type": "read", "arguments": {}})),
        (Method::POST, "/api/v1/security/scan-output".into(), json!({"agent_id": ada, "output": "ok"})),
        (Method::POST, "/api/v1/coordination/runs".into(), json!({"agents": [ada], "topology": "star",
            "turns_mas": 2, "turns_sas": 1, "success_rate": 1.0})),
        (Method::PATCH, format!("/api/v1/agents/{ada}"), json!({"department": "elsewhere"})),
        (Method::POST, "/api/v1/agents".into(), json!({"name": "bob", "role": "developer"})),
        (Method::PUT, "/api/v1/budget/config".into(), json!({"total_monthly": 5, "reset_day": 1})),
        (Method::POST, "/api/v1/keys".into(), json!({"role": "viewer"})),
        (Method::DELETE, "/api/v1/keys/0123456789abcdef".into(), serde_json::Value::Null),
        (Method::POST, format!("/api/v1/approvals/{task}/decision"), json!({"decision": "approve"})),
    ];
    let tasks_before = app.count("/api/v1/tasks").await;
    for (method, path, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let r = app.call(method.clone(), &path, Some(&key), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {:?}", r.body);
    }
    assert_eq!(app.count("/api/v1/tasks").await, tasks_before, "a write got through");
    // Reading still works.
    let r = app.call(Method::GET, "/api/v1/tasks", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call(Method::POST, "/api/v1/tasks", Some(&key), Some(json!({"title": "again"}))).await;
    assert!(r.message().contains("terminated"), "{:?}", r.body);
}
}

/// Each key has a bucket of `burst` requests refilled at `per_second`: past it a 429 with
/// `Retry-After`, counted by role and route; other keys are not affected.
#[tokio::test]
async fn keys_are_rate_limited_per_role() {
    use synthorg_api::ratelimit::{RateLimit, RateLimits};
    let limits = RateLimits { agent: RateLimit { per_second: 20.0, burst: 3 }, ..RateLimits::default() };
    let app = TestApp::with_settings(synthorg_api::ApiSettings { rate_limits: limits, ..Default::default() });
    let ada = app.agent("ada").await;
    let (one, two) = (app.key(Role::Agent, Some(ada)), app.key(Role::Agent, Some(ada)));
    for _ in 0..3 {
        assert_eq!(app.call(Method::GET, "/api/v1/tasks", Some(&one), None).await.status, StatusCode::OK);
    }
    let refused = app.call(Method::GET, "/api/v1/tasks", Some(&one), None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(refused.message(), "this agent key sent more than 20 requests per second (burst 3); retry in 1 s");
    let resp = tower::ServiceExt::oneshot(
        app.router.clone(),
        axum::http::Request::get("/api/v1/agents")
            .header("authorization", format!("Bearer {one}"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    // Another key of the same agent, and the admin, have buckets of their own.
    assert_eq!(app.call(Method::GET, "/api/v1/tasks", Some(&two), None).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/tasks").await.status, StatusCode::OK);
    // A token is back after 1/20 s.
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert_eq!(app.call(Method::GET, "/api/v1/tasks", Some(&one), None).await.status, StatusCode::OK);

    let (_, _, text) = crate::metrics::scrape(&app, None).await;
    assert_eq!(
        crate::metrics::value(&text, r#"synthorg_http_rate_limited_total{role="agent",route="/api/v1/tasks"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        crate::metrics::value(&text, r#"synthorg_http_rate_limited_total{role="agent",route="/api/v1/agents"}"#),
        Some(1.0)
    );
}

/// A key that may not use a route gets 403 before its body is looked at: never a 422 that
/// would tell it how to shape a request it may not make.
#[tokio::test]
async fn the_role_is_checked_before_the_body() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let agent = app.key(Role::Agent, Some(ada));
    let viewer = app.key(Role::Viewer, None);
    let bad = json!({"unexpected": [1, 2, 3]});
    for (method, path) in [
        (Method::POST, "/api/v1/agents".to_owned()),
        (Method::PUT, "/api/v1/budget/config".to_owned()),
        (Method::POST, format!("/api/v1/approvals/{}/decision", uuid::Uuid::nil())),
        (Method::POST, "/api/v1/keys".to_owned()),
    ] {
        for key in [&agent, &viewer] {
            let r = app.call(method.clone(), &path, Some(key), Some(bad.clone())).await;
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{method} {path}: {:?}", r.body);
        }
        // An admin with the same body gets the body's error.
        let r = app.call(method.clone(), &path, Some(&app.admin), Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {:?}", r.body);
    }
    assert_eq!(app.call(Method::GET, "/api/v1/keys", Some(&agent), None).await.status, StatusCode::FORBIDDEN);
}

/// The key list is paginated like every other list.
#[tokio::test]
async fn keys_are_listed_a_page_at_a_time() {
    let app = TestApp::new();
    for i in 0..4 {
        let r = app.post("/api/v1/keys", json!({"role": "viewer", "label": format!("k{i}")})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let mut labels = Vec::new();
    let mut path = "/api/v1/keys?limit=2".to_owned();
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        labels.extend(items.iter().map(|k| k["label"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // The test app's own admin key first, then the four, in creation order.
    assert_eq!(labels.len(), 5);
    assert_eq!(&labels[1..], ["k0", "k1", "k2", "k3"]);
    assert!(labels.iter().all(|l| !l.contains("sk_")));
    assert_eq!(app.get("/api/v1/keys?limit=0").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/keys?page=2").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}
