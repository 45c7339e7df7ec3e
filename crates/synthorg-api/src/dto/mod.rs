//! Wire types of the API: request bodies and query strings (all reject unknown fields) and
//! the responses that are not domain types.

mod agents;
mod audit;
mod budget;
mod coordination;
mod costs;
mod keys;
mod security;
mod tasks;

pub use agents::*;
pub use audit::*;
pub use budget::*;
pub use coordination::*;
pub use costs::*;
pub use keys::*;
pub use security::*;
pub use tasks::*;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The order of a list: `asc`, oldest first (the default), or `desc`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<Order>,
}

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (liveness), `ready` or `unavailable` (readiness).
    pub status: String,
    pub version: String,
}

/// `GET /api/v1/overview`: the organization at a glance, from the maintained counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// Agents by status, every status present (0 included).
    #[schema(example = json!({"active": 12, "onboarding": 1, "on_leave": 0, "terminated": 2}))]
    pub agents: std::collections::BTreeMap<String, u64>,
    /// Tasks by status, every status present (0 included).
    pub tasks: std::collections::BTreeMap<String, u64>,
    /// Security evaluations by the rules' verdict, every verdict present (0 included).
    pub verdicts: std::collections::BTreeMap<String, u64>,
    /// Approvals waiting for a decision.
    pub pending_approvals: u64,
}
