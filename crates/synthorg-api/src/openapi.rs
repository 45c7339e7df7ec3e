//! The OpenAPI document: metadata and the bearer security scheme. Paths and schemas come
//! from the `#[utoipa::path]` annotations of the handlers, registered together with their
//! routes, so the document cannot list a route the router lacks or miss one it has.

use synthorg_core::security::names;
use utoipa::openapi::schema::ArrayItems;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "synthorg",
        description = "Control plane for organizations of AI agents: agents, tasks, costs, budget, coordination and security verdicts.",
    ),
    modifiers(&BearerAuth),
    // Used by query parameters only, which utoipa does not collect.
    components(schemas(crate::dto::Order)),
    security(("bearer" = [])),
    tags(
        (name = "health"), (name = "agents"), (name = "tasks"), (name = "costs"), (name = "budget"),
        (name = "coordination"), (name = "security"), (name = "approvals"), (name = "keys"), (name = "audit"), (name = "meta"),
    ),
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The `pattern` a one-line text field is annotated with (`#[schema(pattern = VISIBLE)]` takes
/// only a literal, hence these markers); [`complete`] replaces it with
/// [`names::visible_line_pattern`], the regular expression of the very rule the server applies.
pub(crate) const VISIBLE: &str = "<visible>";
/// As [`VISIBLE`], and not only white space.
pub(crate) const VISIBLE_NON_BLANK: &str = "<visible, non-blank>";

/// Replaces the [`VISIBLE`] markers in `schema` and every schema within it.
fn resolve_patterns(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            match object.pattern.as_deref() {
                Some(VISIBLE) => object.pattern = Some(names::visible_line_pattern(false)),
                Some(VISIBLE_NON_BLANK) => object.pattern = Some(names::visible_line_pattern(true)),
                _ => {}
            }
            object.properties.values_mut().for_each(resolve_patterns);
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                resolve_patterns(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(resolve_patterns),
        Schema::AllOf(all) => all.items.iter_mut().for_each(resolve_patterns),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(resolve_patterns),
        _ => {}
    }
}

/// The operations a created entity's id leads to, as OpenAPI links: `(path, method, status,
/// link name, target operationId, the response field that is the target's `id`)`. A client
/// generator or a stateful tester follows them from the answer to the next call.
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("/api/v1/agents", "post", "201", "GetAgent", "getAgent", "id"),
    ("/api/v1/agents", "post", "201", "UpdateAgent", "updateAgent", "id"),
    ("/api/v1/tasks", "post", "201", "GetTask", "getTask", "id"),
    ("/api/v1/tasks", "post", "201", "TransitionTask", "transitionTask", "id"),
    ("/api/v1/tasks", "post", "201", "ListTaskTransitions", "listTaskTransitions", "id"),
    ("/api/v1/security/evaluate", "post", "200", "GetApproval", "getApproval", "approval_id"),
    ("/api/v1/security/evaluate", "post", "200", "DecideApproval", "decideApproval", "approval_id"),
    ("/api/v1/keys", "post", "201", "RevokeKey", "revokeKey", "id"),
];

/// The document as served: the completed typed document with the [`LINKS`] added. (They are
/// added to the JSON because utoipa 5 spells a link's `operationId` as `operation_id`.)
pub(crate) fn served(mut doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    complete(&mut doc);
    let mut value = serde_json::to_value(&doc).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    for &(path, method, status, name, target, field) in LINKS {
        if let Some(response) =
            value.pointer_mut(&format!("/paths/{}/{method}/responses/{status}", path.replace('/', "~1")))
        {
            response["links"][name] = serde_json::json!({
                "operationId": target,
                "parameters": { "id": format!("$response.body#/{field}") },
            });
        }
    }
    // utoipa wraps a referenced object with a default in a one-item `oneOf` carrying the
    // whole default object; client generators cannot model a default for an object-typed
    // property. The referenced schema's fields carry their own defaults, so the property
    // becomes the plain reference.
    if let Some(schemas) = value.pointer_mut("/components/schemas").and_then(|s| s.as_object_mut()) {
        for property in
            schemas.values_mut().filter_map(|s| s.get_mut("properties")?.as_object_mut()).flat_map(|p| p.values_mut())
        {
            let single_ref =
                property["oneOf"].as_array().filter(|items| items.len() == 1).map(|items| items[0].clone());
            if let (Some(reference), Some(_)) = (single_ref, property.get("default")) {
                *property = reference;
            }
        }
        // utoipa inlines the item type of a generic `Page<T>`; a reference to the component
        // lets a generated client use one `Agent` class for a page's items and a single agent.
        let named: Vec<(String, serde_json::Value)> = schemas
            .iter()
            .filter(|(name, _)| !name.starts_with("Page_"))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        for (_, page) in schemas.iter_mut().filter(|(name, _)| name.starts_with("Page_")) {
            if let Some(item) = page.pointer_mut("/properties/items/items")
                && let Some((name, _)) = named.iter().find(|(_, schema)| schema == item)
            {
                *item = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
            }
        }
    }
    value
}

/// Resolves the [`VISIBLE`] markers and adds the answers every operation of a kind can give,
/// which the handlers' annotations leave out because the middleware and extractors give
/// them: 401, 403 and 429 where a key is needed; 400, 413, 415 and 422 where a body is read;
/// 422 where a query string is; 400 where a path id is parsed; 500 and 503 everywhere (a bug,
/// a timeout, the store away).
fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::HttpMethod;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build()
    };
    if let Some(components) = doc.components.as_mut() {
        components.schemas.values_mut().for_each(resolve_patterns);
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for method in [HttpMethod::Get, HttpMethod::Post, HttpMethod::Put, HttpMethod::Patch, HttpMethod::Delete] {
            let operation = match method {
                HttpMethod::Get => item.get.as_mut(),
                HttpMethod::Post => item.post.as_mut(),
                HttpMethod::Put => item.put.as_mut(),
                HttpMethod::Patch => item.patch.as_mut(),
                HttpMethod::Delete => item.delete.as_mut(),
                _ => None,
            };
            let Some(op) = operation else { continue };
            for parameter in op.parameters.iter_mut().flatten() {
                if let Some(schema) = parameter.schema.as_mut() {
                    resolve_patterns(schema);
                }
            }
            // `security(())` (no key needed) serializes as one empty requirement.
            let keyless = op
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({}))));
            let has_body = op.request_body.is_some();
            let has_query =
                op.parameters.iter().flatten().any(|p| serde_json::to_value(p).is_ok_and(|v| v["in"] == "query"));
            let mut add = |status: &str, description: &str| {
                op.responses.responses.entry(status.to_owned()).or_insert_with(|| error(description).into());
            };
            if !keyless {
                add("401", "No key, or an unknown, wrong or revoked one");
                add("403", "The key's role or agent may not do this");
                add("429", "The key exceeded its role's request rate; Retry-After says when to retry");
            }
            if has_body {
                add("400", "Malformed JSON");
                add("413", "Body over 1 MiB");
                add("415", "Content-Type is not application/json");
                add("422", "A field is invalid (the message names it)");
            }
            if has_query {
                add("422", "A query parameter is unknown or invalid (the message names it)");
            }
            if path.contains('{') {
                add("400", "A path id is malformed");
                add("404", "No such entity");
            }
            add("500", "A bug; details are in the server log");
            add("503", "The store is unavailable, or the request ran past server.request_timeout");
        }
    }
}
