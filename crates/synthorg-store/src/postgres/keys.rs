//! API keys: only the SHA-256 of each secret is stored.

use postgres::Row;
use synthorg_core::{DomainError, Role};
use time::OffsetDateTime;

use super::{PostgresStore, col, count_col, enum_col};
use crate::schema::KEY_COLUMNS;
use crate::{ApiKeyRecord, StoreError};

fn key_row(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let hash: &[u8] = col(row, 1)?;
    Ok(ApiKeyRecord {
        id: col(row, 0)?,
        secret_hash: hash.try_into().map_err(|_| StoreError::Internal("stored key hash is not 32 bytes".into()))?,
        role: enum_col(row, 2, Role::parse)?,
        agent_id: col(row, 3)?,
        label: col(row, 4)?,
        created_at: col(row, 5)?,
        revoked_at: col(row, 6)?,
    })
}

impl crate::KeyStore for PostgresStore {
    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.write(|db| {
            if let Some(agent) = key.agent_id
                && super::agents::status_of(db, agent)?.is_none()
            {
                return Err(DomainError::invalid("agent_id", format!("agent {agent} does not exist")).into());
            }
            db.execute(
                &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                &[
                    &key.id,
                    &key.secret_hash.as_slice(),
                    &key.role.as_str(),
                    &key.agent_id,
                    &key.label,
                    &key.created_at,
                    &key.revoked_at,
                ],
            )?;
            Ok(())
        })
    }

    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(|db| {
            db.query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id])?
                .map(|r| key_row(&r))
                .transpose()
        })
    }

    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(|db| {
            db.query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"), &[])?.iter().map(key_row).collect()
        })
    }

    fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<ApiKeyRecord, StoreError> {
        self.write(|db| {
            db.execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &now])?;
            db.query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id])?
                .map(|r| key_row(&r))
                .transpose()?
                .ok_or_else(|| StoreError::not_found("api key", id))
        })
    }

    fn active_api_keys(&self) -> Result<u64, StoreError> {
        self.read(|db| count_col(&db.query_one("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL", &[])?, 0))
    }
}
