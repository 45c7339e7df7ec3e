//! `/api/v1/security` (verdicts, output scans, audit) and `/api/v1/approvals`.

use axum::Json;
use axum::extract::State;
use synthorg_core::audit::NewAuditEvent;
use synthorg_core::event::Event;
use synthorg_core::security::{AgentContext, Approval, DecisionRequest, OutputScan, SecurityAction, Verdict};
use synthorg_store::{ApprovalFilter, Done, EvaluationFilter, EvaluationRecord, Page, StoreError, now};
use synthorg_telemetry::otlp::{AttrValue, SpanKind};

use super::Caller;
use crate::AppState;
use crate::dto::{ApprovalQuery, DecideApproval, EvaluateAction, EvaluationQuery, EvaluationResult, ScanOutput};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiId, ApiJson, ApiQuery, Audited, page_request};

/// Asks for a verdict on an action before performing it. `escalate` creates a pending
/// approval; the agent waits for an admin's decision on it. With `reserve`, an `allow` also
/// holds that budget for the call (as `POST /api/v1/budget/reservations` would); a hold that
/// does not fit makes the verdict `deny`, with the refusing scope in `budget_exhausted`.
#[utoipa::path(post, path = "/api/v1/security/evaluate", operation_id = "evaluateAction", tag = "security", request_body = EvaluateAction,
    responses((status = 200, body = EvaluationResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(body): ApiJson<EvaluateAction>,
) -> Result<Json<EvaluationResult>, ApiError> {
    super::record_ids(body.task_id, Some(body.agent_id));
    if !caller.may_act_for(body.agent_id) {
        return Err(ApiError::forbidden(format!("this key may not ask for verdicts for agent {}", body.agent_id)));
    }
    SecurityAction::check_names(&body.tool, &body.action_type)?;
    // A bad hold is refused before anything is judged.
    let hold = match body.reserve {
        Some(hold) => Some(hold.request(body.agent_id, body.task_id).into_reservation(
            &caller,
            now(),
            &state.settings().prices,
            "reserve.",
        )?),
        None => None,
    };
    let started = std::time::SystemTime::now();
    let action = SecurityAction {
        agent_id: body.agent_id,
        task_id: body.task_id,
        tool: body.tool,
        action_type: body.action_type,
        arguments: body.arguments,
    };
    let (agent_id, tool) = (action.agent_id, action.tool.clone());
    let Json(answer) = state
        .write(move |s| {
            let agent = s.store().get_agent(action.agent_id).map_err(|e| invalid_ref(e, "agent_id"))?;
            if let Some(task) = action.task_id {
                s.store().get_task(task).map_err(|e| invalid_ref(e, "task_id"))?;
            }
            let at = now();
            let refusal = super::budget::refusal(s, action.agent_id, action.task_id, at)?;
            let mut assessment = s.engine().assess(&action, &AgentContext::from(&agent), refusal, at);
            let mut events = Vec::new();
            let (mut reservation, mut budget_exhausted) = (None, None);
            // Only an allow holds money; a hold that does not fit turns it into a deny.
            if let Some(hold) = hold.filter(|_| assessment.action == Verdict::Allow) {
                let config = s.budget()?;
                let (outcome, event) = super::budget::grant(s, &config, &hold)?;
                events.push(event);
                match outcome {
                    Ok((granted, _)) => reservation = Some(granted),
                    Err(exhausted) => {
                        assessment.deny_for_budget(exhausted.message());
                        budget_exhausted = Some(exhausted);
                    }
                }
            }
            let record = EvaluationRecord::of(&action, &assessment, at);
            s.store().record_evaluation(&record, assessment.approval.as_ref(), &audit.0)?;
            events.push(record.event());
            events.extend(audit.events());
            let answer = EvaluationResult {
                reservation,
                budget_exhausted,
                mode: s.engine().mode(),
                ..EvaluationResult::from(&record)
            };
            Ok(Done::with(Json(answer), events))
        })
        .await?;
    guardrail_span(&state, &answer, agent_id, &tool, started);
    Ok(Json(answer))
}

/// The evaluation as a span in the GenAI guardrail conventions: the rules' verdict (the
/// verdict type) apart from what the answer did (the action type), so a shadowed deny reads
/// `deny` / `allow`.
fn guardrail_span(
    state: &AppState,
    answer: &EvaluationResult,
    agent: uuid::Uuid,
    tool: &str,
    started: std::time::SystemTime,
) {
    let Some(tracer) = &state.settings().tracer else { return };
    let mut attributes: Vec<(&'static str, AttrValue)> = vec![
        ("gen_ai.operation.name", "run_guardrail".into()),
        ("gen_ai.guardrail.verdict.type", answer.policy_verdict.as_str().into()),
        ("gen_ai.guardrail.action.type", answer.verdict.as_str().into()),
        ("gen_ai.agent.id", agent.to_string().into()),
        ("gen_ai.tool.name", tool.into()),
        ("synthorg.security.mode", answer.mode.as_str().into()),
        ("synthorg.security.risk_level", answer.risk_level.as_str().into()),
        ("synthorg.security.evaluation_id", answer.evaluation_id.to_string().into()),
        ("synthorg.security.matched_rules", AttrValue::StrArray(answer.matched_rules.clone())),
    ];
    if let Some(rule) = answer.matched_rules.first() {
        attributes.push(("gen_ai.guardrail.policy.id", rule.as_str().into()));
    }
    tracer.record_child("gen_ai.run_guardrail".into(), SpanKind::Internal, started, attributes, None);
}

/// A reference in the body to something that does not exist is the body's fault (422).
fn invalid_ref(error: StoreError, field: &'static str) -> ApiError {
    match error {
        StoreError::NotFound { entity, id } => ApiError::invalid(field, format!("{entity} {id} does not exist")),
        other => other.into(),
    }
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
    // An agent key scans for its own agent, named or not.
    let agent_id = body.agent_id.or(caller.agent_id());
    super::record_ids(body.task_id, agent_id);
    if let Some(agent) = agent_id
        && !caller.may_act_for(agent)
    {
        return Err(ApiError::forbidden(format!("this key may not scan output for agent {agent}")));
    }
    let task_id = body.task_id;
    // Scanned before the write: the writer does not wait on the detectors.
    let scan = synthorg_core::security::scan_output(&body.output);
    state
        .write(move |s| {
            let verdict = NewAuditEvent::output_scanned(agent_id, task_id, scan.verdict, scan.findings.len());
            s.store().append_audit(&audit.0, verdict)?;
            let event = Event::OutputScanned {
                agent_id,
                task_id,
                verdict: scan.verdict,
                risk_level: scan.risk_level,
                findings: scan.findings.len(),
            };
            Ok(Done::with(Json(scan), std::iter::once(event).chain(audit.events())))
        })
        .await
}

/// Past verdicts (audit), oldest first. Arguments are not kept.
#[utoipa::path(get, path = "/api/v1/security/evaluations", operation_id = "listEvaluations", tag = "security", params(EvaluationQuery),
    responses((status = 200, body = Page<EvaluationRecord>)))]
pub(super) async fn list_evaluations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EvaluationQuery>,
) -> Result<Json<Page<EvaluationRecord>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let filter = EvaluationFilter { agent_id: q.agent_id, verdict: q.verdict };
    state.blocking(move |s| Ok(Json(s.store().list_evaluations(&filter, &page)?))).await
}

/// Approvals, oldest first; `?status=pending` for the queue.
#[utoipa::path(get, path = "/api/v1/approvals", operation_id = "listApprovals", tag = "approvals", params(ApprovalQuery),
    responses((status = 200, body = Page<Approval>)))]
pub(super) async fn list_approvals(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ApprovalQuery>,
) -> Result<Json<Page<Approval>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let filter = ApprovalFilter { status: q.status, agent_id: q.agent_id };
    state.blocking(move |s| Ok(Json(s.store().list_approvals(&filter, &page)?))).await
}

/// One approval (agents poll this while waiting).
#[utoipa::path(get, path = "/api/v1/approvals/{id}", operation_id = "getApproval", tag = "approvals", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Approval), (status = 404, body = ErrorBody)))]
pub(super) async fn get_approval(State(state): State<AppState>, ApiId(id): ApiId) -> Result<Json<Approval>, ApiError> {
    state.blocking(move |s| Ok(Json(s.store().get_approval(id)?))).await
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
    state
        .write(move |s| {
            let request = DecisionRequest { decision: body.decision, note: body.note };
            let approval = s.store().decide_approval(id, &request, &caller, &audit.0)?;
            super::record_ids(approval.task_id, Some(approval.agent_id));
            let waited = approval.decided_at.map_or(time::Duration::ZERO, |at| at - approval.created_at);
            let event = Event::ApprovalDecided {
                approval_id: id,
                agent_id: approval.agent_id,
                decision: body.decision,
                by: caller.label(),
                waited_seconds: waited.as_seconds_f64().max(0.0),
            };
            Ok(Done::with(Json(approval), std::iter::once(event).chain(audit.events())))
        })
        .await
}
