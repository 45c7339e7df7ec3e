//! Aggregates for metrics, read from the trigger-maintained summary tables.
//!
//! Cost since an instant sums whole UTC days — of `cost_day_totals` (a row per day) for the
//! organization, of one agent's rows of `cost_daily` (through its `(agent_id, day)` index)
//! for an agent — and, only when the instant is not midnight, the records of its first
//! partial day through the `occurred_at` index. Billing periods and "today" always start at
//! midnight, so the metrics never touch `cost_records`.

use rusqlite::{Connection, OptionalExtension, Row};
use synthorg_core::Usd;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::security::Verdict;
use synthorg_core::task::TaskStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, parse_enum, parse_uuid};
use crate::aggregates::MODEL_USAGE_SUMS;
use crate::{ModelUsage, StoreError, split_days};

/// Spend since `since`, of one agent or of all.
pub(super) fn cost_since(c: &Connection, since: OffsetDateTime, agent: Option<Uuid>) -> Result<Usd, StoreError> {
    let (first_day, partial) = split_days(since);
    let agent = agent.map(|a| a.to_string());
    let mut nanos: i64 = match &agent {
        None => c
            .prepare_cached("SELECT COALESCE(SUM(nanos), 0) FROM cost_day_totals WHERE day >= ?1")?
            .query_row([first_day], |r| r.get(0))?,
        Some(agent) => c
            .prepare_cached("SELECT COALESCE(SUM(nanos), 0) FROM cost_daily WHERE agent_id = ?2 AND day >= ?1")?
            .query_row(rusqlite::params![first_day, agent], |r| r.get(0))?,
    };
    if let Some((from, to)) = partial {
        let part: i64 = c
            .prepare_cached(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_records \
                 WHERE occurred_at >= ?1 AND occurred_at < ?2 AND (?3 IS NULL OR agent_id = ?3)",
            )?
            .query_row(rusqlite::params![from, to, agent], |r| r.get(0))?;
        nanos = nanos.checked_add(part).ok_or_else(|| StoreError::Internal("cost sum overflow".into()))?;
    }
    Ok(Usd::from_nanos(nanos))
}

/// Tokens (input + output) of `agent` since `since`.
pub(super) fn tokens_since(c: &Connection, since: OffsetDateTime, agent: Uuid) -> Result<u64, StoreError> {
    let (first_day, partial) = split_days(since);
    let agent = agent.to_string();
    let mut tokens: i64 = c
        .prepare_cached("SELECT COALESCE(SUM(tokens), 0) FROM cost_daily WHERE agent_id = ?2 AND day >= ?1")?
        .query_row(rusqlite::params![first_day, agent], |r| r.get(0))?;
    if let Some((from, to)) = partial {
        let part: i64 = c
            .prepare_cached(
                "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM cost_records \
                 WHERE occurred_at >= ?1 AND occurred_at < ?2 AND agent_id = ?3",
            )?
            .query_row(rusqlite::params![from, to, agent], |r| r.get(0))?;
        tokens = tokens.saturating_add(part);
    }
    Ok(tokens.max(0) as u64)
}

/// Tokens (input + output) per agent since `since`.
pub(super) fn agent_tokens_since(c: &Connection, since: OffsetDateTime) -> Result<Vec<(Uuid, u64)>, StoreError> {
    let (first_day, partial) = split_days(since);
    let mut sql =
        String::from("SELECT agent_id, SUM(tokens) FROM (SELECT agent_id, tokens FROM cost_daily WHERE day >= ?1");
    if partial.is_some() {
        sql.push_str(
            " UNION ALL SELECT agent_id, input_tokens + output_tokens FROM cost_records \
             WHERE occurred_at >= ?2 AND occurred_at < ?3",
        );
    }
    sql.push_str(") GROUP BY agent_id ORDER BY agent_id");
    let (from, to) = partial.unwrap_or((0, 0));
    let mut stmt = c.prepare_cached(&sql)?;
    let params: Vec<i64> = if partial.is_some() { vec![first_day, from, to] } else { vec![first_day] };
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((parse_uuid(&r.get::<_, String>(0)?)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn agent_cost_since(c: &Connection, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError> {
    let (first_day, partial) = split_days(since);
    let mut sql =
        String::from("SELECT agent_id, SUM(nanos) FROM (SELECT agent_id, nanos FROM cost_daily WHERE day >= ?1");
    if partial.is_some() {
        sql.push_str(
            " UNION ALL SELECT agent_id, cost_nanos FROM cost_records WHERE occurred_at >= ?2 AND occurred_at < ?3",
        );
    }
    sql.push_str(") GROUP BY agent_id ORDER BY agent_id");
    let (from, to) = partial.unwrap_or((0, 0));
    let mut stmt = c.prepare_cached(&sql)?;
    let params: Vec<i64> = if partial.is_some() { vec![first_day, from, to] } else { vec![first_day] };
    let rows = stmt.query_map(rusqlite::params_from_iter(params), agent_amount)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Runs a parameterless query and maps every row.
fn rows<T>(c: &Connection, sql: &str, map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([], map)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Maps a `(text, text, count)` row through two enum parsers.
fn counted<A, B>(r: &Row<'_>, a: fn(&str) -> Option<A>, b: fn(&str) -> Option<B>) -> rusqlite::Result<(A, B, u64)> {
    Ok((
        parse_enum(&r.get::<_, String>(0)?, a)?,
        parse_enum(&r.get::<_, String>(1)?, b)?,
        r.get::<_, i64>(2)?.max(0) as u64,
    ))
}

fn agent_amount(r: &Row<'_>) -> rusqlite::Result<(Uuid, Usd)> {
    Ok((parse_uuid(&r.get::<_, String>(0)?)?, Usd::from_nanos(r.get(1)?)))
}

impl crate::AggregateStore for SqliteStore {
    fn origin(&self) -> Result<OffsetDateTime, StoreError> {
        use crate::aggregates::{ORIGIN_KEY, Origin};
        let stored: Option<String> = self.read(|c| {
            Ok(c.prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                .query_row([ORIGIN_KEY], |r| r.get(0))
                .optional()?)
        })?;
        let value = match stored {
            Some(value) => value,
            None => self.write(|tx| {
                tx.prepare_cached("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")?
                    .execute([ORIGIN_KEY, &serde_json::to_string(&Origin::now())?])?;
                Ok(tx
                    .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                    .query_row([ORIGIN_KEY], |r| r.get::<_, String>(0))?)
            })?,
        };
        serde_json::from_str::<Origin>(&value)?.at()
    }

    fn agent_counts(&self) -> Result<Vec<(AgentStatus, TrustLevel, u64)>, StoreError> {
        self.read(|c| {
            rows(c, "SELECT status, trust_level, n FROM agent_counts ORDER BY status, trust_level", |r| {
                counted(r, AgentStatus::parse, TrustLevel::parse)
            })
        })
    }

    fn task_counts(&self) -> Result<Vec<(TaskStatus, Option<Uuid>, u64)>, StoreError> {
        // Zero rows are dropped: a series for a (status, agent) pair that no longer has tasks
        // would otherwise live forever.
        self.read(|c| {
            rows(c, "SELECT status, assignee, n FROM task_counts WHERE n > 0 ORDER BY status, assignee", |r| {
                let assignee: String = r.get(1)?;
                let assignee = if assignee.is_empty() { None } else { Some(parse_uuid(&assignee)?) };
                Ok((
                    parse_enum(&r.get::<_, String>(0)?, TaskStatus::parse)?,
                    assignee,
                    r.get::<_, i64>(2)?.max(0) as u64,
                ))
            })
        })
    }

    fn transition_counts(&self) -> Result<Vec<(TaskStatus, TaskStatus, u64)>, StoreError> {
        self.read(|c| {
            rows(c, "SELECT from_status, to_status, n FROM transition_counts ORDER BY from_status, to_status", |r| {
                counted(r, TaskStatus::parse, TaskStatus::parse)
            })
        })
    }

    fn total_cost(&self) -> Result<Usd, StoreError> {
        self.read(|c| {
            let nanos: i64 =
                c.prepare_cached("SELECT nanos FROM cost_totals WHERE id = 1")?.query_row([], |r| r.get(0))?;
            Ok(Usd::from_nanos(nanos))
        })
    }

    fn cost_since(&self, since: OffsetDateTime) -> Result<Usd, StoreError> {
        self.read(|c| cost_since(c, since, None))
    }

    fn agent_cost_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError> {
        self.read(|c| agent_cost_since(c, since))
    }

    fn agent_cost_totals(&self) -> Result<Vec<(Uuid, Usd)>, StoreError> {
        self.read(|c| rows(c, "SELECT agent_id, nanos FROM agent_cost_totals ORDER BY agent_id", agent_amount))
    }

    fn pending_approvals(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")?
                .query_row([], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    fn verdict_counts(&self) -> Result<Vec<(Verdict, u64)>, StoreError> {
        self.read(|c| {
            rows(c, "SELECT verdict, n FROM verdict_counts WHERE n > 0 ORDER BY verdict", |r| {
                Ok((parse_enum(&r.get::<_, String>(0)?, Verdict::parse)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
        })
    }

    fn oldest_pending_approval(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        // Approvals are numbered in the order they open: the first pending one by the
        // (status, seq) index is the oldest.
        self.read(|c| {
            let at: Option<i64> = c
                .prepare_cached("SELECT created_at FROM approvals WHERE status = 'pending' ORDER BY seq LIMIT 1")?
                .query_row([], |r| r.get(0))
                .optional()?;
            Ok(at.map(super::from_ts).transpose()?)
        })
    }

    fn model_usage(&self) -> Result<Vec<ModelUsage>, StoreError> {
        let sql =
            format!("SELECT provider, model, {} FROM model_usage ORDER BY first_seq", MODEL_USAGE_SUMS.join(", "));
        self.read(|c| {
            rows(c, &sql, |r| {
                let mut sums = [0i64; MODEL_USAGE_SUMS.len()];
                for (i, sum) in sums.iter_mut().enumerate() {
                    *sum = r.get(i + 2)?;
                }
                Ok(ModelUsage::from_sums(r.get(0)?, r.get(1)?, sums))
            })
        })
    }
}
