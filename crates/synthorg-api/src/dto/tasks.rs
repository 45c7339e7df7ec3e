//! Wire types of `/api/v1/tasks` and their transitions.

use serde::{Deserialize, Serialize};
use synthorg_core::task::{Task, TaskStatus, TaskTransition};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /api/v1/tasks`. New tasks start `created`, unassigned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1–256 characters.
    #[schema(min_length = 1, max_length = 256, pattern = "<visible, non-blank>")]
    pub title: String,
    /// Up to 65,536 characters.
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub description: String,
    /// The task this one was decomposed from.
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    pub status: Option<TaskStatus>,
    pub assigned_to: Option<Uuid>,
    /// `true`: only tasks without an assignee.
    pub unassigned: Option<bool>,
    pub parent_id: Option<Uuid>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}

/// `POST /api/v1/tasks/{id}/transitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    pub to: TaskStatus,
    /// The new assignee; only with `to: assigned`.
    pub assigned_to: Option<Uuid>,
    /// The version the client last saw (1 or more); a different current version is a 409.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(minimum = 1)]
    pub expected_version: Option<i64>,
    /// Up to 1,024 characters.
    #[schema(max_length = 1024)]
    pub reason: Option<String>,
}

/// The task after a transition and the history entry it produced.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionResult {
    pub task: Task,
    pub transition: TaskTransition,
}
