//! The audit trail in SQLite: appended by the writer inside the change's savepoint.

use rusqlite::{Connection, OptionalExtension, Row};
use synthorg_core::audit::{AuditContext, AuditEvent, AuditHead, NewAuditEvent};

use super::{Filter, SqliteStore, from_ts, insert, parse_uuid, ts};
use crate::audit::{AuditFilter, hash_hex, json_value};
use crate::schema::AUDIT_COLUMNS;
use crate::{Page, PageRequest, StoreError};

/// Seals `event` after the last stored one and inserts it, on the writer's connection inside
/// the transaction of the change it records. The writer is the only one, so the last row is
/// the head.
pub(super) fn append(tx: &Connection, audit: &AuditContext, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
    if cfg!(feature = "bench-unaudited") {
        return Ok(crate::audit::unaudited(audit, event));
    }
    let head = tx
        .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")?
        .query_row([], head_row)
        .optional()?
        .unwrap_or_else(AuditHead::genesis);
    let sealed = event.seal(audit, &head, crate::now());
    insert(tx, crate::rows::audit_event(&sealed)?)?;
    Ok(sealed)
}

fn head_row(row: &Row<'_>) -> rusqlite::Result<AuditHead> {
    Ok(AuditHead { seq: row.get(0)?, hash: hash_hex(&row.get::<_, Vec<u8>>(1)?) })
}

/// An event from a page row (`seq` first).
fn audit_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let seq: i64 = row.get(0)?;
    let altered = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("audit event {seq} has an unreadable {what}: it was altered").into(),
        )
    };
    let action: String = row.get(4)?;
    Ok(AuditEvent {
        seq,
        id: parse_uuid(&row.get::<_, String>(1)?).map_err(|_| altered("id"))?,
        at: from_ts(row.get(2)?).map_err(|_| altered("time"))?,
        actor: row.get(3)?,
        action: synthorg_core::audit::AuditAction::parse(&action).ok_or_else(|| altered("action"))?,
        target_type: row.get(5)?,
        target_id: row.get(6)?,
        before: json_value(row.get(7)?),
        after: json_value(row.get(8)?),
        request_id: row.get(9)?,
        trace_id: row.get(10)?,
        prev_hash: hash_hex(&row.get::<_, Vec<u8>>(11)?),
        hash: hash_hex(&row.get::<_, Vec<u8>>(12)?),
    })
}

impl crate::AuditStore for SqliteStore {
    fn append_audit(&self, audit: &AuditContext, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|tx| append(tx, audit, event))?;
        Ok(sealed)
    }

    fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, StoreError> {
        self.read(|c| {
            let mut w = Filter::default();
            w.eq("actor", filter.actor.clone())
                .eq("action", filter.action.map(|a| a.as_str().to_owned()))
                .eq("target_id", filter.target_id.clone());
            if let Some(since) = filter.since {
                w.push("at >= ?", ts(since));
            }
            if let Some(until) = filter.until {
                w.push("at < ?", ts(until));
            }
            w.page(c, "audit_events", AUDIT_COLUMNS, page, audit_row)
        })
    }

    fn audit_head(&self) -> Result<AuditHead, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")?
                .query_row([], head_row)
                .optional()?
                .unwrap_or_else(AuditHead::genesis))
        })
    }
}
