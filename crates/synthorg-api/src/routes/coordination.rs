//! `/api/v1/coordination/runs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use synthorg_core::coordination::{CoordinationRun, NewCoordinationRun};
use synthorg_store::{Page, RunFilter};

use super::Caller;
use crate::AppState;
use crate::dto::{ReportRun, RunQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, page_request};

/// Lists coordination runs, oldest first.
#[utoipa::path(get, path = "/api/v1/coordination/runs", operation_id = "listCoordinationRuns", tag = "coordination", params(RunQuery),
    responses((status = 200, body = Page<CoordinationRun>)))]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<Json<Page<CoordinationRun>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = RunFilter { task_id: q.task_id };
    state.page(page.limit, move |s| Ok(Json(s.store().list_coordination_runs(&filter, &page)?))).await
}

/// Reports a multi-agent run; synthorg derives efficiency and overhead. Turn figures ≤ 0
/// are a 422.
#[utoipa::path(post, path = "/api/v1/coordination/runs", operation_id = "reportCoordinationRun", tag = "coordination", request_body = ReportRun,
    responses((status = 201, body = CoordinationRun), (status = 422, body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ReportRun>,
) -> Result<(StatusCode, Json<CoordinationRun>), ApiError> {
    super::record_ids(body.task_id, None);
    let run = NewCoordinationRun {
        task_id: body.task_id,
        agents: body.agents,
        topology: body.topology,
        turns_mas: body.turns_mas,
        turns_sas: body.turns_sas,
        success_rate: body.success_rate,
    };
    Ok((StatusCode::CREATED, Json(state.engine().record_run(&caller, run).await?)))
}
