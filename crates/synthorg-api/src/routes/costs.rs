//! `/api/v1/costs`: the cost ledger.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use synthorg_core::budget::AlertLevel;
use synthorg_core::cost::{CostRecord, GenAiOperation, NewCostRecord};
use synthorg_core::event::Event;
use synthorg_core::price::{Catalogue, Usage};
use synthorg_store::{CostFilter, Done, Page, now};
use synthorg_telemetry::otlp::{AttrValue, SpanKind};

use super::Caller;
use crate::AppState;
use crate::dto::{CostQuery, PriceQuery, ReportCost};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, page_request};

/// Response header set on a replayed idempotent report.
pub(super) const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Lists cost records, oldest first.
#[utoipa::path(get, path = "/api/v1/costs", operation_id = "listCosts", tag = "costs", params(CostQuery),
    responses((status = 200, body = Page<CostRecord>), (status = 422, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CostQuery>,
) -> Result<Json<Page<CostRecord>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let filter = CostFilter {
        agent_id: q.agent_id,
        task_id: q.task_id,
        call_category: q.call_category,
        cost_source: q.cost_source,
        provider: q.provider,
        model: q.model,
        since: q.since,
        until: q.until,
    };
    state.blocking(move |s| Ok(Json(s.store().list_costs(&filter, &page)?))).await
}

/// Reports one model call. Without `cost`, synthorg prices the call from the catalogue in
/// force (`cost_source: computed`); with `cost`, the reported figure is kept
/// (`cost_source: reported`) and the computed one is stored beside it; a model the catalogue
/// does not list and no `cost` is recorded at 0 (`cost_source: unpriced`). With an
/// idempotency key (body field or `Idempotency-Key` header) a retry is recorded once and
/// answered with the original record and the header `Idempotent-Replayed: true`; reusing a
/// key for a different report is a 409. With a budget limit set, the answer carries
/// `X-Budget-Remaining` and `X-Budget-Alert`. With `reservation_id` the report settles that
/// reservation (its hold becomes this cost); spend beyond the hold is recorded and counted
/// as overshoot.
#[utoipa::path(post, path = "/api/v1/costs", operation_id = "reportCost", tag = "costs", request_body = ReportCost,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[!-~]+$",
        description = "Alternative to the body field `idempotency_key`; when both are given they must be equal.")),
    responses((status = 201, body = CostRecord, headers(
            ("X-Budget-Remaining" = String, description = "USD left in the tightest scope once this cost counts (with a budget limit)"),
            ("X-Budget-Alert" = AlertLevel, description = "Alert level of the most used scope (with a budget limit)"))),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReportCost>,
) -> Result<(StatusCode, HeaderMap, Json<CostRecord>), ApiError> {
    super::record_ids(body.task_id, Some(body.agent_id));
    let header_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be ASCII"))?.to_owned()),
    };
    let idempotency_key = match (body.idempotency_key, header_key) {
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::invalid("idempotency_key", "differs from the Idempotency-Key header"));
        }
        (b, h) => b.or(h),
    };
    let operation = body.operation.unwrap_or(GenAiOperation::Chat);
    let record = NewCostRecord {
        agent_id: body.agent_id,
        task_id: body.task_id,
        provider: body.provider,
        model: body.model,
        usage: Usage {
            input: body.input_tokens,
            output: body.output_tokens,
            cache_read_input: body.cache_read_input_tokens,
            cache_write_input: body.cache_write_input_tokens,
            reasoning_output: body.reasoning_output_tokens,
        },
        cost: body.cost,
        call_category: body.call_category,
        occurred_at: body.occurred_at,
        idempotency_key,
        reservation_id: body.reservation_id,
    }
    .into_record(&caller, now(), state.settings().max_report_delay, &state.settings().prices)?;
    let started = std::time::SystemTime::now();
    let answer = state
        .write(move |s| {
            let recorded = s.store().record_cost(&record)?;
            let mut headers = HeaderMap::new();
            let mut events = Vec::new();
            if recorded.replayed {
                headers.insert(REPLAYED, HeaderValue::from_static("true"));
            } else {
                let r = &recorded.value;
                events.push(Event::CostRecorded {
                    agent_id: r.agent_id,
                    task_id: r.task_id,
                    provider: r.provider.clone(),
                    model: r.model.clone(),
                    cost: r.cost,
                    cost_source: r.cost_source,
                    computed_cost: r.computed_cost,
                    disagrees: r.cost_disagrees,
                    operation,
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                });
                if let Some(settled) = recorded.settlement {
                    events.push(Event::ReservationSettled {
                        reservation_id: settled.reservation_id,
                        agent_id: r.agent_id,
                        was: settled.was,
                        held: settled.held,
                        cost: r.cost,
                        overshoot: settled.overshoot,
                    });
                }
            }
            Ok(Done::with((StatusCode::CREATED, headers, Json(recorded.value)), events))
        })
        .await?;
    let (status, mut headers, Json(record)) = answer;
    cost_span(&state, &record, operation, headers.contains_key(REPLAYED), started);
    // Where the agent stands once this cost counts; nothing to say (and nothing read) when
    // no scope has a limit.
    let (agent, task) = (record.agent_id, record.task_id);
    let standing = state
        .read(move |s| {
            let config = s.budget()?;
            if !config.has_limits() {
                return Ok(None);
            }
            let at = now();
            let (spend, held) = s.store().standing(agent, task, &config, at)?;
            Ok(Some(config.remaining(Some(agent), task, &spend, &held, at)))
        })
        .await?;
    if let Some(r) = standing {
        headers.extend(super::budget::budget_headers(r.remaining, r.alert_level));
    }
    Ok((status, headers, Json(record)))
}

/// The price catalogue in force: the built-in one, replaced or extended by
/// `budget.prices_file`. Prices are USD per million tokens; see docs/costs.md.
#[utoipa::path(get, path = "/api/v1/prices", operation_id = "getPrices", tag = "costs", params(PriceQuery),
    responses((status = 200, body = Catalogue), (status = 422, body = ErrorBody)))]
pub(super) async fn prices(State(state): State<AppState>, ApiQuery(q): ApiQuery<PriceQuery>) -> Json<Catalogue> {
    Json(state.settings().prices.filtered(q.provider.as_deref(), q.model.as_deref()))
}

/// The report as a span in the GenAI conventions: provider, model, tokens, and the draft
/// `gen_ai.usage.cost.*` (amount in USD as the budget counts it, and where it comes from).
fn cost_span(
    state: &AppState,
    record: &CostRecord,
    operation: GenAiOperation,
    replayed: bool,
    started: std::time::SystemTime,
) {
    let Some(tracer) = &state.settings().tracer else { return };
    let tokens = |n: u64| AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut attributes: Vec<(&'static str, AttrValue)> = vec![
        ("gen_ai.operation.name", operation.as_str().into()),
        ("gen_ai.provider.name", record.provider.as_str().into()),
        ("gen_ai.request.model", record.model.as_str().into()),
        ("gen_ai.usage.input_tokens", tokens(record.input_tokens)),
        ("gen_ai.usage.output_tokens", tokens(record.output_tokens)),
        ("gen_ai.usage.cache_read.input_tokens", tokens(record.cache_read_input_tokens)),
        ("gen_ai.usage.cache_creation.input_tokens", tokens(record.cache_write_input_tokens)),
        ("gen_ai.usage.cost.amount", record.cost.as_f64().into()),
        ("gen_ai.usage.cost.currency", "USD".into()),
        ("gen_ai.usage.cost.source", record.cost_source.as_str().into()),
        ("gen_ai.agent.id", record.agent_id.to_string().into()),
        ("synthorg.cost.record_id", record.id.to_string().into()),
        ("synthorg.cost.replayed", replayed.into()),
    ];
    if let Some(task) = record.task_id {
        attributes.push(("synthorg.task.id", task.to_string().into()));
    }
    let name = format!("record_cost {}", record.model);
    tracer.record_child(name, SpanKind::Internal, started, attributes, None);
}
