//! Approvals: escalated actions waiting for an admin's decision.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::RiskLevel;
use crate::text::check_len;
use crate::{Actor, DomainError, string_enum};

string_enum! {
    /// Where an approval stands. Only `pending` may change, once.
    pub enum ApprovalStatus {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
    }
}

string_enum! {
    /// An admin's decision on a pending approval.
    pub enum Decision {
        Approve => "approve",
        Reject => "reject",
    }
}

/// An admin's decision on a pending approval, with an optional note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    pub decision: Decision,
    pub note: Option<String>,
}

/// An escalated action and its decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub id: Uuid,
    pub evaluation_id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub tool: String,
    pub action_type: String,
    /// The action's arguments with secret-named fields redacted.
    pub arguments: serde_json::Value,
    pub reason: String,
    pub risk_level: RiskLevel,
    pub status: ApprovalStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
}

impl Approval {
    /// Applies an admin's decision. A decided approval cannot be decided again (409).
    pub fn decide(
        &self,
        decision: Decision,
        note: Option<String>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Approval, DomainError> {
        crate::authorize::admin(actor)?;
        if self.status != ApprovalStatus::Pending {
            return Err(DomainError::Conflict(format!(
                "approval {} is already {}; only pending approvals can be decided",
                self.id, self.status
            )));
        }
        if let Some(note) = &note {
            let mut errors = Vec::new();
            check_len(&mut errors, "note", note, 0, 1024);
            DomainError::check(errors)?;
        }
        let status = match decision {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
        };
        Ok(Approval {
            status,
            decided_at: Some(now),
            decided_by: Some(actor.label()),
            decision_note: note,
            ..self.clone()
        })
    }
}
