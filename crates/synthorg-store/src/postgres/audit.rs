//! The audit trail in PostgreSQL: one chain for every replica.
//!
//! Appends are serialised in the database: the writer of an event takes a transaction-scoped
//! advisory lock, so the last committed event it then reads is the chain's head, and no other
//! replica appends until its transaction ends. `seq` is a plain primary key, assigned from the
//! head: a gap can only come from a deletion, which verify reports.

use postgres::{GenericClient, Row};
use synthorg_core::audit::{AuditContext, AuditEvent, AuditHead, NewAuditEvent};

use super::{Db, Filter, PostgresStore, col};
use crate::audit::{AuditFilter, action_of, hash_hex, json_value};
use crate::schema::AUDIT_COLUMNS;
use crate::{Page, PageRequest, StoreError};

/// The advisory lock of the chain (a fixed key, beside the budget's `b"synthorg"`).
const AUDIT_LOCK: i64 = i64::from_be_bytes(*b"synthaud");

/// Takes the chain's lock for the rest of the transaction. An audited change whose `before`
/// must not move under it (the budget configuration) takes it before reading.
pub(super) fn lock(db: &mut Db<'_, postgres::Transaction<'_>>) -> Result<(), StoreError> {
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK]).map(|_| ())
}

/// Seals `event` after the chain's head and inserts it, inside the transaction of the change
/// it records.
pub(super) fn append(
    db: &mut Db<'_, postgres::Transaction<'_>>,
    audit: &AuditContext,
    event: NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    if cfg!(feature = "bench-unaudited") {
        return Ok(crate::audit::unaudited(audit, event));
    }
    lock(db)?;
    let head = head(db)?;
    let sealed = event.seal(audit, &head, crate::now());
    db.insert(crate::rows::audit_event(&sealed)?)?;
    Ok(sealed)
}

fn head<C: GenericClient>(db: &mut Db<'_, C>) -> Result<AuditHead, StoreError> {
    db.query_opt("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", &[])?
        .map(|r| Ok(AuditHead { seq: col(&r, 0)?, hash: hash_hex(col(&r, 1)?) }))
        .transpose()
        .map(|h| h.unwrap_or_else(AuditHead::genesis))
}

/// An event from a page row (`seq` first).
fn audit_row(row: &Row) -> Result<AuditEvent, StoreError> {
    let seq: i64 = col(row, 0)?;
    let action: &str = col(row, 4)?;
    Ok(AuditEvent {
        seq,
        id: col(row, 1)?,
        at: col(row, 2)?,
        actor: col(row, 3)?,
        action: action_of(seq, action)?,
        target_type: col(row, 5)?,
        target_id: col(row, 6)?,
        before: json_value(col(row, 7)?),
        after: json_value(col(row, 8)?),
        request_id: col(row, 9)?,
        trace_id: col(row, 10)?,
        prev_hash: hash_hex(col(row, 11)?),
        hash: hash_hex(col(row, 12)?),
    })
}

impl crate::AuditStore for PostgresStore {
    fn append_audit(&self, audit: &AuditContext, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|db| append(db, audit, event.clone()))?;
        Ok(sealed)
    }

    fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, StoreError> {
        self.read(|db| {
            let mut w = Filter::default();
            w.eq("actor", filter.actor.clone())
                .eq("action", filter.action.map(|a| a.as_str()))
                .eq("target_id", filter.target_id.clone());
            if let Some(since) = filter.since {
                w.push("at >= ?", since);
            }
            if let Some(until) = filter.until {
                w.push("at < ?", until);
            }
            w.page(db, "audit_events", AUDIT_COLUMNS, page, audit_row)
        })
    }

    fn audit_head(&self) -> Result<AuditHead, StoreError> {
        self.read(head)
    }
}
