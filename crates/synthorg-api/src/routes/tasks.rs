//! `/api/v1/tasks` and their transitions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use synthorg_core::task::{NewTask, Task, TaskTransition, TransitionRequest};
use synthorg_store::{Page, TaskFilter};

use super::Caller;
use crate::AppState;
use crate::dto::{CreateTask, PageQuery, TaskQuery, TransitionBody, TransitionResult};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiId, ApiJson, ApiQuery, page_request};

/// Lists tasks, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks", operation_id = "listTasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = Page<Task>), (status = 422, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = TaskFilter {
        status: q.status,
        assigned_to: q.assigned_to,
        unassigned: q.unassigned.unwrap_or(false),
        parent_id: q.parent_id,
    };
    state.page(page.limit, move |s| Ok(Json(s.store().list_tasks(&filter, &page)?))).await
}

/// Creates a task (status `created`, unassigned).
#[utoipa::path(post, path = "/api/v1/tasks", operation_id = "createTask", tag = "tasks", request_body = CreateTask,
    responses((status = 201, body = Task), (status = 422, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let task = NewTask { title: body.title, description: body.description, parent_id: body.parent_id };
    Ok((StatusCode::CREATED, Json(state.engine().create_task(&caller, task).await?)))
}

/// One task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", operation_id = "getTask", tag = "tasks", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
pub(super) async fn get(State(state): State<AppState>, ApiId(id): ApiId) -> Result<Json<Task>, ApiError> {
    super::record_ids(Some(id), None);
    state.read(move |s| Ok(Json(s.store().get_task(id)?))).await
}

/// The task's transition history, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/transitions", operation_id = "listTaskTransitions", tag = "tasks",
    params(("id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<TaskTransition>), (status = 404, body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    ApiId(id): ApiId,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<TaskTransition>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    state.page(page.limit, move |s| Ok(Json(s.store().task_history(id, &page)?))).await
}

/// Moves a task. Illegal transitions and stale versions are 409s; the message of an illegal
/// transition lists the allowed next states.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/transitions", operation_id = "transitionTask", tag = "tasks", params(("id" = uuid::Uuid, Path)),
    request_body = TransitionBody,
    responses((status = 200, body = TransitionResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    ApiId(id): ApiId,
    ApiJson(body): ApiJson<TransitionBody>,
) -> Result<Json<TransitionResult>, ApiError> {
    super::record_ids(Some(id), None);
    let request = TransitionRequest {
        to: body.to,
        assigned_to: body.assigned_to,
        expected_version: body.expected_version,
        reason: body.reason,
    };
    let (task, transition) = state.engine().transition_task(&caller, id, request).await?;
    super::record_ids(None, task.assigned_to);
    Ok(Json(TransitionResult { task, transition }))
}
