//! `/api/v1/keys`: API key management (admin).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use synthorg_core::event::Event;
use synthorg_store::{Done, now};

use super::Caller;
use crate::AppState;
use crate::auth::{generate_key, require_admin};
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
    require_admin(&caller)?;
    let page = page_request(q.limit, q.cursor.as_deref())?;
    state
        .blocking(move |s| {
            let keys = s.store().list_api_keys(&page)?;
            Ok(Json(KeyList { items: keys.items.iter().map(KeyInfo::from).collect(), next_cursor: keys.next_cursor }))
        })
        .await
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
    require_admin(&caller)?;
    let new = generate_key(body.role, body.agent_id, body.label, now())?;
    state
        .write(move |s| {
            s.store().create_api_key(&new.record, &audit.0)?;
            let event = Event::KeyCreated { key_id: new.record.id.clone(), role: new.record.role, by: caller.label() };
            let created = CreatedKey { info: KeyInfo::from(&new.record), key: new.key };
            Ok(Done::with((StatusCode::CREATED, Json(created)), std::iter::once(event).chain(audit.events())))
        })
        .await
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
    require_admin(&caller)?;
    state
        .write(move |s| {
            let record = s.store().revoke_api_key(&id, now(), &audit.0)?;
            // A second revocation changed nothing: no audit event, no log line.
            let events: Vec<Event> = audit.events().collect();
            let revoked =
                (!events.is_empty()).then(|| Event::KeyRevoked { key_id: record.id.clone(), by: caller.label() });
            Ok(Done::with(Json(KeyInfo::from(&record)), revoked.into_iter().chain(events)))
        })
        .await
}
