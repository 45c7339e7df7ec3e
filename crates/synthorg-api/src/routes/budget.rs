//! `/api/v1/budget`: configuration and status.

use axum::Json;
use axum::extract::State;
use synthorg_core::DomainError;
use synthorg_core::budget::{
    BillingPeriod, BudgetConfig, BudgetRemaining, BudgetStatus, SpendWindow, budget_status, day_start,
};
use synthorg_core::event::Event;
use synthorg_store::{Done, Store, StoreError, now};

use super::Caller;
use crate::AppState;
use crate::auth::require_admin;
use crate::dto::RemainingQuery;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};

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
    let spend = s.store().action_spend(Some(agent), task, SpendWindow::at(at, budget.reset_day))?;
    let held = s.store().held(Some(agent), task, at)?;
    Ok(budget.refusal(&spend, &held))
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
    let own = caller.agent_id();
    if let (Some(own), Some(asked)) = (own, q.agent_id)
        && own != asked
    {
        return Err(ApiError::forbidden(format!("this key may see the budget of agent {own} only")));
    }
    let agent = q.agent_id.or(own);
    let task = q.task_id;
    super::record_ids(task, agent);
    state
        .blocking(move |s| {
            if let Some(agent) = agent {
                s.store().get_agent(agent)?;
            }
            if let Some(task) = task {
                let assigned = s.store().get_task(task)?.assigned_to;
                if let Some(own) = own
                    && assigned != Some(own)
                {
                    return Err(ApiError::forbidden(format!("task {task} is not assigned to agent {own}")));
                }
            }
            let config = effective_config(s.store().as_ref(), &s.settings().budget_defaults)?;
            let at = now();
            let spend = s.store().action_spend(agent, task, SpendWindow::at(at, config.reset_day))?;
            let held = s.store().held(agent, task, at)?;
            Ok(Json(config.remaining(agent, task, &spend, &held, at)))
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
