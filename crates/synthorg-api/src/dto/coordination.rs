//! Wire types of `/api/v1/coordination/runs`.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /api/v1/coordination/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRun {
    pub task_id: Option<Uuid>,
    /// Participating agents (1–1000).
    #[schema(min_items = 1, max_items = 1000)]
    pub agents: Vec<Uuid>,
    /// e.g. centralized, decentralized, hierarchical; 1–64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "<visible, non-blank>")]
    pub topology: String,
    /// Mean turns per run with several agents, 0.001 to 1,000,000,000.
    #[schema(minimum = 0.001, maximum = 1000000000)]
    pub turns_mas: f64,
    /// Mean turns per run of the single-agent baseline, 0.001 to 1,000,000,000.
    #[schema(minimum = 0.001, maximum = 1000000000)]
    pub turns_sas: f64,
    /// Share of successful runs, 0–1.
    #[schema(minimum = 0, maximum = 1)]
    pub success_rate: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    pub task_id: Option<Uuid>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}
