//! Security evaluations and approvals: the store's side.

use serde::Serialize;
use synthorg_core::Actor;
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::event::Event;
use synthorg_core::security::{
    Approval, ApprovalStatus, Assessment, DecisionRequest, RiskLevel, SecurityAction, Verdict,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

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
    /// What the answer did: the verdict, or `allow` for a rules' `deny` or `escalate` in
    /// shadow mode.
    pub action: Verdict,
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
            action: assessment.action,
        }
    }

    /// The audit event of this verdict: what was asked and what was decided, never the
    /// arguments.
    /// Absent ids are left out: every audited verdict is a row, and bytes are its cost.
    pub fn audit_event(&self) -> NewAuditEvent {
        let mut after = serde_json::json!({
            "evaluation_id": self.id,
            "tool": self.tool,
            "action_type": self.action_type,
            "verdict": self.verdict,
            "action": self.action,
            "risk_level": self.risk_level,
            "reason": self.reason,
            "matched_rules": self.matched_rules,
        });
        if let Some(task) = self.task_id {
            after["task_id"] = serde_json::json!(task);
        }
        if let Some(approval) = self.approval_id {
            after["approval_id"] = serde_json::json!(approval);
        }
        NewAuditEvent::security_verdict(self.agent_id, after)
    }

    /// The event of this verdict, once recorded.
    pub fn event(&self) -> Event {
        Event::SecurityVerdict {
            agent_id: self.agent_id,
            task_id: self.task_id,
            tool: self.tool.clone(),
            action_type: self.action_type.clone(),
            verdict: self.verdict,
            action: self.action,
            risk_level: self.risk_level,
            reason: self.reason.clone(),
        }
    }
}

pub trait SecurityStore {
    /// Records an evaluation; when `approval` is given (an escalation) it is created in the
    /// same transaction.
    fn record_evaluation(
        &self,
        evaluation: &EvaluationRecord,
        approval: Option<&Approval>,
        audit: &AuditContext,
    ) -> Result<AuditEvent, StoreError>;
    fn list_evaluations(
        &self,
        filter: &EvaluationFilter,
        page: &PageRequest,
    ) -> Result<Page<EvaluationRecord>, StoreError>;
    fn get_approval(&self, id: Uuid) -> Result<Approval, StoreError>;
    fn list_approvals(&self, filter: &ApprovalFilter, page: &PageRequest) -> Result<Page<Approval>, StoreError>;
    fn decide_approval(
        &self,
        id: Uuid,
        request: &DecisionRequest,
        by: &Actor,
        audit: &AuditContext,
    ) -> Result<(Approval, AuditEvent), StoreError>;
}
