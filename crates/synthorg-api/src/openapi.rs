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
