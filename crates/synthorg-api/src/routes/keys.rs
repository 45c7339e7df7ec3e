//! `/api/v1/keys`: API key management (admin).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::Caller;
use crate::AppState;
use crate::dto::{CreateKey, CreateKeySchema, CreatedKey, CurrentKey, KeyInfo, KeyList, PageQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Audited, page_request};

/// Lists keys without their secrets (admin).
#[utoipa::path(get, path = "/api/v1/keys", operation_id = "listKeys", tag = "keys", params(PageQuery),
    responses((status = 200, body = KeyList), (status = 403, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let keys = state.engine().keys(&caller, page).await?;
    Ok(Json(KeyList { items: keys.items.iter().map(KeyInfo::from).collect(), next_cursor: keys.next_cursor }))
}

/// The key making this request: its id and role (and agent, for an agent key). Any key; the
/// console uses it to know what to show.
#[utoipa::path(get, path = "/api/v1/keys/current", operation_id = "getCurrentKey", tag = "keys",
    responses((status = 200, body = CurrentKey)))]
pub(super) async fn current(caller: Caller) -> Result<Json<CurrentKey>, ApiError> {
    let (id, role) = caller.key().ok_or_else(|| ApiError::forbidden("no API key"))?;
    Ok(Json(CurrentKey { id: id.to_owned(), role, agent_id: caller.agent_id() }))
}

/// Creates a key (admin). The key is in this response only.
#[utoipa::path(post, path = "/api/v1/keys", operation_id = "createKey", tag = "keys", request_body = CreateKeySchema,
    responses((status = 201, body = CreatedKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let new = state.engine().create_key(&caller, audit.0, body.role, body.agent_id, body.label).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { info: KeyInfo::from(&new.record), key: new.key })))
}

/// Revokes a key (admin); revoking twice is harmless.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", operation_id = "revokeKey", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyInfo), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    Path(id): Path<String>,
) -> Result<Json<KeyInfo>, ApiError> {
    Ok(Json(KeyInfo::from(&state.engine().revoke_key(&caller, audit.0, id).await?)))
}
