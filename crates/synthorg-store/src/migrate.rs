//! Moving an embedded SQLite store to PostgreSQL (`synthorg store migrate`).
//!
//! Every table is copied row by row in its original order, in one PostgreSQL transaction:
//! either the whole store arrives or nothing does. The target's triggers rebuild the
//! aggregates from the copied rows, and the copy is then verified by comparing the
//! aggregates the metrics read on both sides. The target must be empty, so a second run
//! cannot duplicate anything.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::types::Value;
use time::OffsetDateTime;

use crate::postgres::PostgresStore;
use crate::schema::Kind::*;
use crate::schema::{Kind, TABLES};
use crate::{PostgresOptions, SqliteOptions, SqliteStore, Store, StoreError};

/// What a migration copied: rows per table, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub tables: Vec<(&'static str, u64)>,
}

/// Copies the SQLite store in `data_dir` into the (empty) PostgreSQL database at `url`, then
/// verifies that both report the same aggregates.
pub fn sqlite_to_postgres(
    data_dir: &Path,
    url: &str,
    options: &PostgresOptions,
) -> Result<MigrationReport, StoreError> {
    let db_file = data_dir.join(crate::sqlite::DB_FILE);
    if !db_file.exists() {
        return Err(StoreError::NotFound { entity: "SQLite store", id: db_file.display().to_string() });
    }
    // Opening applies the source's own pending migrations, so its tables are the current ones.
    let source = SqliteStore::open(&db_file, &SqliteOptions { readers: 1, ..Default::default() })?;
    let target = PostgresStore::connect(url, options)?;
    let reader = rusqlite::Connection::open_with_flags(&db_file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables = target.write(|db| {
        let held: i64 = crate::postgres::col(
            &db.query_one(
                "SELECT (SELECT COUNT(*) FROM agents) + (SELECT COUNT(*) FROM tasks) \
                 + (SELECT COUNT(*) FROM api_keys) + (SELECT COUNT(*) FROM settings WHERE key <> 'origin') \
                 + (SELECT COUNT(*) FROM audit_events)",
                &[],
            )?,
            0,
        )?;
        if held > 0 {
            return Err(StoreError::Domain(synthorg_core::DomainError::Conflict(
                "the target database already holds synthorg data; migrate into an empty database or schema".into(),
            )));
        }
        // A server started on the empty target wrote its origin; the source's, which its
        // totals count from, replaces it.
        db.execute("DELETE FROM settings WHERE key = 'origin'", &[])?;
        let mut copied = Vec::new();
        for (table, columns) in TABLES {
            copied.push((*table, copy_table(&reader, db, table, columns)?));
        }
        Ok(copied)
    })?;
    verify(&source, &target)?;
    Ok(MigrationReport { tables })
}

fn copy_table<C: postgres::GenericClient>(
    reader: &rusqlite::Connection,
    db: &mut crate::postgres::Db<'_, C>,
    table: &str,
    columns: &[(&str, Kind)],
) -> Result<u64, StoreError> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let order = if table == "settings" { "key" } else { "seq" };
    let mut select = reader.prepare(&format!("SELECT {} FROM {table} ORDER BY {order}", names.join(", ")))?;
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let insert = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), placeholders.join(", "));
    let mut rows = select.query([])?;
    let mut copied = 0;
    while let Some(row) = rows.next()? {
        let values = columns
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| convert(row.get::<_, Value>(i)?, *kind, table, name))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        db.execute(&insert, &params)?;
        copied += 1;
    }
    Ok(copied)
}

/// One SQLite value as the PostgreSQL value of its column's kind (NULL stays NULL).
fn convert(value: Value, kind: Kind, table: &str, column: &str) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    let bad = || StoreError::Internal(format!("{table}.{column}: unexpected stored value"));
    Ok(match (kind, value) {
        (Text, Value::Null) => Box::new(None::<String>),
        (Uuid, Value::Null) => Box::new(None::<uuid::Uuid>),
        (Micros, Value::Null) => Box::new(None::<OffsetDateTime>),
        (Int, Value::Null) => Box::new(None::<i64>),
        (Bool, Value::Null) => Box::new(None::<bool>),
        (Real, Value::Null) => Box::new(None::<f64>),
        (Json, Value::Null) => Box::new(None::<postgres::types::Json<serde_json::Value>>),
        (Blob, Value::Null) => Box::new(None::<Vec<u8>>),
        (Text, Value::Text(s)) => Box::new(s),
        (Uuid, Value::Text(s)) => Box::new(uuid::Uuid::parse_str(&s).map_err(|_| bad())?),
        (Micros, Value::Integer(micros)) => {
            Box::new(OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).map_err(|_| bad())?)
        }
        (Int, Value::Integer(n)) => Box::new(n),
        (Bool, Value::Integer(n)) => Box::new(n != 0),
        (Real, Value::Real(x)) => Box::new(x),
        (Real, Value::Integer(n)) => Box::new(n as f64),
        (Json, Value::Text(s)) => Box::new(postgres::types::Json(serde_json::from_str::<serde_json::Value>(&s)?)),
        (Blob, Value::Blob(b)) => Box::new(b),
        _ => return Err(bad()),
    })
}

/// Both stores must report the same organization: the aggregates the metrics read, and the
/// number of keys.
fn verify(source: &dyn Store, target: &dyn Store) -> Result<(), StoreError> {
    let differs = |what: &str| StoreError::Internal(format!("verification failed: {what} differ after the copy"));
    if source.agent_counts()?.into_iter().filter(|c| c.2 > 0).collect::<Vec<_>>()
        != target.agent_counts()?.into_iter().filter(|c| c.2 > 0).collect::<Vec<_>>()
    {
        return Err(differs("agents per status and trust level"));
    }
    if source.task_counts()? != target.task_counts()? {
        return Err(differs("tasks per status and assignee"));
    }
    if source.transition_counts()? != target.transition_counts()? {
        return Err(differs("transition counts"));
    }
    if source.total_cost()? != target.total_cost()? || source.agent_cost_totals()? != target.agent_cost_totals()? {
        return Err(differs("cost totals"));
    }
    if source.model_usage()? != target.model_usage()? {
        return Err(differs("totals per provider and model"));
    }
    if source.pending_approvals()? != target.pending_approvals()? {
        return Err(differs("pending approvals"));
    }
    if crate::all_pages(|p| source.list_api_keys(p))? != crate::all_pages(|p| target.list_api_keys(p))? {
        return Err(differs("API keys"));
    }
    Ok(())
}
