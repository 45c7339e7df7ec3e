//! API keys: only the SHA-256 of each secret is stored.

use rusqlite::{OptionalExtension, Row, params};
use synthorg_core::{DomainError, Role};
use time::OffsetDateTime;

use super::{SqliteStore, from_ts, opt_uuid, parse_enum, ts, uuid_value};
use crate::schema::KEY_COLUMNS;
use crate::{ApiKeyRecord, StoreError};

fn key_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let hash: Vec<u8> = row.get(1)?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        secret_hash: hash.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, "hash is not 32 bytes".into())
        })?,
        role: parse_enum(&row.get::<_, String>(2)?, Role::parse)?,
        agent_id: opt_uuid(row.get(3)?)?,
        label: row.get(4)?,
        created_at: from_ts(row.get(5)?)?,
        revoked_at: row.get::<_, Option<i64>>(6)?.map(from_ts).transpose()?,
    })
}

impl crate::KeyStore for SqliteStore {
    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.write(|tx| {
            if let Some(agent) = key.agent_id
                && super::agents::status_of(tx, agent)?.is_none()
            {
                return Err(DomainError::invalid("agent_id", format!("agent {agent} does not exist")).into());
            }
            tx.prepare_cached(&format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))?
                .execute(params![
                    key.id,
                    key.secret_hash.as_slice(),
                    key.role.as_str(),
                    uuid_value(key.agent_id),
                    key.label,
                    ts(key.created_at),
                    key.revoked_at.map(ts),
                ])?;
            Ok(())
        })
    }

    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], key_row)
                .optional()?)
        })
    }

    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"))?;
            let rows = stmt.query_map([], key_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<ApiKeyRecord, StoreError> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
                .execute(params![id, ts(now)])?;
            tx.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], key_row)
                .optional()?
                .ok_or_else(|| StoreError::not_found("api key", id))
        })
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
