//! Every route of the API, registered with its OpenAPI description.

mod agents;
mod audit;
mod budget;
mod coordination;
mod costs;
mod health;
mod keys;
mod metrics;
mod overview;
mod security;
mod tasks;

use axum::Extension;
use synthorg_core::Actor;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::openapi::ApiDoc;

/// Puts the task and agent a request works on onto its span, so every event of the request
/// carries them.
pub(crate) fn record_ids(task: Option<uuid::Uuid>, agent: Option<uuid::Uuid>) {
    let span = tracing::Span::current();
    if let Some(task) = task {
        span.record("task_id", tracing::field::display(task));
    }
    if let Some(agent) = agent {
        span.record("agent_id", tracing::field::display(agent));
    }
}

/// The authenticated caller, put there by [`crate::auth::require_key`].
pub(crate) type Caller = Extension<Actor>;

/// The router with every route; `split_for_parts` yields the axum router and the document.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::openapi_json))
        .routes(routes!(metrics::scrape))
        .routes(routes!(agents::list))
        .routes(routes!(agents::get, agents::patch))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::history, tasks::transition))
        .routes(routes!(costs::list, costs::report))
        .routes(routes!(costs::prices))
        .routes(routes!(budget::get_config))
        .routes(routes!(budget::status))
        .routes(routes!(budget::remaining))
        .routes(routes!(budget::list_reservations, budget::create_reservation))
        .routes(routes!(budget::release_reservation))
        .routes(routes!(coordination::list, coordination::report))
        .routes(routes!(security::evaluate))
        .routes(routes!(security::scan))
        .routes(routes!(security::list_evaluations))
        .routes(routes!(security::list_approvals))
        .routes(routes!(security::get_approval))
        .routes(routes!(keys::current))
        .routes(routes!(audit::list))
        .routes(routes!(audit::head))
        .routes(routes!(overview::get))
        .merge(admin_routes())
}

/// The routes of operations only admins may use: the engine's rule is applied to them before
/// the body is read ([`crate::auth::admin_only`]).
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agents::create))
        .routes(routes!(budget::put_config))
        .routes(routes!(security::decide))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .route_layer(axum::middleware::from_fn(crate::auth::admin_only))
}
