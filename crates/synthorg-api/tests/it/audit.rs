//! The audit trail through the API: every change route writes exactly one event (the others
//! none), with the request's ids; the trail is readable by admin and viewer keys only.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use synthorg_core::Role;

use crate::{TestApp, blocking, on_both_stores};

/// A request (method, path, body, key; the admin's when none) and the action it writes, if any.
type Step = (Method, String, Option<Value>, Option<String>, Option<&'static str>);

async fn head(app: &TestApp) -> i64 {
    let r = app.get("/api/v1/audit/head").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["seq"].as_i64().unwrap()
}

on_both_stores! {
    async fn every_change_route_writes_exactly_one_event() {
        let app = TestApp::new();
        let admin_id = app.admin.split('_').nth(1).unwrap().to_owned();
        let agent = app.agent("ada").await;
        let task = app.task("audited").await;
        let agent_key = app.key(Role::Agent, Some(agent));

        // (method, path, body, key, the action written; None: the route writes no event)
        let mut steps: Vec<Step> = vec![
            (Method::POST, "/api/v1/agents".into(), Some(json!({"name": "bob", "role": "dev"})), None, Some("agent.registered")),
            (Method::PATCH, format!("/api/v1/agents/{agent}"), Some(json!({"trust_level": "elevated"})), None, Some("agent.updated")),
            (Method::PATCH, format!("/api/v1/agents/{agent}"), Some(json!({"department": "ops"})), Some(agent_key.clone()), Some("agent.updated")),
            (Method::PUT, "/api/v1/budget/config".into(), Some(json!({"total_monthly": 100, "reset_day": 1})), None, Some("budget.configured")),
            (Method::POST, "/api/v1/keys".into(), Some(json!({"role": "viewer", "label": "x"})), None, Some("key.created")),
            (Method::POST, "/api/v1/security/evaluate".into(), Some(json!({"agent_id": agent, "tool": "db", "action_type": "query", "arguments": {"sql": "DROP TABLE users"}})), None, Some("security.verdict")),
            (Method::POST, "/api/v1/security/scan-output".into(), Some(json!({"output": "nothing to see"})), Some(agent_key.clone()), Some("security.output_scanned")),
            (Method::POST, format!("/api/v1/tasks/{task}/transitions"), Some(json!({"to": "assigned", "assigned_to": agent})), None, None),
            (Method::POST, "/api/v1/tasks".into(), Some(json!({"title": "t"})), None, None),
            (Method::POST, "/api/v1/costs".into(), Some(json!({"agent_id": agent, "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": 0.01})), None, None),
            (Method::POST, "/api/v1/budget/reservations".into(), Some(json!({"agent_id": agent, "amount": 0.01})), None, None),
            (Method::POST, "/api/v1/coordination/runs".into(), Some(json!({"agents": [agent], "topology": "pipeline", "turns_mas": 2, "turns_sas": 1, "success_rate": 1})), None, None),
        ];
        let mut last = head(&app).await;
        let mut created_key = None;
        let mut approval = None;
        for (method, path, body, key, action) in steps.drain(..) {
            let key = key.unwrap_or_else(|| app.admin.clone());
            let r = app.call(method.clone(), &path, Some(&key), body).await;
            assert!(r.status.is_success(), "{method} {path}: {} {:?}", r.status, r.body);
            if path == "/api/v1/keys" {
                created_key = r.body["id"].as_str().map(str::to_owned);
            }
            if let Some(a) = r.body["approval_id"].as_str() {
                approval = Some(a.to_owned());
            }
            let now = head(&app).await;
            let expected = i64::from(action.is_some());
            assert_eq!(now - last, expected, "{method} {path} wrote {} events", now - last);
            if let Some(action) = action {
                let events = app.get(&format!("/api/v1/audit?limit=1000&cursor={last}")).await;
                let event = &events.body["items"][0];
                assert_eq!(event["action"], action, "{method} {path}");
                assert_eq!(event["seq"], now);
                let request_id = r.headers["x-request-id"].to_str().unwrap();
                assert_eq!(event["request_id"], request_id, "{method} {path}: the request's id");
                assert_eq!(event["trace_id"].as_str().map(str::len), Some(32));
                let key_id = key.split('_').nth(1).unwrap();
                assert_eq!(event["actor"], format!("key:{key_id}"));
            }
            last = now;
        }

        // The escalation's decision, then the key's revocation (once: the second is a no-op).
        let approval = approval.expect("the DROP TABLE verdict escalated");
        let r = app.post(&format!("/api/v1/approvals/{approval}/decision"), json!({"decision": "reject", "note": "no"})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let key = created_key.unwrap();
        for _ in 0..2 {
            let r = app.call(Method::DELETE, &format!("/api/v1/keys/{key}"), Some(&app.admin), None).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
        let r = app.call(Method::PATCH, &format!("/api/v1/agents/{agent}"), Some(&app.admin), Some(json!({"status": "terminated"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let tail = app.get(&format!("/api/v1/audit?cursor={last}")).await;
        let actions: Vec<&str> = tail.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["approval.decided", "key.revoked", "agent.terminated"]);
        let decided = &tail.body["items"][0];
        assert_eq!(decided["before"]["status"], "pending");
        assert_eq!((decided["after"]["status"].as_str(), decided["after"]["decision_note"].as_str()), (Some("rejected"), Some("no")));
        assert_eq!(tail.body["items"][2]["after"]["status"], "terminated");

        // Refused changes write nothing.
        let before = head(&app).await;
        let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(json!({"total_monthly": -1}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = app.post("/api/v1/agents", json!({"name": "ADA", "role": "dev"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = app.post(&format!("/api/v1/approvals/{approval}/decision"), json!({"decision": "approve"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(head(&app).await, before);

        // The whole chain verifies, and the API's head is the store's.
        let store = app.store.clone();
        let verified = blocking(move || synthorg_store::verify_chain(store.as_ref(), None, |_| {}).unwrap());
        assert_eq!(verified.map(|h| h.seq), Ok(before));
        let filtered = app.get(&format!("/api/v1/audit?actor=key:{admin_id}&action=budget.configured")).await;
        assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
        let by_target = app.get(&format!("/api/v1/audit?target_id={key}")).await;
        assert_eq!(by_target.body["items"].as_array().unwrap().len(), 2, "created and revoked");
    }
}

on_both_stores! {
    async fn the_trail_is_for_admin_and_viewer_keys() {
        let app = TestApp::new();
        let agent = app.agent("ada").await;
        let viewer = app.key(Role::Viewer, None);
        let agent_key = app.key(Role::Agent, Some(agent));
        for path in ["/api/v1/audit", "/api/v1/audit/head"] {
            let r = app.call(Method::GET, path, Some(&viewer), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
            let r = app.call(Method::GET, path, Some(&agent_key), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            let r = app.call(Method::GET, path, None, None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        let head = app.get("/api/v1/audit/head").await;
        let items = app.get("/api/v1/audit?limit=1000").await;
        let last = items.body["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((head.body["seq"].clone(), head.body["hash"].clone()), (last["seq"].clone(), last["hash"].clone()));
        assert_eq!(last["action"], "key.created", "the agent key, last");
        let registered = app.get(&format!("/api/v1/audit?target_id={agent}")).await;
        assert_eq!(registered.body["items"][0]["action"], "agent.registered");
        assert_eq!(registered.body["items"][0]["after"]["name"], "ada");

        let empty = app.get("/api/v1/audit?since=2026-12-05T10:00:00Z&until=2026-12-04T10:00:00Z").await;
        assert_eq!((empty.status, empty.body["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
        for (query, field) in [
            ("action=agent.renamed", "action"),
            ("since=yesterday", "since"),
            ("cursor=abc", "cursor"),
            ("colour=red", "colour"),
        ] {
            let r = app.get(&format!("/api/v1/audit?{query}")).await;
            assert!(r.status.is_client_error(), "{query}: {}", r.status);
            assert!(r.message().contains(field) || r.body["error"]["field"] == field, "{query}: {:?}", r.body);
        }
    }
}

on_both_stores! {
    async fn shadow_mode_records_verdicts_it_does_not_enforce() {
        let settings = synthorg_api::ApiSettings {
            security_mode: synthorg_core::security::SecurityMode::Shadow,
            ..Default::default()
        };
        let app = TestApp::with_settings(settings);
        let agent = app.agent("ada").await;
        let drop = json!({"agent_id": agent, "tool": "db", "action_type": "query", "arguments": {"sql": "DROP TABLE users"}});
        let secret = json!({"agent_id": agent, "tool": "http", "action_type": "query", "arguments": {"auth": "AKIAIOSFODNN7EXAMPLE"}});
        let read = json!({"agent_id": agent, "tool": "fs", "action_type": "read", "arguments": {"path": "README"}});
        for (body, policy) in [(drop, "escalate"), (secret, "deny"), (read, "allow")] {
            let r = app.post("/api/v1/security/evaluate", body).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            assert_eq!(r.body["verdict"], "allow", "the answer allows: {:?}", r.body);
            assert_eq!(r.body["policy_verdict"], policy);
            assert_eq!(r.body["mode"], "shadow");
            assert_eq!(r.body["approval_id"], Value::Null, "no approval is opened");
            let event = app.get("/api/v1/audit?action=security.verdict&limit=1000").await;
            let last = event.body["items"].as_array().unwrap().last().unwrap().clone();
            assert_eq!((last["after"]["verdict"].as_str(), last["after"]["action"].as_str()), (Some(policy), Some("allow")));
        }
        let records = app.get("/api/v1/security/evaluations").await;
        let pairs: Vec<(String, String)> = records.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["verdict"].as_str().unwrap().to_owned(), r["action"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [("escalate", "allow"), ("deny", "allow"), ("allow", "allow")].map(|(v, a)| (v.to_owned(), a.to_owned()));
        assert_eq!(pairs, expected);
        assert_eq!(app.count("/api/v1/approvals").await, 0);
        let metrics = app.call(Method::GET, "/api/v1/metrics", None, None).await;
        let text = metrics.body.as_str().unwrap_or_default().to_owned();
        for series in [
            r#"synthorg_security_evaluations_total{verdict="escalate",action="allow"} 1"#,
            r#"synthorg_security_evaluations_total{verdict="deny",action="allow"} 1"#,
            r#"synthorg_security_evaluations_total{verdict="deny",action="deny"} 0"#,
        ] {
            assert!(text.contains(series), "{series} in:\n{text}");
        }

        // The budget is enforced in shadow mode too: a hold that does not fit denies.
        let r = app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(json!({"total_monthly": 1, "reset_day": 1}))).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let reserve = json!({"agent_id": agent, "tool": "fs", "action_type": "read", "arguments": {}, "reserve": {"amount": 5}});
        let r = app.post("/api/v1/security/evaluate", reserve).await;
        assert_eq!((r.body["verdict"].as_str(), r.body["policy_verdict"].as_str()), (Some("deny"), Some("deny")), "{:?}", r.body);
    }
}
