//! `/api/v1/audit`: the audit trail and its head (admin and viewer keys).

use axum::Json;
use axum::extract::State;
use synthorg_core::audit::{AuditEvent, AuditHead};
use synthorg_store::{AuditFilter, Page};

use super::Caller;
use crate::AppState;
use crate::dto::AuditQuery;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, page_request};

/// The trail names every key's changes: agent keys may not read it.
fn require_overseer(caller: &Caller) -> Result<(), ApiError> {
    match caller.agent_id() {
        Some(_) => Err(ApiError::forbidden("the audit trail needs an admin or viewer key")),
        None => Ok(()),
    }
}

/// Audit events in chain order: every change made with authority and every security
/// verdict, each with its `hash` and the `prev_hash` that links it to the one before.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "listAudit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEvent>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    require_overseer(&caller)?;
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    // An empty window (`until` before `since`) is an empty page, as with every list.
    let filter =
        AuditFilter { actor: q.actor, action: q.action, target_id: q.target_id, since: q.since, until: q.until };
    state.page(page.limit, move |s| Ok(Json(s.store().list_audit(&filter, &page)?))).await
}

/// The chain's head: its last event's `seq` and `hash` (`0` and 64 zeros when empty). Hold it
/// outside synthorg to catch a truncated and re-hashed tail (`synthorg audit verify --head`).
#[utoipa::path(get, path = "/api/v1/audit/head", operation_id = "getAuditHead", tag = "audit",
    responses((status = 200, body = AuditHead), (status = 403, body = ErrorBody)))]
pub(super) async fn head(State(state): State<AppState>, caller: Caller) -> Result<Json<AuditHead>, ApiError> {
    require_overseer(&caller)?;
    state.read(|s| Ok(Json(s.store().audit_head()?))).await
}
