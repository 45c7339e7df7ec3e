//! `/api/v1/costs`: the cost ledger.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use synthorg_core::cost::{CostRecord, NewCostRecord};
use synthorg_core::event::Event;
use synthorg_store::{CostFilter, Done, Page, now};

use super::Caller;
use crate::AppState;
use crate::dto::{CostQuery, ReportCost};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, page_request};

/// Response header set on a replayed idempotent report.
pub(super) const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Lists cost records, oldest first.
#[utoipa::path(get, path = "/api/v1/costs", tag = "costs", params(CostQuery),
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
        since: q.since,
        until: q.until,
    };
    state.blocking(move |s| Ok(Json(s.store().list_costs(&filter, &page)?))).await
}

/// Reports one model call. With an idempotency key (body field or `Idempotency-Key`
/// header) a retry is recorded once and answered with the original record and the header
/// `Idempotent-Replayed: true`; reusing a key for a different report is a 409.
#[utoipa::path(post, path = "/api/v1/costs", tag = "costs", request_body = ReportCost,
    params(("Idempotency-Key" = Option<String>, Header, description = "alternative to the body field")),
    responses((status = 201, body = CostRecord), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
    let record = NewCostRecord {
        agent_id: body.agent_id,
        task_id: body.task_id,
        provider: body.provider,
        model: body.model,
        input_tokens: body.input_tokens,
        output_tokens: body.output_tokens,
        cost: body.cost,
        call_category: body.call_category,
        occurred_at: body.occurred_at,
        idempotency_key,
    }
    .into_record(&caller, now())?;
    state
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
                });
            }
            Ok(Done::with((StatusCode::CREATED, headers, Json(recorded.value)), events))
        })
        .await
}
