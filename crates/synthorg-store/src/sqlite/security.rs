//! Security evaluations (audit) and approvals.

use rusqlite::{Connection, OptionalExtension, Row, params};
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::security::{Approval, ApprovalStatus, DecisionRequest, RiskLevel, Verdict};
use synthorg_core::{Actor, DomainError};
use uuid::Uuid;

use super::{Filter, SqliteStore, from_ts, insert, json_col, opt_uuid, parse_enum, parse_uuid, ts, uuid_value};
use crate::schema::{APPROVAL_COLUMNS, EVALUATION_COLUMNS};
use crate::{ApprovalFilter, EvaluationFilter, EvaluationRecord, Page, PageRequest, StoreError};

fn evaluation_row(row: &Row<'_>) -> rusqlite::Result<EvaluationRecord> {
    Ok(EvaluationRecord {
        id: parse_uuid(&row.get::<_, String>(1)?)?,
        agent_id: parse_uuid(&row.get::<_, String>(2)?)?,
        task_id: opt_uuid(row.get(3)?)?,
        tool: row.get(4)?,
        action_type: row.get(5)?,
        verdict: parse_enum(&row.get::<_, String>(6)?, Verdict::parse)?,
        risk_level: parse_enum(&row.get::<_, String>(7)?, RiskLevel::parse)?,
        reason: row.get(8)?,
        matched_rules: json_col(&row.get::<_, String>(9)?)?,
        approval_id: opt_uuid(row.get(10)?)?,
        created_at: from_ts(row.get(11)?)?,
        action: match row.get::<_, Option<String>>(12)? {
            Some(action) => parse_enum(&action, Verdict::parse)?,
            None => parse_enum(&row.get::<_, String>(6)?, Verdict::parse)?,
        },
    })
}

fn approval_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Approval> {
    let col = |i: usize| first + i;
    Ok(Approval {
        id: parse_uuid(&row.get::<_, String>(col(0))?)?,
        evaluation_id: parse_uuid(&row.get::<_, String>(col(1))?)?,
        agent_id: parse_uuid(&row.get::<_, String>(col(2))?)?,
        task_id: opt_uuid(row.get(col(3))?)?,
        tool: row.get(col(4))?,
        action_type: row.get(col(5))?,
        arguments: json_col(&row.get::<_, String>(col(6))?)?,
        reason: row.get(col(7))?,
        risk_level: parse_enum(&row.get::<_, String>(col(8))?, RiskLevel::parse)?,
        status: parse_enum(&row.get::<_, String>(col(9))?, ApprovalStatus::parse)?,
        created_at: from_ts(row.get(col(10))?)?,
        decided_at: row.get::<_, Option<i64>>(col(11))?.map(from_ts).transpose()?,
        decided_by: row.get(col(12))?,
        decision_note: row.get(col(13))?,
    })
}

fn load_approval(c: &Connection, id: Uuid) -> Result<Approval, StoreError> {
    c.prepare_cached(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"))?
        .query_row([id.to_string()], |r| approval_row(r, 0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("approval", id))
}

impl crate::SecurityStore for SqliteStore {
    fn record_evaluation(
        &self,
        e: &EvaluationRecord,
        approval: Option<&Approval>,
        audit: &AuditContext,
    ) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|tx| {
            if super::agents::status_of(tx, e.agent_id)?.is_none() {
                return Err(DomainError::invalid("agent_id", format!("agent {} does not exist", e.agent_id)).into());
            }
            insert(tx, crate::rows::evaluation(e)?)?;
            if let Some(a) = approval {
                insert(tx, crate::rows::approval(a)?)?;
            }
            super::audit::append(tx, audit, e.audit_event())
        })?;
        Ok(sealed)
    }

    fn list_evaluations(
        &self,
        filter: &EvaluationFilter,
        page: &PageRequest,
    ) -> Result<Page<EvaluationRecord>, StoreError> {
        self.read(|c| {
            Filter::default()
                .eq("agent_id", uuid_value(filter.agent_id))
                .eq("verdict", filter.verdict.map(|v| v.as_str().to_owned()))
                .page(c, "security_evaluations", EVALUATION_COLUMNS, page, evaluation_row)
        })
    }

    fn get_approval(&self, id: Uuid) -> Result<Approval, StoreError> {
        self.read(|c| load_approval(c, id))
    }

    fn list_approvals(&self, filter: &ApprovalFilter, page: &PageRequest) -> Result<Page<Approval>, StoreError> {
        self.read(|c| {
            Filter::default()
                .eq("status", filter.status.map(|s| s.as_str().to_owned()))
                .eq("agent_id", uuid_value(filter.agent_id))
                .page(c, "approvals", APPROVAL_COLUMNS, page, |r| approval_row(r, 1))
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
        let (decided, sealed) = self.write(|tx| {
            let current = load_approval(tx, id)?;
            let decided = current.decide(request.decision, request.note.clone(), by, at)?;
            tx.prepare_cached(
                "UPDATE approvals SET status = ?2, decided_at = ?3, decided_by = ?4, decision_note = ?5 \
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![
                id.to_string(),
                decided.status.as_str(),
                decided.decided_at.map(ts),
                decided.decided_by,
                decided.decision_note,
            ])?;
            let sealed = super::audit::append(tx, audit, NewAuditEvent::approval_decided(&current, &decided))?;
            Ok((decided, sealed))
        })?;
        Ok((decided, sealed))
    }
}
