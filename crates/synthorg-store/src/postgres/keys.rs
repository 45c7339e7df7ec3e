//! API keys: only the SHA-256 of each secret is stored.

use postgres::Row;
use synthorg_core::audit::{AuditContext, AuditEvent};
use synthorg_core::{DomainError, Role};
use time::OffsetDateTime;

use super::{Filter, PostgresStore, col, count_col, enum_col};
use crate::schema::KEY_COLUMNS;
use crate::{ApiKeyRecord, Page, PageRequest, StoreError};

fn key_row(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    key_row_at(row, 0)
}

/// A key from the columns starting at `first` (after a page query's `seq`).
fn key_row_at(row: &Row, first: usize) -> Result<ApiKeyRecord, StoreError> {
    let c = |i: usize| first + i;
    let hash: &[u8] = col(row, c(1))?;
    Ok(ApiKeyRecord {
        id: col(row, c(0))?,
        secret_hash: hash.try_into().map_err(|_| StoreError::Internal("stored key hash is not 32 bytes".into()))?,
        role: enum_col(row, c(2), Role::parse)?,
        agent_id: col(row, c(3))?,
        label: col(row, c(4))?,
        created_at: col(row, c(5))?,
        revoked_at: col(row, c(6))?,
    })
}

impl crate::KeyStore for PostgresStore {
    fn create_api_key(&self, key: &ApiKeyRecord, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|db| {
            if let Some(agent) = key.agent_id
                && super::agents::status_of(db, agent)?.is_none()
            {
                return Err(DomainError::invalid("agent_id", format!("agent {agent} does not exist")).into());
            }
            db.insert(crate::rows::key(key))?;
            super::audit::append(db, audit, key.created_event())
        })?;
        Ok(sealed)
    }

    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(|db| {
            db.query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id])?
                .map(|r| key_row(&r))
                .transpose()
        })
    }

    fn list_api_keys(&self, page: &PageRequest) -> Result<Page<ApiKeyRecord>, StoreError> {
        self.read(|db| Filter::default().page(db, "api_keys", KEY_COLUMNS, page, |r| key_row_at(r, 1)))
    }

    /// Revoking a revoked key changes nothing and records nothing.
    fn revoke_api_key(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditContext,
    ) -> Result<(ApiKeyRecord, Option<AuditEvent>), StoreError> {
        let (record, sealed) = self.write(|db| {
            let changed =
                db.execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &now])?;
            let record = db
                .query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id])?
                .map(|r| key_row(&r))
                .transpose()?
                .ok_or_else(|| StoreError::not_found("api key", id))?;
            let sealed =
                if changed > 0 { Some(super::audit::append(db, audit, record.revoked_event())?) } else { None };
            Ok((record, sealed))
        })?;
        Ok((record, sealed))
    }

    fn active_api_keys(&self) -> Result<u64, StoreError> {
        self.read(|db| count_col(&db.query_one("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL", &[])?, 0))
    }
}
