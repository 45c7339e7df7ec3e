//! `/api/v1/overview`: the organization at a glance, from the maintained counts (admin and
//! viewer keys): what the console's overview shows, at a cost that does not grow with the
//! organization.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use synthorg_core::agent::AgentStatus;
use synthorg_core::security::Verdict;
use synthorg_core::task::TaskStatus;

use super::Caller;
use crate::AppState;
use crate::dto::Overview;
use crate::error::{ApiError, ErrorBody};

/// Agents and tasks by status, security verdicts by verdict and the approvals waiting, read
/// from the counts the store keeps with every change (never by counting rows). Every status
/// and verdict is present, 0 included. Agent keys may not read it.
#[utoipa::path(get, path = "/api/v1/overview", operation_id = "getOverview", tag = "meta",
    responses((status = 200, body = Overview), (status = 403, body = ErrorBody)))]
pub(super) async fn get(State(state): State<AppState>, caller: Caller) -> Result<Json<Overview>, ApiError> {
    if caller.agent_id().is_some() {
        return Err(ApiError::forbidden("the overview needs an admin or viewer key"));
    }
    state
        .read(|s| {
            let store = s.store();
            let agents = store.agent_counts()?.into_iter().map(|(status, _, n)| (status, n));
            let tasks = store.task_counts()?.into_iter().map(|(status, _, n)| (status, n));
            Ok(Json(Overview {
                agents: every(AgentStatus::ALL, agents),
                tasks: every(TaskStatus::ALL, tasks),
                verdicts: every(Verdict::ALL, store.verdict_counts()?),
                pending_approvals: store.pending_approvals()?,
            }))
        })
        .await
}

/// Counts by name: every value of `all` (0 when not counted), the counts of one value summed.
fn every<T: ToString>(all: &[T], counts: impl IntoIterator<Item = (T, u64)>) -> BTreeMap<String, u64> {
    let mut by_name: BTreeMap<String, u64> = all.iter().map(|v| (v.to_string(), 0)).collect();
    for (value, n) in counts {
        *by_name.entry(value.to_string()).or_default() += n;
    }
    by_name
}
