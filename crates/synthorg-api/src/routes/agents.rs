//! `/api/v1/agents`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use synthorg_core::agent::{Agent, AgentPatch, NewAgent};
use synthorg_store::{AgentFilter, Page};

use super::Caller;
use crate::AppState;
use crate::dto::{AgentQuery, CreateAgent, PatchAgent};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiId, ApiJson, ApiQuery, Audited, page_request};

/// Lists agents, oldest first.
#[utoipa::path(get, path = "/api/v1/agents", operation_id = "listAgents", tag = "agents", params(AgentQuery),
    responses((status = 200, body = Page<Agent>), (status = 422, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AgentQuery>,
) -> Result<Json<Page<Agent>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = AgentFilter { status: q.status, trust_level: q.trust_level, role: q.role, department: q.department };
    state.page(page.limit, move |s| Ok(Json(s.store().list_agents(&filter, &page)?))).await
}

/// Registers an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents", operation_id = "registerAgent", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = Agent), (status = 409, description = "name taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let agent = NewAgent {
        name: body.name,
        role: body.role,
        department: body.department,
        status: body.status,
        trust_level: body.trust_level,
        allowed_tools: body.allowed_tools,
        denied_tools: body.denied_tools,
    };
    let agent = state.engine().register_agent(&caller, audit.0, agent).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", operation_id = "getAgent", tag = "agents", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
pub(super) async fn get(State(state): State<AppState>, ApiId(id): ApiId) -> Result<Json<Agent>, ApiError> {
    super::record_ids(None, Some(id));
    state.read(move |s| Ok(Json(s.store().get_agent(id)?))).await
}

/// Changes an agent. Trust level and tool lists: admin only. Terminating interrupts the
/// agent's active tasks; a terminated agent cannot change again.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", operation_id = "updateAgent", tag = "agents", params(("id" = uuid::Uuid, Path)),
    request_body = PatchAgent,
    responses((status = 200, body = Agent), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiId(id): ApiId,
    ApiJson(body): ApiJson<PatchAgent>,
) -> Result<Json<Agent>, ApiError> {
    super::record_ids(None, Some(id));
    let patch = AgentPatch {
        role: body.role,
        department: body.department,
        status: body.status,
        trust_level: body.trust_level,
        allowed_tools: body.allowed_tools,
        denied_tools: body.denied_tools,
    };
    Ok(Json(state.engine().update_agent(&caller, audit.0, id, patch).await?))
}
