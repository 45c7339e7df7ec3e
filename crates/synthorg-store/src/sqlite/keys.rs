//! API keys: only the SHA-256 of each secret is stored.

use rusqlite::{OptionalExtension, Row, params};
use synthorg_core::audit::{AuditContext, AuditEvent};
use synthorg_core::{DomainError, Role};
use time::OffsetDateTime;

use super::{Filter, SqliteStore, from_ts, insert, opt_uuid, parse_enum, ts};
use crate::schema::KEY_COLUMNS;
use crate::{ApiKeyRecord, Page, PageRequest, StoreError};

fn key_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    key_row_at(row, 0)
}

/// A key from the columns starting at `first` (after a page query's `seq`).
fn key_row_at(row: &Row<'_>, first: usize) -> rusqlite::Result<ApiKeyRecord> {
    let col = |i: usize| first + i;
    let hash: Vec<u8> = row.get(col(1))?;
    Ok(ApiKeyRecord {
        id: row.get(col(0))?,
        secret_hash: hash.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                col(1),
                rusqlite::types::Type::Blob,
                "hash is not 32 bytes".into(),
            )
        })?,
        role: parse_enum(&row.get::<_, String>(col(2))?, Role::parse)?,
        agent_id: opt_uuid(row.get(col(3))?)?,
        label: row.get(col(4))?,
        created_at: from_ts(row.get(col(5))?)?,
        revoked_at: row.get::<_, Option<i64>>(col(6))?.map(from_ts).transpose()?,
    })
}

impl crate::KeyStore for SqliteStore {
    fn create_api_key(&self, key: &ApiKeyRecord, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|tx| {
            if let Some(agent) = key.agent_id
                && super::agents::status_of(tx, agent)?.is_none()
            {
                return Err(DomainError::invalid("agent_id", format!("agent {agent} does not exist")).into());
            }
            insert(tx, crate::rows::key(key))?;
            super::audit::append(tx, audit, key.created_event())
        })?;
        Ok(sealed)
    }

    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], key_row)
                .optional()?)
        })
    }

    fn list_api_keys(&self, page: &PageRequest) -> Result<Page<ApiKeyRecord>, StoreError> {
        self.read(|c| Filter::default().page(c, "api_keys", KEY_COLUMNS, page, |r| key_row_at(r, 1)))
    }

    /// Revoking a revoked key changes nothing and records nothing.
    fn revoke_api_key(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditContext,
    ) -> Result<(ApiKeyRecord, Option<AuditEvent>), StoreError> {
        let (record, sealed) = self.write(|tx| {
            let changed = tx
                .prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
                .execute(params![id, ts(now)])?;
            let record = tx
                .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], key_row)
                .optional()?
                .ok_or_else(|| StoreError::not_found("api key", id))?;
            let sealed =
                if changed > 0 { Some(super::audit::append(tx, audit, record.revoked_event())?) } else { None };
            Ok((record, sealed))
        })?;
        Ok((record, sealed))
    }

    fn active_api_keys(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")?
                .query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
    }
}
