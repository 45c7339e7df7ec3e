//! Wire types of `/api/v1/security` and `/api/v1/approvals`.

use serde::{Deserialize, Serialize};
use synthorg_core::security::{ApprovalStatus, Decision, RiskLevel, Verdict};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Granted, Hold};

/// `POST /api/v1/security/evaluate`: an action an agent is about to take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateAction {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// 1–128 characters, e.g. `shell`, `fs.write`.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub tool: String,
    /// e.g. read, write, execute, network, delete, admin; 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub action_type: String,
    /// The tool call's arguments, any JSON.
    #[serde(default)]
    pub arguments: serde_json::Value,
    /// With an `allow`, also hold this much budget for the call in the same round trip; a
    /// hold that does not fit turns the verdict into a `deny`.
    #[serde(default, deserialize_with = "synthorg_core::object::option::deserialize")]
    pub reserve: Option<Hold>,
}

/// The verdict on an action.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationResult {
    pub evaluation_id: Uuid,
    /// What to do: the rules' verdict, or `allow` in shadow mode (`policy_verdict` then says
    /// what the rules decided).
    pub verdict: Verdict,
    /// The rules' verdict, enforced or not.
    pub policy_verdict: Verdict,
    /// `security.mode` in force: in `shadow` a `deny` or `escalate` is recorded, not enforced.
    pub mode: synthorg_core::security::SecurityMode,
    pub risk_level: RiskLevel,
    pub reason: String,
    pub matched_rules: Vec<String>,
    /// With `escalate`: the approval to wait for.
    pub approval_id: Option<Uuid>,
    /// With `reserve` and `allow`: the hold granted.
    pub reservation: Option<Granted>,
    /// The scope that refused: the budget's, when it refuses all new work (the verdict is
    /// then `deny`), or with `reserve`, the scope the hold did not fit.
    pub budget_exhausted: Option<synthorg_core::budget::Exhausted>,
}

impl From<synthorg_engine::Evaluated> for EvaluationResult {
    fn from(evaluated: synthorg_engine::Evaluated) -> Self {
        let record = evaluated.record;
        Self {
            evaluation_id: record.id,
            verdict: record.action,
            policy_verdict: record.verdict,
            mode: evaluated.mode,
            risk_level: record.risk_level,
            reason: record.reason,
            matched_rules: record.matched_rules,
            approval_id: record.approval_id,
            reservation: evaluated.reservation.as_ref().map(Granted::of),
            budget_exhausted: evaluated.budget_exhausted,
        }
    }
}

/// `POST /api/v1/security/scan-output`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanOutput {
    /// The agent whose tool produced the output; with an agent key, default that agent.
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub tool: Option<String>,
    /// The tool's output.
    pub output: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EvaluationQuery {
    pub agent_id: Option<Uuid>,
    pub verdict: Option<Verdict>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    pub status: Option<ApprovalStatus>,
    pub agent_id: Option<Uuid>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}

/// `POST /api/v1/approvals/{id}/decision`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    pub decision: Decision,
    pub note: Option<String>,
}
