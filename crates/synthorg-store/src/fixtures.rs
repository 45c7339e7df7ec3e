//! Bulk seeding of large stores for benchmarks (feature `bench-fixtures`).
//!
//! Rows are inserted with raw SQL in one transaction; the triggers maintain the aggregates
//! exactly as for API writes, so a seeded store answers like one filled through the API.

use std::path::Path;

use rusqlite::params;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::sqlite::DB_FILE;
use crate::{SqliteOptions, SqliteStore, StoreError};

/// Seeds `agents` agents, `tasks` tasks (spread over statuses and agents) and `costs` cost
/// records (spread over the 60 days before `now`) into a new store in `dir`.
pub fn seed(
    dir: &Path,
    agents: usize,
    tasks: usize,
    costs: usize,
    now: OffsetDateTime,
) -> Result<SqliteStore, StoreError> {
    drop(SqliteStore::open_dir(dir, &SqliteOptions::default())?);
    let mut conn = rusqlite::Connection::open(dir.join(DB_FILE))?;
    conn.execute_batch("PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    let statuses = ["assigned", "in_progress", "in_review", "completed", "blocked"];
    let midnight = crate::sqlite::ts(synthorg_core::budget::day_start(now));
    {
        let mut agent = tx.prepare(
            "INSERT INTO agents (id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at) \
             VALUES (?1, ?2, 'developer', 'engineering', 'active', 'standard', '[]', '[]', 0, 0)",
        )?;
        let mut task = tx.prepare(
            "INSERT INTO tasks (id, title, description, status, assigned_to, created_by, parent_id, version, created_at, updated_at) \
             VALUES (?1, 'task', '', ?2, ?3, 'fixture', NULL, 1, 0, 0)",
        )?;
        let mut cost = tx.prepare(
            "INSERT INTO cost_records (id, agent_id, task_id, provider, model, input_tokens, output_tokens, cost_nanos, call_category, occurred_at, recorded_at) \
             VALUES (?1, ?2, NULL, 'anthropic', 'claude', 1000, 200, 1000, 'productive', ?3, ?3)",
        )?;
        let ids: Vec<String> = (0..agents.max(1)).map(|_| Uuid::now_v7().to_string()).collect();
        for (i, id) in ids.iter().enumerate() {
            agent.execute(params![id, format!("agent-{i}")])?;
        }
        for i in 0..tasks {
            task.execute(params![Uuid::now_v7().to_string(), statuses[i % statuses.len()], ids[i % ids.len()]])?;
        }
        for i in 0..costs {
            let when = midnight - (i as i64 % 60) * 86_400_000_000 + 1;
            cost.execute(params![Uuid::now_v7().to_string(), ids[i % ids.len()], when])?;
        }
    }
    tx.commit()?;
    drop(conn);
    SqliteStore::open_dir(dir, &SqliteOptions::default())
}

/// Seeds `settled` settled reservations (each with its cost record) for one new agent into a
/// new store in `dir`, all made and closed a day before `now`: the history a sweep and an
/// admission must not slow down with. Returns the store and the agent.
pub fn seed_settled_reservations(
    dir: &Path,
    settled: usize,
    now: OffsetDateTime,
) -> Result<(SqliteStore, Uuid), StoreError> {
    drop(SqliteStore::open_dir(dir, &SqliteOptions::default())?);
    let mut conn = rusqlite::Connection::open(dir.join(DB_FILE))?;
    conn.execute_batch("PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    let agent = Uuid::now_v7();
    let yesterday = crate::sqlite::ts(now) - 86_400_000_000;
    {
        tx.execute(
            "INSERT INTO agents (id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at) \
             VALUES (?1, 'reserver', 'developer', 'engineering', 'active', 'standard', '[]', '[]', 0, 0)",
            [agent.to_string()],
        )?;
        let mut cost = tx.prepare(
            "INSERT INTO cost_records (id, agent_id, task_id, provider, model, input_tokens, output_tokens, cost_nanos, call_category, occurred_at, recorded_at, reservation_id) \
             VALUES (?1, ?2, NULL, 'anthropic', 'claude', 1000, 200, 1000, 'productive', ?3, ?3, ?4)",
        )?;
        let mut hold = tx.prepare(
            "INSERT INTO budget_reservations (id, agent_id, task_id, amount_nanos, tokens, provider, model, state, created_at, expires_at, closed_at, cost_record_id, settled_nanos) \
             VALUES (?1, ?2, NULL, 2000, 0, NULL, NULL, 'settled', ?3, ?4, ?3, ?5, 1000)",
        )?;
        for _ in 0..settled {
            let (id, record) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
            cost.execute(params![record, agent.to_string(), yesterday, id])?;
            hold.execute(params![id, agent.to_string(), yesterday, yesterday + 300_000_000, record])?;
        }
    }
    tx.commit()?;
    drop(conn);
    Ok((SqliteStore::open_dir(dir, &SqliteOptions::default())?, agent))
}
