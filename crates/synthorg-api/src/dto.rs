//! Wire types of the API: request bodies and query strings (all reject unknown fields) and
//! the responses that are not domain types.

use serde::{Deserialize, Serialize};
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::cost::{CallCategory, CostSource};
use synthorg_core::security::{ApprovalStatus, Decision, RiskLevel, Verdict};
use synthorg_core::task::{Task, TaskStatus, TaskTransition};
use synthorg_core::{Role, Usd};
use synthorg_store::ApiKeyRecord;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /api/v1/agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Unique, 1–128 characters.
    pub name: String,
    /// e.g. ceo, developer, qa; 1–64 characters.
    pub role: String,
    #[serde(default)]
    pub department: String,
    /// Default `active`.
    pub status: Option<AgentStatus>,
    /// Default `standard`.
    pub trust_level: Option<TrustLevel>,
    /// Used with trust level `custom`.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// Used with trust level `custom`.
    #[serde(default)]
    pub denied_tools: Vec<String>,
}

/// `PATCH /api/v1/agents/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAgent {
    pub role: Option<String>,
    pub department: Option<String>,
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub allowed_tools: Option<Vec<String>>,
    pub denied_tools: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub role: Option<String>,
    pub department: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /api/v1/tasks`. New tasks start `created`, unassigned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1–256 characters.
    pub title: String,
    /// Up to 65,536 characters.
    #[serde(default)]
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
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `POST /api/v1/tasks/{id}/transitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    pub to: TaskStatus,
    /// The new assignee; only with `to: assigned`.
    pub assigned_to: Option<Uuid>,
    /// The version the client last saw; a different current version is a 409.
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
}

/// The task after a transition and the history entry it produced.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionResult {
    pub task: Task,
    pub transition: TaskTransition,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `POST /api/v1/costs`: one model call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportCost {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub provider: String,
    /// Priced by the catalogue in force (`GET /api/v1/prices`) when it lists the model.
    pub model: String,
    /// Every input token of the call, cached ones included.
    pub input_tokens: u64,
    /// Every output token of the call, reasoning included.
    pub output_tokens: u64,
    /// The part of `input_tokens` read from a prompt cache. Default 0.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// The part of `input_tokens` written to a prompt cache. Default 0.
    #[serde(default)]
    pub cache_write_input_tokens: u64,
    /// The part of `output_tokens` spent reasoning. Default 0.
    #[serde(default)]
    pub reasoning_output_tokens: u64,
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    /// Absent: synthorg computes it from the price catalogue (`cost_source: computed`), or
    /// records 0 with `cost_source: unpriced` when the model is not in it.
    pub cost: Option<Usd>,
    /// Default `productive`.
    pub call_category: Option<CallCategory>,
    /// RFC 3339; default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// A retried report with the same key is recorded once. The `Idempotency-Key` header
    /// may be used instead.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub call_category: Option<CallCategory>,
    pub cost_source: Option<CostSource>,
    /// Exact provider name as reported.
    pub provider: Option<String>,
    /// Exact model name as reported.
    pub model: Option<String>,
    /// RFC 3339 instant (inclusive), on `occurred_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339 instant (exclusive), on `occurred_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>)]
    pub until: Option<OffsetDateTime>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceQuery {
    /// Only this provider's entries (exact name).
    pub provider: Option<String>,
    /// Only the entry with this model name or alias (exact).
    pub model: Option<String>,
}

/// `POST /api/v1/coordination/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRun {
    pub task_id: Option<Uuid>,
    /// Participating agents (1–1000).
    pub agents: Vec<Uuid>,
    /// e.g. centralized, decentralized, hierarchical.
    pub topology: String,
    /// Mean turns per run with several agents; > 0.
    pub turns_mas: f64,
    /// Mean turns per run of the single-agent baseline; > 0.
    pub turns_sas: f64,
    /// Share of successful runs, 0–1.
    pub success_rate: f64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    pub task_id: Option<Uuid>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `POST /api/v1/security/evaluate`: an action an agent is about to take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateAction {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// 1–128 characters, e.g. `shell`, `fs.write`.
    pub tool: String,
    /// e.g. read, write, execute, network, delete, admin.
    pub action_type: String,
    /// The tool call's arguments, any JSON.
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// The verdict on an action.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationResult {
    pub evaluation_id: Uuid,
    pub verdict: Verdict,
    pub risk_level: RiskLevel,
    pub reason: String,
    pub matched_rules: Vec<String>,
    /// With `escalate`: the approval to wait for.
    pub approval_id: Option<Uuid>,
}

impl From<&synthorg_store::EvaluationRecord> for EvaluationResult {
    fn from(record: &synthorg_store::EvaluationRecord) -> Self {
        Self {
            evaluation_id: record.id,
            verdict: record.verdict,
            risk_level: record.risk_level,
            reason: record.reason.clone(),
            matched_rules: record.matched_rules.clone(),
            approval_id: record.approval_id,
        }
    }
}

/// `POST /api/v1/security/scan-output`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanOutput {
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
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    pub status: Option<ApprovalStatus>,
    pub agent_id: Option<Uuid>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `POST /api/v1/approvals/{id}/decision`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    pub decision: Decision,
    pub note: Option<String>,
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub role: Role,
    /// Required for, and only for, role `agent`.
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub label: String,
}

/// A new key. `key` is shown only in this response; synthorg keeps only its hash.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey").field("key", &synthorg_core::security::REDACTED).field("info", &self.info).finish()
    }
}

/// An API key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub role: Role,
    pub agent_id: Option<Uuid>,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&ApiKeyRecord> for KeyInfo {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            role: r.role,
            agent_id: r.agent_id,
            label: r.label.clone(),
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// `GET /api/v1/keys`: a page, like every list.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyInfo>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (liveness), `ready` or `unavailable` (readiness).
    pub status: String,
    pub version: String,
}
