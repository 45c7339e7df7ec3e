//! The OpenAPI document: metadata and the bearer security scheme. Paths and schemas come
//! from the `#[utoipa::path]` annotations of the handlers, registered together with their
//! routes, so the document cannot list a route the router lacks or miss one it has.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "synthorg",
        description = "Control plane for organizations of AI agents: agents, tasks, costs, budget, coordination and security verdicts.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health"), (name = "agents"), (name = "tasks"), (name = "costs"), (name = "budget"),
        (name = "coordination"), (name = "security"), (name = "approvals"), (name = "keys"), (name = "meta"),
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

/// Adds the answers every operation of a kind can give, which the handlers' annotations
/// leave out because the middleware and extractors give them: 401, 403 and 429 where a key
/// is needed; 400, 413, 415 and 422 where a body is read; 422 where a query string is; 400
/// where a path id is parsed; 500 and 503 everywhere (a bug, a timeout, the store away).
pub(crate) fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::HttpMethod;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build()
    };
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
