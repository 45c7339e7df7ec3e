//! Wire types of the API: request bodies and query strings (all reject unknown fields) and
//! the responses that are not domain types.

use serde::{Deserialize, Serialize};
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::cost::{CallCategory, CostSource, GenAiOperation};
use synthorg_core::security::{ApprovalStatus, Decision, RiskLevel, Verdict};
use synthorg_core::task::{Task, TaskStatus, TaskTransition};
use synthorg_core::{Role, Usd};
use synthorg_store::ApiKeyRecord;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A tool name in an agent's allow or deny list, in the document only: the lists are
/// `Vec<String>`, whose items the field attributes cannot constrain.
#[derive(Debug)]
pub struct ToolName;

impl utoipa::PartialSchema for ToolName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1–128 characters; a trailing `*` matches by prefix."))
            .min_length(Some(1))
            .max_length(Some(128))
            .pattern(Some(synthorg_core::security::names::visible_line_pattern(true)))
            .into()
    }
}

impl ToSchema for ToolName {}

/// `POST /api/v1/agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Unique regardless of case and width, 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub name: String,
    /// e.g. ceo, developer, qa; 1–64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "<visible, non-blank>")]
    pub role: String,
    #[serde(default)]
    #[schema(max_length = 128, pattern = "<visible>")]
    pub department: String,
    /// Default `active`; an agent cannot be registered `terminated`.
    #[schema(value_type = Option<InitialStatus>)]
    pub status: Option<AgentStatus>,
    /// Default `standard`.
    pub trust_level: Option<TrustLevel>,
    /// Used with trust level `custom`.
    #[serde(default)]
    #[schema(max_items = 256, value_type = Vec<ToolName>)]
    pub allowed_tools: Vec<String>,
    /// Used with trust level `custom`.
    #[serde(default)]
    #[schema(max_items = 256, value_type = Vec<ToolName>)]
    pub denied_tools: Vec<String>,
}

/// The statuses an agent may be registered in, in the document only: every
/// [`AgentStatus`] but `terminated`.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitialStatus {
    Active,
    Onboarding,
    OnLeave,
}

/// `PATCH /api/v1/agents/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAgent {
    #[schema(min_length = 1, max_length = 64, pattern = "<visible, non-blank>")]
    pub role: Option<String>,
    #[schema(max_length = 128, pattern = "<visible>")]
    pub department: Option<String>,
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    #[schema(max_items = 256, value_type = Option<Vec<ToolName>>)]
    pub allowed_tools: Option<Vec<String>>,
    #[schema(max_items = 256, value_type = Option<Vec<ToolName>>)]
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
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

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
}

/// `POST /api/v1/tasks/{id}/transitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    pub to: TaskStatus,
    /// The new assignee; only with `to: assigned`.
    pub assigned_to: Option<Uuid>,
    /// The version the client last saw; a different current version is a 409.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// `POST /api/v1/costs`: one model call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportCost {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: String,
    /// Priced by the catalogue in force (`GET /api/v1/prices`) when it lists the model.
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: String,
    /// Every input token of the call, cached ones included.
    #[serde(deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub input_tokens: u64,
    /// Every output token of the call, reasoning included.
    #[serde(deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub output_tokens: u64,
    /// The part of `input_tokens` read from a prompt cache. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub cache_read_input_tokens: u64,
    /// The part of `input_tokens` written to a prompt cache. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub cache_write_input_tokens: u64,
    /// The part of `output_tokens` spent reasoning. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub reasoning_output_tokens: u64,
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    /// Absent: synthorg computes it from the price catalogue (`cost_source: computed`), or
    /// records 0 with `cost_source: unpriced` when the model is not in it.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub cost: Option<Usd>,
    /// Default `productive`.
    pub call_category: Option<CallCategory>,
    /// The kind of call (`gen_ai.operation.name` on its span and on the
    /// `gen_ai.client.token.usage` metric). Default `chat`. Not stored.
    pub operation: Option<GenAiOperation>,
    /// RFC 3339; default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// A retried report with the same key is recorded once. The `Idempotency-Key` header
    /// may be used instead. 1–128 printable ASCII characters without spaces.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
    /// The reservation the call was made under (`POST /api/v1/budget/reservations`): this
    /// report settles it, and its hold becomes this cost.
    pub reservation_id: Option<Uuid>,
}

/// What to hold: an amount, or the model and token maxima whose worst case synthorg prices
/// from the catalogue (with both, the amount is held and the tokens count against
/// `per_agent_daily_tokens`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub amount: Option<Usd>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: Option<String>,
    /// 1–128 characters; must be in the catalogue when no amount is given.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: Option<String>,
    /// Most input tokens the call may use.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_input_tokens: Option<u64>,
    /// Most output tokens the call may produce.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_output_tokens: Option<u64>,
    /// How long the hold lasts unless settled or released: 1–3600 seconds, default 300.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(minimum = 1, maximum = 3600)]
    pub ttl_seconds: Option<u64>,
}

impl Hold {
    pub fn request(self, agent_id: Uuid, task_id: Option<Uuid>) -> synthorg_core::reservation::NewReservation {
        synthorg_core::reservation::NewReservation {
            agent_id,
            task_id,
            amount: self.amount,
            provider: self.provider,
            model: self.model,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            ttl_seconds: self.ttl_seconds,
        }
    }
}

/// `POST /api/v1/budget/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    pub agent_id: Uuid,
    /// The task the call is for: the hold then counts against `per_task_limit` too.
    pub task_id: Option<Uuid>,
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub amount: Option<Usd>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: Option<String>,
    /// 1–128 characters; must be in the catalogue when no amount is given.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: Option<String>,
    /// Most input tokens the call may use.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_input_tokens: Option<u64>,
    /// Most output tokens the call may produce.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_output_tokens: Option<u64>,
    /// How long the hold lasts unless settled or released: 1–3600 seconds, default 300.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(minimum = 1, maximum = 3600)]
    pub ttl_seconds: Option<u64>,
}

impl CreateReservation {
    /// The hold asked for, apart from whose it is.
    pub fn split(self) -> (Uuid, Option<Uuid>, Hold) {
        let hold = Hold {
            amount: self.amount,
            provider: self.provider,
            model: self.model,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            ttl_seconds: self.ttl_seconds,
        };
        (self.agent_id, self.task_id, hold)
    }
}

/// A granted reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Granted {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// USD held.
    pub amount: Usd,
    /// Tokens held against `per_agent_daily_tokens`.
    pub tokens: u64,
    /// When the hold lapses unless settled or released.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// What the tightest USD scope has left with this hold counted; absent when no USD
    /// limit applies.
    pub remaining: Option<Usd>,
}

impl Granted {
    pub fn of(r: &synthorg_core::reservation::Reservation, remaining: Option<Usd>) -> Self {
        Self {
            id: r.id,
            agent_id: r.agent_id,
            task_id: r.task_id,
            amount: r.amount,
            tokens: r.tokens,
            expires_at: r.expires_at,
            remaining,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    /// With an agent key, default (and only) its own.
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub state: Option<synthorg_core::reservation::ReservationState>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
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
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339 instant (exclusive), on `occurred_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
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

/// `GET /api/v1/budget/remaining`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemainingQuery {
    /// The agent whose daily limit to include; with an agent key, default (and only) its own.
    pub agent_id: Option<Uuid>,
    /// The task whose limit to include; an agent key may ask about tasks assigned to it.
    pub task_id: Option<Uuid>,
}

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
}

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
    /// With `reserve`: the scope the hold did not fit (the verdict is then `deny`).
    pub budget_exhausted: Option<synthorg_core::budget::Exhausted>,
}

impl From<&synthorg_store::EvaluationRecord> for EvaluationResult {
    fn from(record: &synthorg_store::EvaluationRecord) -> Self {
        Self {
            evaluation_id: record.id,
            verdict: record.action,
            policy_verdict: record.verdict,
            mode: synthorg_core::security::SecurityMode::Enforce,
            risk_level: record.risk_level,
            reason: record.reason.clone(),
            matched_rules: record.matched_rules.clone(),
            approval_id: record.approval_id,
            reservation: None,
            budget_exhausted: None,
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
pub struct AuditQuery {
    /// Who made the change: `key:<id>` or `system`.
    pub actor: Option<String>,
    pub action: Option<synthorg_core::audit::AuditAction>,
    /// The changed entity's id (agent, key, approval; `config` for the budget).
    pub target_id: Option<String>,
    /// RFC 3339 instant (inclusive), on `at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339 instant (exclusive), on `at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
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
}

/// `POST /api/v1/approvals/{id}/decision`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    pub decision: Decision,
    pub note: Option<String>,
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub role: Role,
    /// Required for, and only for, role `agent`.
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub label: String,
}

/// The document's description of [`CreateKey`]: one of three objects, as an `agent_id`
/// goes with role `agent` and only with it, which one object schema cannot say. The body
/// is read as [`CreateKey`], whose errors name the field.
#[derive(Debug)]
pub struct CreateKeySchema;

impl utoipa::PartialSchema for CreateKeySchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let label = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Shown in listings and the audit log; up to 128 characters."))
                .max_length(Some(128))
                .pattern(Some(synthorg_core::security::names::visible_line_pattern(false)))
        };
        let variant = |role: Role, title: &str, description: &str| {
            let object = ObjectBuilder::new()
                .title(Some(title))
                .description(Some(description))
                .property("role", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([role.as_str()])))
                .required("role")
                .property("label", label())
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            match role {
                Role::Agent => object
                    .property(
                        "agent_id",
                        ObjectBuilder::new().schema_type(Type::String).format(Some(
                            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
                        )),
                    )
                    .required("agent_id"),
                Role::Admin | Role::Viewer => object,
            }
        };
        OneOfBuilder::new()
            .item(variant(Role::Admin, "CreateAdminKey", "A key that may do everything."))
            .item(variant(Role::Viewer, "CreateViewerKey", "A key that may read everything and change nothing."))
            .item(variant(Role::Agent, "CreateAgentKey", "A key that acts as this agent only."))
            .into()
    }
}

impl ToSchema for CreateKeySchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "CreateKey".into()
    }
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

/// `GET /api/v1/keys/current`: the key making the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentKey {
    pub id: String,
    pub role: Role,
    /// The agent an agent key acts for.
    pub agent_id: Option<Uuid>,
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
