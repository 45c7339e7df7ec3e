//! `/api/v1/costs`: the cost ledger.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use synthorg_core::budget::AlertLevel;
use synthorg_core::cost::{CostRecord, GenAiOperation};
use synthorg_core::price::Catalogue;
use synthorg_store::{CostFilter, Page};

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
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
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
    state.page(page.limit, move |s| Ok(Json(s.store().list_costs(&filter, &page)?))).await
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
    let operation = body.operation.unwrap_or(GenAiOperation::Chat);
    let report = body.into_report(header_key)?;
    let reported = state.engine().report_cost(&caller, report, operation).await?;
    let mut headers = HeaderMap::new();
    if reported.replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    if let Some(r) = reported.standing {
        headers.extend(super::budget::budget_headers(r.remaining, r.alert_level));
    }
    Ok((StatusCode::CREATED, headers, Json(reported.record)))
}

/// The price catalogue in force: the built-in one, replaced or extended by
/// `budget.prices_file`. Prices are USD per million tokens; see docs/costs.md.
#[utoipa::path(get, path = "/api/v1/prices", operation_id = "getPrices", tag = "costs", params(PriceQuery),
    responses((status = 200, body = Catalogue), (status = 422, body = ErrorBody)))]
pub(super) async fn prices(State(state): State<AppState>, ApiQuery(q): ApiQuery<PriceQuery>) -> Json<Catalogue> {
    Json(state.settings().prices.filtered(q.provider.as_deref(), q.model.as_deref()))
}
