//! The OpenAPI document is true to the router and to docs/api.md.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use uuid::Uuid;

use crate::TestApp;

fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = synthorg_api::openapi_document();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Every documented operation is routed: it never gets the router's "no route" 404 or a 405.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::new();
    let ops = documented_operations();
    assert!(ops.len() >= 25, "{ops:?}");
    for (method, path) in ops {
        let concrete = path.replace("{id}", &Uuid::now_v7().to_string());
        let method: Method = method.parse().unwrap();
        let r = app.call(method.clone(), &concrete, Some(&app.admin), None).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(!r.message().starts_with("no route"), "{method} {path}: {:?}", r.body);
    }
}

/// The served document equals the generated one, and every route of the router appears in
/// the operator docs' table (docs/api.md) and vice versa.
#[tokio::test]
async fn served_document_and_docs_agree() {
    let app = TestApp::new();
    let served = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, synthorg_api::openapi_document());
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let table: BTreeSet<(String, String)> = docs
        .lines()
        .filter_map(|line| {
            let cells: Vec<_> = line.split('|').map(str::trim).collect();
            let method = cells.get(1)?.trim_matches('`');
            let path = cells.get(2)?.trim_matches('`');
            (["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) && path.starts_with("/api/v1"))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect();
    let ops = documented_operations();
    let undocumented: Vec<_> = ops.difference(&table).collect();
    let stale: Vec<_> = table.difference(&ops).collect();
    assert!(undocumented.is_empty(), "routes missing from docs/api.md: {undocumented:?}");
    assert!(stale.is_empty(), "docs/api.md lists routes the router lacks: {stale:?}");
}

/// Every enum the document describes lists the values the API speaks (snake_case wire
/// spellings), not the Rust variant names: a generated client validates against them.
#[test]
fn enums_list_the_wire_spellings() {
    use synthorg_core::agent::{AgentStatus, TrustLevel};
    use synthorg_core::budget::AlertLevel;
    use synthorg_core::cost::{CallCategory, CostSource};
    use synthorg_core::security::{ApprovalStatus, Decision, RiskLevel, Verdict};
    use synthorg_core::task::TaskStatus;

    fn wire<T: serde::Serialize>(all: &[T]) -> Vec<serde_json::Value> {
        all.iter().map(|v| serde_json::to_value(v).unwrap()).collect()
    }
    let doc = synthorg_api::openapi_document();
    let schemas = &doc["components"]["schemas"];
    for (name, expected) in [
        ("Role", wire(synthorg_core::Role::ALL)),
        ("AgentStatus", wire(AgentStatus::ALL)),
        ("TrustLevel", wire(TrustLevel::ALL)),
        ("AlertLevel", wire(AlertLevel::ALL)),
        ("CallCategory", wire(CallCategory::ALL)),
        ("CostSource", wire(CostSource::ALL)),
        ("Verdict", wire(Verdict::ALL)),
        ("RiskLevel", wire(RiskLevel::ALL)),
        ("TaskStatus", wire(TaskStatus::ALL)),
        ("ApprovalStatus", wire(ApprovalStatus::ALL)),
        ("Decision", wire(Decision::ALL)),
        ("Order", vec![serde_json::json!("asc"), serde_json::json!("desc")]),
    ] {
        assert_eq!(schemas[name]["enum"].as_array(), Some(&expected), "{name}");
    }
}

/// Every operation has a unique operationId, and lists the answers its middleware and
/// extractors can give besides its own.
#[test]
fn operations_are_named_once_and_list_their_answers() {
    let doc = synthorg_api::openapi_document();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} repeats ({method} {path})");
            assert!(id.chars().next().unwrap().is_ascii_lowercase() && id.len() > 5, "{id}");
            let statuses: BTreeSet<&str> = op["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            let keyless = ["/api/v1/health", "/api/v1/health/ready", "/api/v1/openapi.json", "/api/v1/metrics"]
                .contains(&path.as_str());
            let mut expected = vec!["500", "503"];
            if !keyless {
                expected.extend(["401", "403", "429"]);
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if path.contains('{') {
                expected.extend(["400", "404"]);
            }
            for status in expected {
                assert!(statuses.contains(status), "{method} {path} lacks {status}: {statuses:?}");
                // Error bodies are described: JSON errors everywhere but the scrape endpoint
                // (plain text, for scrapers) and readiness (its own report).
                let content = &op["responses"][status]["content"];
                let schema = &content["application/json"]["schema"]["$ref"];
                assert!(
                    schema == "#/components/schemas/ErrorBody"
                        || (path == "/api/v1/metrics" && content.get("text/plain").is_some())
                        || (path.as_str(), status) == ("/api/v1/health/ready", "503"),
                    "{method} {path} {status}: {content}"
                );
            }
        }
    }
    assert_eq!(ids.len(), 38);
}

/// Every link leads from a created entity to an operation that exists and takes its `id`;
/// one-line text fields carry the server's own character rule, not the marker it replaces.
#[test]
fn links_resolve_and_text_fields_state_the_character_rule() {
    let doc = synthorg_api::openapi_document();
    let mut ids = BTreeSet::new();
    let mut links = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            ids.insert(op["operationId"].as_str().unwrap().to_owned());
            for response in op["responses"].as_object().unwrap().values() {
                for link in response.get("links").and_then(|l| l.as_object()).into_iter().flat_map(|l| l.values()) {
                    links.push(link.clone());
                }
            }
        }
    }
    assert_eq!(links.len(), 8, "{links:?}");
    for link in &links {
        assert!(ids.contains(link["operationId"].as_str().unwrap()), "{link}");
        assert!(link["parameters"]["id"].as_str().unwrap().starts_with("$response.body#/"), "{link}");
        assert!(link.get("operation_id").is_none(), "{link}");
    }

    let text = doc.to_string();
    assert!(!text.contains("<visible"), "a pattern marker was not replaced");
    let visible = synthorg_core::security::names::visible_line_pattern(true);
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("CreateAgent", "name"),
        ("CreateAgent", "role"),
        ("CreateTask", "title"),
        ("ReportCost", "provider"),
        ("ReportCost", "model"),
        ("ReportRun", "topology"),
        ("EvaluateAction", "tool"),
        ("EvaluateAction", "action_type"),
    ] {
        assert_eq!(schemas[schema]["properties"][field]["pattern"], visible.as_str(), "{schema}.{field}");
    }
    assert_eq!(schemas["ToolName"]["pattern"], visible.as_str());
    assert_eq!(
        schemas["CreateAgent"]["properties"]["department"]["pattern"],
        synthorg_core::security::names::visible_line_pattern(false).as_str()
    );
}
