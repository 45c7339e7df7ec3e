//! Filters, pages and records the store reads and writes.

use serde::Serialize;
use synthorg_core::Role;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::cost::CallCategory;
use synthorg_core::event::Event;
use synthorg_core::security::{ApprovalStatus, Assessment, RiskLevel, SecurityAction, Verdict};
use synthorg_core::task::TaskStatus;
use time::OffsetDateTime;
use uuid::Uuid;

/// Largest page a list returns.
pub const MAX_PAGE: u32 = 1000;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;

/// Which page of a list: at most `limit` items after the item whose cursor is `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<i64>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_PAGE, after: None }
    }
}

/// One page of a list, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A write that may have been a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<T> {
    pub value: T,
    /// True when an earlier identical request had already recorded `value`.
    pub replayed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub role: Option<String>,
    pub department: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assigned_to: Option<Uuid>,
    /// Only tasks without an assignee.
    pub unassigned: bool,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct CostFilter {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub call_category: Option<CallCategory>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub task_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct EvaluationFilter {
    pub agent_id: Option<Uuid>,
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    pub status: Option<ApprovalStatus>,
    pub agent_id: Option<Uuid>,
}

/// A security evaluation as kept for audit. Arguments are not kept: they may hold the very
/// secrets the credential detector refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvaluationRecord {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub tool: String,
    pub action_type: String,
    pub verdict: Verdict,
    pub risk_level: RiskLevel,
    pub reason: String,
    pub matched_rules: Vec<String>,
    pub approval_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl EvaluationRecord {
    /// The record of an assessed action (its arguments are left behind).
    pub fn of(action: &SecurityAction, assessment: &Assessment, at: OffsetDateTime) -> Self {
        let evaluation = &assessment.evaluation;
        Self {
            id: assessment.id,
            agent_id: action.agent_id,
            task_id: action.task_id,
            tool: action.tool.clone(),
            action_type: action.action_type.clone(),
            verdict: evaluation.verdict,
            risk_level: evaluation.risk_level,
            reason: evaluation.reason.clone(),
            matched_rules: evaluation.matched_rules.clone(),
            approval_id: assessment.approval.as_ref().map(|a| a.id),
            created_at: at,
        }
    }

    /// The event of this verdict, once recorded.
    pub fn event(&self) -> Event {
        Event::SecurityVerdict {
            agent_id: self.agent_id,
            task_id: self.task_id,
            tool: self.tool.clone(),
            action_type: self.action_type.clone(),
            verdict: self.verdict,
            risk_level: self.risk_level,
            reason: self.reason.clone(),
        }
    }
}

/// An API key as stored: the secret itself is never stored, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public identifier, also the key's prefix (`sk_<id>_…`).
    pub id: String,
    pub secret_hash: [u8; 32],
    pub role: Role,
    pub agent_id: Option<Uuid>,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Prints everything but the hash.
impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("secret_hash", &"**REDACTED**")
            .field("role", &self.role)
            .field("agent_id", &self.agent_id)
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}
