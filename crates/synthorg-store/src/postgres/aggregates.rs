//! Aggregates for metrics, read from the trigger-maintained summary tables; each query costs
//! time proportional to the series it returns (sharded counters: 16 rows a series).

use postgres::{GenericClient, Row};
use synthorg_core::Usd;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::security::Verdict;
use synthorg_core::task::TaskStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, PostgresStore, col, count_col, enum_col};
use crate::aggregates::MODEL_USAGE_SUMS;
use crate::{ModelUsage, StoreError, split_days};

fn instant(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| StoreError::Internal(format!("instant out of range: {e}")))
}

/// Spend since `since`, of one agent or of all: whole days from `cost_day_totals` (all) or
/// the agent's rows of `cost_daily`, and the records of a partial first day through the
/// `occurred_at` index.
pub(super) fn cost_since<C: GenericClient>(
    db: &mut Db<'_, C>,
    since: OffsetDateTime,
    agent: Option<Uuid>,
) -> Result<Usd, StoreError> {
    let (first_day, partial) = split_days(since);
    let whole = match &agent {
        None => {
            db.query_one("SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_day_totals WHERE day >= $1", &[&first_day])?
        }
        Some(agent) => db.query_one(
            "SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_daily WHERE day >= $1 AND agent_id = $2",
            &[&first_day, agent],
        )?,
    };
    let mut nanos: i64 = col(&whole, 0)?;
    if let Some((from, to)) = partial {
        let part: i64 = col(
            &db.query_one(
                "SELECT COALESCE(SUM(cost_nanos), 0)::BIGINT FROM cost_records \
                 WHERE occurred_at >= $1 AND occurred_at < $2 AND ($3::UUID IS NULL OR agent_id = $3)",
                &[&instant(from)?, &instant(to)?, &agent],
            )?,
            0,
        )?;
        nanos = nanos.checked_add(part).ok_or_else(|| StoreError::Internal("cost sum overflow".into()))?;
    }
    Ok(Usd::from_nanos(nanos))
}

/// Tokens (input + output) of `agent` since `since`.
pub(super) fn tokens_since<C: GenericClient>(
    db: &mut Db<'_, C>,
    since: OffsetDateTime,
    agent: Uuid,
) -> Result<u64, StoreError> {
    let (first_day, partial) = split_days(since);
    let mut tokens: i64 = col(
        &db.query_one(
            "SELECT COALESCE(SUM(tokens), 0)::BIGINT FROM cost_daily WHERE day >= $1 AND agent_id = $2",
            &[&first_day, &agent],
        )?,
        0,
    )?;
    if let Some((from, to)) = partial {
        let part: i64 = col(
            &db.query_one(
                "SELECT COALESCE(SUM(input_tokens + output_tokens), 0)::BIGINT FROM cost_records \
                 WHERE occurred_at >= $1 AND occurred_at < $2 AND agent_id = $3",
                &[&instant(from)?, &instant(to)?, &agent],
            )?,
            0,
        )?;
        tokens = tokens.saturating_add(part);
    }
    Ok(tokens.max(0) as u64)
}

pub(super) fn agent_cost_since<C: GenericClient>(
    db: &mut Db<'_, C>,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, Usd)>, StoreError> {
    let (first_day, partial) = split_days(since);
    let rows = match partial {
        None => db.query(
            "SELECT agent_id, SUM(nanos)::BIGINT FROM cost_daily WHERE day >= $1 GROUP BY agent_id ORDER BY agent_id",
            &[&first_day],
        )?,
        Some((from, to)) => db.query(
            "SELECT agent_id, SUM(nanos)::BIGINT FROM ( \
                 SELECT agent_id, nanos FROM cost_daily WHERE day >= $1 \
                 UNION ALL SELECT agent_id, cost_nanos FROM cost_records WHERE occurred_at >= $2 AND occurred_at < $3 \
             ) spend GROUP BY agent_id ORDER BY agent_id",
            &[&first_day, &instant(from)?, &instant(to)?],
        )?,
    };
    rows.iter().map(agent_amount).collect()
}

/// Tokens (input + output) per agent since `since`.
pub(super) fn agent_tokens_since<C: GenericClient>(
    db: &mut Db<'_, C>,
    since: OffsetDateTime,
) -> Result<Vec<(Uuid, u64)>, StoreError> {
    let (first_day, partial) = split_days(since);
    let rows = match partial {
        None => db.query(
            "SELECT agent_id, SUM(tokens)::BIGINT FROM cost_daily WHERE day >= $1 GROUP BY agent_id ORDER BY agent_id",
            &[&first_day],
        )?,
        Some((from, to)) => db.query(
            "SELECT agent_id, SUM(tokens)::BIGINT FROM ( \
                 SELECT agent_id, tokens FROM cost_daily WHERE day >= $1 \
                 UNION ALL SELECT agent_id, input_tokens + output_tokens FROM cost_records \
                 WHERE occurred_at >= $2 AND occurred_at < $3 \
             ) used GROUP BY agent_id ORDER BY agent_id",
            &[&first_day, &instant(from)?, &instant(to)?],
        )?,
    };
    rows.iter().map(|r| Ok((col(r, 0)?, col::<i64>(r, 1)?.max(0) as u64))).collect()
}

fn agent_amount(r: &Row) -> Result<(Uuid, Usd), StoreError> {
    Ok((col(r, 0)?, Usd::from_nanos(col(r, 1)?)))
}

impl crate::AggregateStore for PostgresStore {
    fn origin(&self) -> Result<OffsetDateTime, StoreError> {
        use crate::aggregates::{ORIGIN_KEY, Origin};
        let origin: Origin = self.write(|db| {
            db.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&ORIGIN_KEY, &postgres::types::Json(&Origin::now())],
            )?;
            super::json_col(&db.query_one("SELECT value FROM settings WHERE key = $1", &[&ORIGIN_KEY])?, 0)
        })?;
        origin.at()
    }

    fn agent_counts(&self) -> Result<Vec<(AgentStatus, TrustLevel, u64)>, StoreError> {
        self.read(|db| {
            db.query("SELECT status, trust_level, n FROM agent_counts ORDER BY status, trust_level", &[])?
                .iter()
                .map(|r| {
                    Ok((enum_col(r, 0, AgentStatus::parse)?, enum_col(r, 1, TrustLevel::parse)?, count_col(r, 2)?))
                })
                .collect()
        })
    }

    fn task_counts(&self) -> Result<Vec<(TaskStatus, Option<Uuid>, u64)>, StoreError> {
        // Zero series are dropped: a (status, agent) pair that no longer has tasks would
        // otherwise live forever.
        self.read(|db| {
            db.query(
                "SELECT status, assignee, SUM(n)::BIGINT FROM task_counts GROUP BY status, assignee \
                 HAVING SUM(n) > 0 ORDER BY status, assignee",
                &[],
            )?
            .iter()
            .map(|r| {
                let assignee: Uuid = col(r, 1)?;
                Ok((enum_col(r, 0, TaskStatus::parse)?, (!assignee.is_nil()).then_some(assignee), count_col(r, 2)?))
            })
            .collect()
        })
    }

    fn transition_counts(&self) -> Result<Vec<(TaskStatus, TaskStatus, u64)>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT from_status, to_status, SUM(n)::BIGINT FROM transition_counts \
                 GROUP BY from_status, to_status ORDER BY from_status, to_status",
                &[],
            )?
            .iter()
            .map(|r| Ok((enum_col(r, 0, TaskStatus::parse)?, enum_col(r, 1, TaskStatus::parse)?, count_col(r, 2)?)))
            .collect()
        })
    }

    fn total_cost(&self) -> Result<Usd, StoreError> {
        // One row per agent (no single row that every cost report would lock).
        self.read(|db| {
            Ok(Usd::from_nanos(col(
                &db.query_one("SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM agent_cost_totals", &[])?,
                0,
            )?))
        })
    }

    fn cost_since(&self, since: OffsetDateTime) -> Result<Usd, StoreError> {
        self.read(|db| cost_since(db, since, None))
    }

    fn agent_cost_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError> {
        self.read(|db| agent_cost_since(db, since))
    }

    fn agent_cost_totals(&self) -> Result<Vec<(Uuid, Usd)>, StoreError> {
        self.read(|db| {
            db.query("SELECT agent_id, nanos FROM agent_cost_totals ORDER BY agent_id", &[])?
                .iter()
                .map(agent_amount)
                .collect()
        })
    }

    fn pending_approvals(&self) -> Result<u64, StoreError> {
        self.read(|db| count_col(&db.query_one("SELECT COUNT(*) FROM approvals WHERE status = 'pending'", &[])?, 0))
    }

    fn verdict_counts(&self) -> Result<Vec<(Verdict, u64)>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT verdict, SUM(n)::BIGINT FROM verdict_counts GROUP BY verdict HAVING SUM(n) > 0 ORDER BY verdict",
                &[],
            )?
            .iter()
            .map(|r| Ok((enum_col(r, 0, Verdict::parse)?, count_col(r, 1)?)))
            .collect()
        })
    }

    fn oldest_pending_approval(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        self.read(|db| {
            db.query_opt("SELECT created_at FROM approvals WHERE status = 'pending' ORDER BY seq LIMIT 1", &[])?
                .map(|r| col(&r, 0))
                .transpose()
        })
    }

    fn model_usage(&self) -> Result<Vec<ModelUsage>, StoreError> {
        let sums: Vec<String> = MODEL_USAGE_SUMS.iter().map(|c| format!("SUM({c})::BIGINT")).collect();
        let sql = format!(
            "SELECT provider, model, {} FROM model_usage GROUP BY provider, model ORDER BY MIN(first_seq)",
            sums.join(", ")
        );
        self.read(|db| {
            db.query(&sql, &[])?
                .iter()
                .map(|r| {
                    let mut sums = [0i64; MODEL_USAGE_SUMS.len()];
                    for (i, sum) in sums.iter_mut().enumerate() {
                        *sum = col(r, i + 2)?;
                    }
                    Ok(ModelUsage::from_sums(col(r, 0)?, col(r, 1)?, sums))
                })
                .collect()
        })
    }
}
