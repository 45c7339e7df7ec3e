//! Budget reservations: admission on the writer, settles inside cost reports, the sweeper.

use rusqlite::{Connection, OptionalExtension, Row, params};
use synthorg_core::agent::AgentStatus;
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendWindow};
use synthorg_core::cost::CostRecord;
use synthorg_core::rate::{CallRates, MinuteUse, minute_of};
use synthorg_core::reservation::{Reservation, ReservationState};
use synthorg_core::{DomainError, Usd};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Filter, SqliteStore, from_ts, insert, opt_uuid, parse_enum, parse_uuid, ts, uuid_value};
use crate::reservations::{Admission, HeldTotals, ReservationFilter, Settlement};
use crate::schema::RESERVATION_COLUMNS;
use crate::{Page, PageRequest, StoreError};

fn reservation_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Reservation> {
    let col = |i: usize| first + i;
    Ok(Reservation {
        id: parse_uuid(&row.get::<_, String>(col(0))?)?,
        agent_id: parse_uuid(&row.get::<_, String>(col(1))?)?,
        task_id: opt_uuid(row.get(col(2))?)?,
        amount: Usd::from_nanos(row.get(col(3))?),
        tokens: row.get::<_, i64>(col(4))?.max(0) as u64,
        provider: row.get(col(5))?,
        model: row.get(col(6))?,
        state: parse_enum(&row.get::<_, String>(col(7))?, ReservationState::parse)?,
        created_at: from_ts(row.get(col(8))?)?,
        expires_at: from_ts(row.get(col(9))?)?,
        closed_at: row.get::<_, Option<i64>>(col(10))?.map(from_ts).transpose()?,
        cost_record_id: opt_uuid(row.get(col(11))?)?,
        settled_cost: row.get::<_, Option<i64>>(col(12))?.map(Usd::from_nanos),
    })
}

fn find(c: &Connection, id: Uuid) -> Result<Option<Reservation>, StoreError> {
    Ok(c.prepare_cached(&format!("SELECT {RESERVATION_COLUMNS} FROM budget_reservations WHERE id = ?1"))?
        .query_row([id.to_string()], |r| reservation_row(r, 0))
        .optional()?)
}

/// What open holds hold at `now` against the scopes of `agent` and `task`, in one statement
/// over the open holds only.
fn held_in(
    c: &Connection,
    agent: Option<Uuid>,
    task: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<ActionSpend, StoreError> {
    let (all, agent_nanos, task_nanos, tokens): (i64, i64, i64, i64) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(amount_nanos), 0), \
                    COALESCE(SUM(CASE WHEN agent_id = ?2 THEN amount_nanos END), 0), \
                    COALESCE(SUM(CASE WHEN task_id = ?3 THEN amount_nanos END), 0), \
                    COALESCE(SUM(CASE WHEN agent_id = ?2 THEN tokens END), 0) \
             FROM budget_reservations WHERE state = 'open' AND expires_at > ?1",
        )?
        .query_row(params![ts(now), uuid_value(agent), uuid_value(task)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    Ok(ActionSpend {
        period_spend: Usd::from_nanos(all),
        agent_today: Usd::from_nanos(agent_nanos),
        task_total: task.map(|_| Usd::from_nanos(task_nanos)),
        agent_tokens_today: tokens.max(0) as u64,
    })
}

/// Settles the reservation `record` names, inside the record's write and before its insert:
/// an open reservation becomes `settled` (even one past its expiry that no sweep closed yet)
/// in one statement; a closed one stays as it is. It must exist and belong to the record's
/// agent (and task, when both name one), else the error rolls the write back. The money is
/// recorded either way; what it spent beyond the hold is the overshoot.
pub(super) fn settle(c: &Connection, id: Uuid, record: &CostRecord) -> Result<Settlement, StoreError> {
    let at = record.recorded_at;
    let settled = c
        .prepare_cached(&format!(
            "UPDATE budget_reservations SET state = 'settled', closed_at = ?2, cost_record_id = ?3, settled_nanos = ?4 \
             WHERE id = ?1 AND state = 'open' RETURNING {RESERVATION_COLUMNS}"
        ))?
        .query_row(params![id.to_string(), ts(at), record.id.to_string(), record.cost.nanos()], |r| {
            reservation_row(r, 0)
        })
        .optional()?;
    let held = match settled {
        // As it was: open until this report.
        Some(r) => Reservation {
            state: ReservationState::Open,
            closed_at: None,
            cost_record_id: None,
            settled_cost: None,
            ..r
        },
        None => find(c, id)?
            .ok_or_else(|| DomainError::invalid("reservation_id", format!("reservation {id} does not exist")))?,
    };
    crate::reservations::check_settling(&held, record)?;
    Ok(Settlement::of(&held, record))
}

/// Everything an admission reads, in one statement on the writer's transaction: the agent's
/// status, whether the task exists, the spend of each scope that has a limit (the others
/// read as 0 and [`BudgetConfig::admit`] skips them), and what open holds hold. Windows start
/// at midnight, so spend is whole days (the day holding the window's start counts whole:
/// never less than the window): of `cost_day_totals` for the period, of the agent's rows of
/// `cost_daily` for the agent, so the cost does not grow with the number of agents.
type Figures = (Option<AgentStatus>, bool, ActionSpend, ActionSpend);

fn figures(
    c: &Connection,
    agent: Uuid,
    task: Option<Uuid>,
    at: OffsetDateTime,
    config: &BudgetConfig,
) -> Result<Figures, StoreError> {
    const DAY: i64 = 86_400_000_000;
    let window = SpendWindow::at(at, config.reset_day);
    let day_of = |t: OffsetDateTime| ts(t).div_euclid(DAY);
    let row = c
        .prepare_cached(
            "SELECT (SELECT status FROM agents WHERE id = ?1), \
                    ?2 IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = ?2), \
                    CASE WHEN ?3 THEN (SELECT COALESCE(SUM(nanos), 0) FROM cost_day_totals WHERE day >= ?4) ELSE 0 END, \
                    CASE WHEN ?5 THEN (SELECT COALESCE(SUM(nanos), 0) FROM cost_daily WHERE agent_id = ?1 AND day >= ?6) ELSE 0 END, \
                    CASE WHEN ?7 THEN (SELECT COALESCE(SUM(tokens), 0) FROM cost_daily WHERE agent_id = ?1 AND day >= ?6) ELSE 0 END, \
                    CASE WHEN ?8 THEN COALESCE((SELECT nanos FROM task_cost_totals WHERE task_id = ?2), 0) ELSE 0 END, \
                    h.* \
             FROM (SELECT COALESCE(SUM(amount_nanos), 0), \
                          COALESCE(SUM(CASE WHEN agent_id = ?1 THEN amount_nanos END), 0), \
                          COALESCE(SUM(CASE WHEN task_id = ?2 THEN amount_nanos END), 0), \
                          COALESCE(SUM(CASE WHEN agent_id = ?1 THEN tokens END), 0) \
                   FROM budget_reservations WHERE state = 'open' AND expires_at > ?9) h",
        )?
        .query_row(
            params![
                agent.to_string(),
                uuid_value(task),
                !config.total_monthly.is_zero(),
                day_of(window.period_start),
                !config.per_agent_daily_limit.is_zero(),
                day_of(window.day_start),
                config.per_agent_daily_tokens > 0,
                task.is_some() && !config.per_task_limit.is_zero(),
                ts(at),
            ],
            |r| {
                let status: Option<String> = r.get(0)?;
                let nanos = |i: usize| r.get::<_, i64>(i).map(Usd::from_nanos);
                let tokens = |i: usize| r.get::<_, i64>(i).map(|t| t.max(0) as u64);
                Ok((
                    status.as_deref().map(|s| parse_enum(s, AgentStatus::parse)).transpose()?,
                    r.get::<_, bool>(1)?,
                    ActionSpend {
                        period_spend: nanos(2)?,
                        agent_today: nanos(3)?,
                        task_total: task.map(|_| nanos(5)).transpose()?,
                        agent_tokens_today: tokens(4)?,
                    },
                    ActionSpend {
                        period_spend: nanos(6)?,
                        agent_today: nanos(7)?,
                        task_total: task.map(|_| nanos(8)).transpose()?,
                        agent_tokens_today: tokens(9)?,
                    },
                ))
            },
        )?;
    Ok(row)
}

/// The agent's use in `minute` and the one before.
fn minutes(c: &Connection, agent: Uuid, minute: i64) -> Result<(MinuteUse, MinuteUse), StoreError> {
    let mut statement = c.prepare_cached(
        "SELECT minute, requests, tokens FROM agent_minutes WHERE agent_id = ?1 AND minute IN (?2, ?2 - 1)",
    )?;
    let rows = statement.query_map(params![agent.to_string(), minute], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
        Ok((r.get::<_, i64>(0)?, MinuteUse { requests: n(1)?, tokens: n(2)? }))
    })?;
    let (mut current, mut previous) = (MinuteUse::default(), MinuteUse::default());
    for row in rows {
        let (at, used) = row?;
        if at == minute { current = used } else { previous = used }
    }
    Ok((current, previous))
}

/// Counts one request in the agent's `minute` and forgets its minutes before the window.
fn count_request(c: &Connection, agent: Uuid, minute: i64) -> Result<(), StoreError> {
    let agent = agent.to_string();
    c.prepare_cached(
        "INSERT INTO agent_minutes (agent_id, minute, requests) VALUES (?1, ?2, 1) \
         ON CONFLICT (agent_id, minute) DO UPDATE SET requests = requests + 1",
    )?
    .execute(params![agent, minute])?;
    c.prepare_cached("DELETE FROM agent_minutes WHERE agent_id = ?1 AND minute < ?2 - 1")?
        .execute(params![agent, minute])?;
    Ok(())
}

impl crate::ReservationStore for SqliteStore {
    fn reserve(&self, hold: &Reservation, config: &BudgetConfig, rates: &CallRates) -> Result<Admission, StoreError> {
        let now = hold.created_at;
        self.write(|tx| {
            let (status, task_exists, spend, held) = figures(tx, hold.agent_id, hold.task_id, now, config)?;
            crate::reservations::check_holder(hold, status, task_exists)?;
            if rates.is_limited() {
                let minute = minute_of(now);
                let (current, previous) = minutes(tx, hold.agent_id, minute)?;
                if let Err(limited) = rates.admit(current, previous, held.agent_tokens_today, now) {
                    return Ok(Admission::RateLimited(limited));
                }
            }
            if let Err(exhausted) = config.admit(&spend, &held, hold.amount, hold.tokens) {
                return Ok(Admission::Refused(exhausted));
            }
            insert(tx, crate::rows::reservation(hold, now))?;
            if rates.is_limited() {
                count_request(tx, hold.agent_id, minute_of(now))?;
            }
            let after = crate::reservations::plus(&held, hold);
            let after = config.remaining(Some(hold.agent_id), hold.task_id, &spend, &after, now);
            Ok(Admission::Granted {
                reservation: Reservation { state: ReservationState::Open, ..hold.clone() },
                remaining: after.remaining,
                alert: after.alert_level,
            })
        })
    }

    fn count_minute_tokens(&self, agent: Uuid, at: OffsetDateTime, tokens: u64) -> Result<(), StoreError> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO agent_minutes (agent_id, minute, tokens) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (agent_id, minute) DO UPDATE SET tokens = tokens + excluded.tokens",
            )?
            .execute(params![agent.to_string(), minute_of(at), tokens])?;
            Ok(())
        })
    }

    fn release_reservation(
        &self,
        id: Uuid,
        agent: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Reservation, StoreError> {
        self.write(|tx| {
            let held = find(tx, id)?
                .filter(|r| agent.is_none_or(|a| a == r.agent_id))
                .ok_or_else(|| StoreError::NotFound { entity: "reservation", id: id.to_string() })?;
            if held.state != ReservationState::Open {
                return Err(DomainError::Conflict(format!("reservation {id} is already {}", held.state)).into());
            }
            tx.prepare_cached("UPDATE budget_reservations SET state = 'released', closed_at = ?2 WHERE id = ?1")?
                .execute(params![id.to_string(), ts(now)])?;
            Ok(Reservation { state: ReservationState::Released, closed_at: Some(now), ..held })
        })
    }

    fn get_reservation(&self, id: Uuid) -> Result<Reservation, StoreError> {
        self.read(|c| find(c, id)?.ok_or_else(|| StoreError::NotFound { entity: "reservation", id: id.to_string() }))
    }

    fn list_reservations(
        &self,
        filter: &ReservationFilter,
        page: &PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        self.read(|c| {
            let mut f = Filter::default();
            f.eq("agent_id", uuid_value(filter.agent_id))
                .eq("task_id", uuid_value(filter.task_id))
                .eq("state", filter.state.map(|s| s.as_str().to_owned()));
            f.page(c, "budget_reservations", RESERVATION_COLUMNS, page, |r| reservation_row(r, 1))
        })
    }

    fn expire_reservations(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<Reservation>, StoreError> {
        // Most sweeps find nothing: a read (on the open-holds index) spares the writer an
        // empty transaction and its fsync.
        let due = self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM budget_reservations WHERE state = 'open' AND expires_at <= ?1 LIMIT 1")?
                .exists([ts(now)])?)
        })?;
        if !due {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let expired: Vec<Reservation> = tx
                .prepare_cached(&format!(
                    "UPDATE budget_reservations SET state = 'expired', closed_at = ?1 \
                     WHERE seq IN (SELECT seq FROM budget_reservations \
                                   WHERE state = 'open' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2) \
                     RETURNING {RESERVATION_COLUMNS}"
                ))?
                .query_map(params![ts(now), limit as i64], |r| reservation_row(r, 0))?
                .collect::<Result<_, _>>()?;
            Ok(expired)
        })
    }

    fn held(&self, agent: Option<Uuid>, task: Option<Uuid>, now: OffsetDateTime) -> Result<ActionSpend, StoreError> {
        self.read(|c| held_in(c, agent, task, now))
    }

    fn standing(
        &self,
        agent: Uuid,
        task: Option<Uuid>,
        config: &BudgetConfig,
        now: OffsetDateTime,
    ) -> Result<(ActionSpend, ActionSpend), StoreError> {
        self.read(|c| figures(c, agent, task, now, config).map(|(_, _, spend, held)| (spend, held)))
    }

    fn held_totals(&self, now: OffsetDateTime) -> Result<HeldTotals, StoreError> {
        self.read(|c| {
            let (open, amount, on_tasks, tokens): (i64, i64, i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(amount_nanos), 0), \
                            COALESCE(SUM(CASE WHEN task_id IS NOT NULL THEN amount_nanos END), 0), \
                            COALESCE(SUM(tokens), 0) \
                     FROM budget_reservations WHERE state = 'open' AND expires_at > ?1",
                )?
                .query_row([ts(now)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(HeldTotals {
                open: open.max(0) as u64,
                amount: Usd::from_nanos(amount),
                on_tasks: Usd::from_nanos(on_tasks),
                tokens: tokens.max(0) as u64,
            })
        })
    }
}
