//! `/api/v1/security` (verdicts, output scans, audit) and `/api/v1/approvals`.

use axum::Json;
use axum::extract::State;
use synthorg_core::security::{Approval, DecisionRequest, OutputScan, SecurityAction};
use synthorg_store::{ApprovalFilter, EvaluationFilter, EvaluationRecord, Page};

use super::Caller;
use crate::AppState;
use crate::dto::{ApprovalQuery, DecideApproval, EvaluateAction, EvaluationQuery, EvaluationResult, ScanOutput};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiId, ApiJson, ApiQuery, Audited, page_request};

/// Asks for a verdict on an action before performing it. `escalate` creates a pending
/// approval; the agent waits for an admin's decision on it. With `reserve`, an `allow` also
/// holds that budget for the call (as `POST /api/v1/budget/reservations` would); a hold that
/// does not fit makes the verdict `deny`, with the refusing scope in `budget_exhausted`, as
/// does a budget that refuses all new work. An agent key asks for its own agent, on tasks
/// assigned to it.
#[utoipa::path(post, path = "/api/v1/security/evaluate", operation_id = "evaluateAction", tag = "security", request_body = EvaluateAction,
    responses((status = 200, body = EvaluationResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(body): ApiJson<EvaluateAction>,
) -> Result<Json<EvaluationResult>, ApiError> {
    super::record_ids(body.task_id, Some(body.agent_id));
    let hold = body.reserve.map(|hold| hold.request(body.agent_id, body.task_id));
    let action = SecurityAction {
        agent_id: body.agent_id,
        task_id: body.task_id,
        tool: body.tool,
        action_type: body.action_type,
        arguments: body.arguments,
    };
    let evaluated = state.engine().evaluate(&caller, audit.0, action, hold).await?;
    Ok(Json(EvaluationResult::from(evaluated)))
}

/// Scans a tool's output for credentials and personal data (verdict `output_scan`).
#[utoipa::path(post, path = "/api/v1/security/scan-output", operation_id = "scanOutput", tag = "security", request_body = ScanOutput,
    responses((status = 200, body = OutputScan), (status = 403, body = ErrorBody)))]
pub(super) async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(body): ApiJson<ScanOutput>,
) -> Result<Json<OutputScan>, ApiError> {
    super::record_ids(body.task_id, body.agent_id.or(caller.agent_id()));
    Ok(Json(state.engine().scan_output(&caller, audit.0, body.agent_id, body.task_id, &body.output).await?))
}

/// Past verdicts (audit), oldest first. Arguments are not kept.
#[utoipa::path(get, path = "/api/v1/security/evaluations", operation_id = "listEvaluations", tag = "security", params(EvaluationQuery),
    responses((status = 200, body = Page<EvaluationRecord>)))]
pub(super) async fn list_evaluations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EvaluationQuery>,
) -> Result<Json<Page<EvaluationRecord>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = EvaluationFilter { agent_id: q.agent_id, verdict: q.verdict };
    state.page(page.limit, move |s| Ok(Json(s.store().list_evaluations(&filter, &page)?))).await
}

/// Approvals, oldest first; `?status=pending` for the queue.
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "listApprovals", tag = "approvals", params(ApprovalQuery),
    responses((status = 200, body = Page<Approval>)))]
pub(super) async fn list_approvals(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ApprovalQuery>,
) -> Result<Json<Page<Approval>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = ApprovalFilter { status: q.status, agent_id: q.agent_id };
    state.page(page.limit, move |s| Ok(Json(s.store().list_approvals(&filter, &page)?))).await
}

/// One approval (agents poll this while waiting).
#[utoipa::path(get, path = "/api/v1/approvals/{id}", operation_id = "getApproval", tag = "approvals", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody)))]
pub(super) async fn get_approval(State(state): State<AppState>, ApiId(id): ApiId) -> Result<Json<Approval>, ApiError> {
    state.read(move |s| Ok(Json(s.store().get_approval(id)?))).await
}

/// Approves or rejects a pending approval (admin). Deciding twice is a 409.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/decision", operation_id = "decideApproval", tag = "approvals", params(("id" = uuid::Uuid, Path)),
    request_body = DecideApproval,
    responses((status = 200, body = Approval), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiId(id): ApiId,
    ApiJson(body): ApiJson<DecideApproval>,
) -> Result<Json<Approval>, ApiError> {
    let request = DecisionRequest { decision: body.decision, note: body.note };
    let approval = state.engine().decide_approval(&caller, audit.0, id, request).await?;
    super::record_ids(approval.task_id, Some(approval.agent_id));
    Ok(Json(approval))
}
