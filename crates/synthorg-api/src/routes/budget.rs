//! `/api/v1/budget`: configuration and status.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use synthorg_core::Usd;
use synthorg_core::budget::{
    AlertLevel, BillingPeriod, BudgetConfig, BudgetRemaining, BudgetStatus, SpendWindow, budget_status, day_start,
};
use synthorg_core::reservation::Reservation;
use synthorg_store::{Page, ReservationFilter, now};

use super::Caller;
use crate::AppState;
use crate::dto::{CreateReservation, Granted, RemainingQuery, ReservationQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiId, ApiJson, ApiQuery, Audited, page_request};

/// The budget configuration in force.
#[utoipa::path(get, path = "/api/v1/budget/config", operation_id = "getBudgetConfig", tag = "budget", responses((status = 200, body = BudgetConfig)))]
pub(super) async fn get_config(State(state): State<AppState>) -> Result<Json<BudgetConfig>, ApiError> {
    Ok(Json(state.engine().budget_config().await?))
}

/// Replaces the budget configuration (admin). Every problem is reported at once.
#[utoipa::path(put, path = "/api/v1/budget/config", operation_id = "setBudgetConfig", tag = "budget", request_body = BudgetConfig,
    responses((status = 200, body = BudgetConfig), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audited,
    ApiJson(config): ApiJson<BudgetConfig>,
) -> Result<Json<BudgetConfig>, ApiError> {
    Ok(Json(state.engine().set_budget(&caller, audit.0, config).await?))
}

/// What may still be spent before new work is refused, per scope: the organization's
/// billing period (up to the hard stop), the agent's day, the task. An agent key sees its
/// own agent and the tasks assigned to it.
#[utoipa::path(get, path = "/api/v1/budget/remaining", operation_id = "getBudgetRemaining", tag = "budget",
    params(RemainingQuery),
    responses((status = 200, body = BudgetRemaining), (status = 403, body = ErrorBody),
        (status = 404, description = "The agent or task does not exist", body = ErrorBody)))]
pub(super) async fn remaining(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RemainingQuery>,
) -> Result<Json<BudgetRemaining>, ApiError> {
    super::record_ids(q.task_id, q.agent_id.or(caller.agent_id()));
    Ok(Json(state.engine().remaining(&caller, q.agent_id, q.task_id).await?))
}

/// Spend in the current billing period and today, against the budget.
#[utoipa::path(get, path = "/api/v1/budget/status", operation_id = "getBudgetStatus", tag = "budget", responses((status = 200, body = BudgetStatus)))]
pub(super) async fn status(State(state): State<AppState>) -> Result<Json<BudgetStatus>, ApiError> {
    state
        .blocking(|s| {
            let config = s.budget()?;
            let at = now();
            let period = BillingPeriod::containing(at, config.reset_day);
            let spend =
                s.store().spend_snapshot(SpendWindow { period_start: period.start, day_start: day_start(at) })?;
            let mut status = budget_status(&config, at, &spend);
            (status.burn_rate_1h, status.burn_rate_24h) = s.burn_rates(at)?;
            Ok(Json(status))
        })
        .await
}

/// Response header: USD left in the tightest scope once the answer's hold or cost counts.
pub(super) const REMAINING: HeaderName = HeaderName::from_static("x-budget-remaining");
/// Response header: the alert level of the most used scope (`normal` … `hard_stop`).
pub(super) const ALERT: HeaderName = HeaderName::from_static("x-budget-alert");

/// The `X-Budget-*` headers of an answer.
pub(super) fn budget_headers(remaining: Option<Usd>, alert: AlertLevel) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(remaining) = remaining
        && let Ok(value) = HeaderValue::from_str(&remaining.to_string())
    {
        headers.insert(REMAINING, value);
    }
    headers.insert(ALERT, HeaderValue::from_static(alert.as_str()));
    headers
}

/// Holds budget for a model call before it is made (SPEC §11). Give an `amount`, or the
/// `provider`, `model`, `max_input_tokens` and `max_output_tokens` whose worst case synthorg
/// prices. The hold counts against every limited scope until the cost report that names it
/// (`reservation_id`) settles it, `DELETE` releases it, or `ttl_seconds` pass. A hold that
/// does not fit is a 409 `budget_exhausted` naming the scope and what remains.
#[utoipa::path(post, path = "/api/v1/budget/reservations", operation_id = "createReservation", tag = "budget",
    request_body = CreateReservation,
    responses((status = 201, body = Granted, headers(
            ("X-Budget-Remaining" = String, description = "USD left in the tightest scope, this hold counted"),
            ("X-Budget-Alert" = AlertLevel, description = "Alert level of the most used scope"))),
        (status = 403, body = ErrorBody),
        (status = 409, description = "`budget_exhausted` (the hold does not fit), or the agent is terminated", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn create_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateReservation>,
) -> Result<(StatusCode, HeaderMap, Json<Granted>), ApiError> {
    let (agent_id, task_id, hold) = body.split();
    super::record_ids(task_id, Some(agent_id));
    let reserved = state.engine().reserve(&caller, hold.request(agent_id, task_id)).await?;
    Ok((StatusCode::CREATED, budget_headers(reserved.remaining, reserved.alert), Json(Granted::of(&reserved))))
}

/// Reservations, oldest first; `?state=open` for the holds in force. An agent key sees its
/// own agent's.
#[utoipa::path(get, path = "/api/v1/budget/reservations", operation_id = "listReservations", tag = "budget",
    params(ReservationQuery),
    responses((status = 200, body = Page<Reservation>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list_reservations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReservationQuery>,
) -> Result<Json<Page<Reservation>>, ApiError> {
    let page = page_request(q.limit, q.cursor.as_deref(), q.order)?;
    let filter = ReservationFilter { agent_id: q.agent_id, task_id: q.task_id, state: q.state };
    Ok(Json(state.engine().reservations(&caller, filter, page).await?))
}

/// Releases an open reservation: the call was not made, the hold is given back. Releasing
/// a settled, released or expired one is a 409. An agent key releases its own agent's.
#[utoipa::path(delete, path = "/api/v1/budget/reservations/{id}", operation_id = "releaseReservation", tag = "budget",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(super) async fn release_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiId(id): ApiId,
) -> Result<Json<Reservation>, ApiError> {
    let released = state.engine().release(&caller, id).await?;
    super::record_ids(released.task_id, Some(released.agent_id));
    Ok(Json(released))
}
