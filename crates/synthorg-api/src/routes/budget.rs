//! `/api/v1/budget`: configuration and status.

use axum::Json;
use axum::extract::State;
use synthorg_core::DomainError;
use synthorg_core::budget::{BillingPeriod, BudgetConfig, BudgetStatus, SpendWindow, budget_status, day_start};
use synthorg_core::event::Event;
use synthorg_store::{Done, Store, StoreError, now};

use super::Caller;
use crate::AppState;
use crate::auth::require_admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;

/// The budget in force: the one set through the API, else the configuration file's.
pub(crate) fn effective_config(store: &dyn Store, defaults: &BudgetConfig) -> Result<BudgetConfig, StoreError> {
    Ok(store.budget_config()?.unwrap_or_else(|| defaults.clone()))
}

/// Why the budget refuses new work by `agent` (on `task`) at `at`, if it does: the gate of
/// every security evaluation.
pub(crate) fn refusal(
    s: &AppState,
    agent: uuid::Uuid,
    task: Option<uuid::Uuid>,
    at: time::OffsetDateTime,
) -> Result<Option<String>, ApiError> {
    let budget = effective_config(s.store().as_ref(), &s.settings().budget_defaults)?;
    let spend = s.store().action_spend(agent, task, SpendWindow::at(at, budget.reset_day))?;
    Ok(budget.refusal(&spend))
}

/// The budget configuration in force.
#[utoipa::path(get, path = "/api/v1/budget/config", operation_id = "getBudgetConfig", tag = "budget", responses((status = 200, body = BudgetConfig)))]
pub(super) async fn get_config(State(state): State<AppState>) -> Result<Json<BudgetConfig>, ApiError> {
    state.blocking(|s| Ok(Json(effective_config(s.store().as_ref(), &s.settings().budget_defaults)?))).await
}

/// Replaces the budget configuration (admin). Every problem is reported at once.
#[utoipa::path(put, path = "/api/v1/budget/config", operation_id = "setBudgetConfig", tag = "budget", request_body = BudgetConfig,
    responses((status = 200, body = BudgetConfig), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(config): ApiJson<BudgetConfig>,
) -> Result<Json<BudgetConfig>, ApiError> {
    require_admin(&caller)?;
    DomainError::check(config.validate())?;
    state
        .write(move |s| {
            s.store().set_budget_config(&config)?;
            let event = Event::BudgetConfigured {
                total_monthly: config.total_monthly,
                reset_day: config.reset_day,
                by: caller.label(),
            };
            Ok(Done::with(Json(config), [event]))
        })
        .await
}

/// Spend in the current billing period and today, against the budget.
#[utoipa::path(get, path = "/api/v1/budget/status", operation_id = "getBudgetStatus", tag = "budget", responses((status = 200, body = BudgetStatus)))]
pub(super) async fn status(State(state): State<AppState>) -> Result<Json<BudgetStatus>, ApiError> {
    state
        .blocking(|s| {
            let config = effective_config(s.store().as_ref(), &s.settings().budget_defaults)?;
            let at = now();
            let period = BillingPeriod::containing(at, config.reset_day);
            let spend =
                s.store().spend_snapshot(SpendWindow { period_start: period.start, day_start: day_start(at) })?;
            Ok(Json(budget_status(&config, at, &spend)))
        })
        .await
}
