//! Security evaluations (audit) and approvals.

use postgres::{GenericClient, Row};
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::security::{Approval, ApprovalStatus, DecisionRequest, RiskLevel, Verdict};
use synthorg_core::{Actor, DomainError};
use uuid::Uuid;

use super::{Db, Filter, PostgresStore, col, enum_col, json_col, statement};
use crate::schema::{APPROVAL_COLUMNS, EVALUATION_COLUMNS};
use crate::{ApprovalFilter, EvaluationFilter, EvaluationRecord, Page, PageRequest, StoreError};

fn evaluation_row(row: &Row) -> Result<EvaluationRecord, StoreError> {
    Ok(EvaluationRecord {
        id: col(row, 1)?,
        agent_id: col(row, 2)?,
        task_id: col(row, 3)?,
        tool: col(row, 4)?,
        action_type: col(row, 5)?,
        verdict: enum_col(row, 6, Verdict::parse)?,
        risk_level: enum_col(row, 7, RiskLevel::parse)?,
        reason: col(row, 8)?,
        matched_rules: json_col(row, 9)?,
        approval_id: col(row, 10)?,
        created_at: col(row, 11)?,
        action: match col::<Option<&str>>(row, 12)? {
            Some(action) => Verdict::parse(action)
                .ok_or_else(|| StoreError::Internal(format!("unknown stored value {action:?}")))?,
            None => enum_col(row, 6, Verdict::parse)?,
        },
    })
}

fn approval_row(row: &Row, first: usize) -> Result<Approval, StoreError> {
    let c = |i: usize| first + i;
    Ok(Approval {
        id: col(row, c(0))?,
        evaluation_id: col(row, c(1))?,
        agent_id: col(row, c(2))?,
        task_id: col(row, c(3))?,
        tool: col(row, c(4))?,
        action_type: col(row, c(5))?,
        arguments: json_col(row, c(6))?,
        reason: col(row, c(7))?,
        risk_level: enum_col(row, c(8), RiskLevel::parse)?,
        status: enum_col(row, c(9), ApprovalStatus::parse)?,
        created_at: col(row, c(10))?,
        decided_at: col(row, c(11))?,
        decided_by: col(row, c(12))?,
        decision_note: col(row, c(13))?,
    })
}

fn load_approval<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid, lock: bool) -> Result<Approval, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    db.query_opt(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1{lock}"), &[&id])?
        .map(|r| approval_row(&r, 0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("approval", id))
}

impl crate::SecurityStore for PostgresStore {
    fn record_evaluation(
        &self,
        e: &EvaluationRecord,
        approval: Option<&Approval>,
        audit: &AuditContext,
    ) -> Result<AuditEvent, StoreError> {
        let unknown_agent = || -> StoreError {
            DomainError::invalid("agent_id", format!("agent {} does not exist", e.agent_id)).into()
        };
        // The verdict, its approval (an escalation) and its audit event: one transaction.
        let sealed = self.write(|db| {
            let evaluation = statement(crate::rows::evaluation(e)?)?;
            let sql = format!(
                "{} WHERE EXISTS (SELECT 1 FROM agents WHERE id = {})",
                evaluation.select_sql(),
                evaluation.mark("agent_id")
            );
            if db.execute_statement(&sql, &evaluation)? == 0 {
                return Err(unknown_agent());
            }
            let Some(a) = approval else { return super::audit::append(db, audit, e.audit_event()) };
            db.insert(crate::rows::approval(a)?)?;
            super::audit::append(db, audit, e.audit_event())
        })?;
        Ok(sealed)
    }

    fn list_evaluations(
        &self,
        filter: &EvaluationFilter,
        page: &PageRequest,
    ) -> Result<Page<EvaluationRecord>, StoreError> {
        self.read(|db| {
            Filter::default().eq("agent_id", filter.agent_id).eq("verdict", filter.verdict.map(|v| v.as_str())).page(
                db,
                "security_evaluations",
                EVALUATION_COLUMNS,
                page,
                evaluation_row,
            )
        })
    }

    fn get_approval(&self, id: Uuid) -> Result<Approval, StoreError> {
        self.read(|db| load_approval(db, id, false))
    }

    fn list_approvals(&self, filter: &ApprovalFilter, page: &PageRequest) -> Result<Page<Approval>, StoreError> {
        self.read(|db| {
            Filter::default().eq("status", filter.status.map(|s| s.as_str())).eq("agent_id", filter.agent_id).page(
                db,
                "approvals",
                APPROVAL_COLUMNS,
                page,
                |r| approval_row(r, 1),
            )
        })
    }

    fn decide_approval(
        &self,
        id: Uuid,
        request: &DecisionRequest,
        by: &Actor,
        audit: &AuditContext,
    ) -> Result<(Approval, AuditEvent), StoreError> {
        let at = crate::now();
        let (decided, sealed) = self.write(|db| {
            // FOR UPDATE: two admins deciding at once through two replicas are decided in
            // turn, and the second sees the first decision (a conflict in the domain rule).
            let current = load_approval(db, id, true)?;
            let decided = current.decide(request.decision, request.note.clone(), by, at)?;
            db.execute(
                "UPDATE approvals SET status = $2, decided_at = $3, decided_by = $4, decision_note = $5 \
                 WHERE id = $1 AND status = 'pending'",
                &[&id, &decided.status.as_str(), &decided.decided_at, &decided.decided_by, &decided.decision_note],
            )?;
            let sealed = super::audit::append(db, audit, NewAuditEvent::approval_decided(&current, &decided))?;
            Ok((decided, sealed))
        })?;
        Ok((decided, sealed))
    }
}
