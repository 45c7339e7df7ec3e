//! Budget reservations on PostgreSQL: admission under one advisory lock for every replica,
//! settles inside cost reports, the sweeper.

use postgres::{GenericClient, Row};
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendWindow};
use synthorg_core::cost::CostRecord;
use synthorg_core::rate::{CallRates, MinuteUse, minute_of};
use synthorg_core::reservation::{Reservation, ReservationState};
use synthorg_core::{DomainError, Usd};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, Filter, PostgresStore, col, enum_col};
use crate::reservations::{Admission, HeldTotals, ReservationFilter, Settlement};
use crate::schema::RESERVATION_COLUMNS;
use crate::{Page, PageRequest, StoreError};

/// The key of the transaction-scoped advisory lock that serialises admissions across
/// replicas ("synthorg budget" in ASCII, truncated to 8 bytes: `synthorg`).
const BUDGET_LOCK: i64 = i64::from_be_bytes(*b"synthorg");

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn reservation_row(row: &Row, first: usize) -> Result<Reservation, StoreError> {
    let c = |i: usize| first + i;
    Ok(Reservation {
        id: col(row, c(0))?,
        agent_id: col(row, c(1))?,
        task_id: col(row, c(2))?,
        amount: Usd::from_nanos(col(row, c(3))?),
        tokens: col::<i64>(row, c(4))?.max(0) as u64,
        provider: col(row, c(5))?,
        model: col(row, c(6))?,
        state: enum_col(row, c(7), ReservationState::parse)?,
        created_at: col(row, c(8))?,
        expires_at: col(row, c(9))?,
        closed_at: col(row, c(10))?,
        cost_record_id: col(row, c(11))?,
        settled_cost: col::<Option<i64>>(row, c(12))?.map(Usd::from_nanos),
    })
}

fn find<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid, lock: bool) -> Result<Option<Reservation>, StoreError> {
    let sql = format!(
        "SELECT {RESERVATION_COLUMNS} FROM budget_reservations WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    db.query_opt(&sql, &[&id])?.map(|r| reservation_row(&r, 0)).transpose()
}

/// The day (since the epoch) containing `t`: windows start at midnight, so this is their
/// first whole day; were one ever not, the whole first day would count (never less).
pub(super) fn day_of(t: OffsetDateTime) -> i64 {
    ((t.unix_timestamp_nanos() / 1000) as i64).div_euclid(MICROS_PER_DAY)
}

/// What holds hold at `now`, by scope: one statement over the open holds.
const HELD: &str = "SELECT COALESCE(SUM(amount_nanos), 0)::BIGINT AS held_all, \
                           COALESCE(SUM(amount_nanos) FILTER (WHERE agent_id = $2), 0)::BIGINT AS held_agent, \
                           COALESCE(SUM(amount_nanos) FILTER (WHERE task_id = $3), 0)::BIGINT AS held_task, \
                           COALESCE(SUM(tokens) FILTER (WHERE agent_id = $2), 0)::BIGINT AS held_tokens \
                    FROM budget_reservations WHERE state = 'open' AND expires_at > $1";

fn held_of(row: &Row, first: usize, task: Option<Uuid>) -> Result<ActionSpend, StoreError> {
    Ok(ActionSpend {
        period_spend: Usd::from_nanos(col(row, first)?),
        agent_today: Usd::from_nanos(col(row, first + 1)?),
        task_total: task.map(|_| col(row, first + 2).map(Usd::from_nanos)).transpose()?,
        agent_tokens_today: col::<i64>(row, first + 3)?.max(0) as u64,
    })
}

/// The reservation a cost report names, locked until the report commits, and checked
/// against the report.
pub(super) fn settling<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: Uuid,
    record: &CostRecord,
) -> Result<Reservation, StoreError> {
    let held = find(db, id, true)?
        .ok_or_else(|| DomainError::invalid("reservation_id", format!("reservation {id} does not exist")))?;
    crate::reservations::check_settling(&held, record)?;
    Ok(held)
}

/// Settles `held` with the just-inserted `record` (see the SQLite store's `settle`).
pub(super) fn settle<C: GenericClient>(
    db: &mut Db<'_, C>,
    held: &Reservation,
    record: &CostRecord,
) -> Result<Settlement, StoreError> {
    let at = record.recorded_at;
    if held.state == ReservationState::Open {
        db.execute(
            "UPDATE budget_reservations SET state = 'settled', closed_at = $2, cost_record_id = $3, settled_nanos = $4 \
             WHERE id = $1 AND state = 'open'",
            &[&held.id, &at, &record.id, &record.cost.nanos()],
        )?;
    }
    Ok(Settlement::of(held, record))
}

/// Spend and holds of `agent`'s (and `task`'s) scopes at `now`, in one statement: one
/// snapshot, so a settle committing meanwhile is seen whole or not at all.
fn figures<C: GenericClient>(
    db: &mut Db<'_, C>,
    agent: Uuid,
    task: Option<Uuid>,
    now: OffsetDateTime,
    window: SpendWindow,
) -> Result<(ActionSpend, ActionSpend), StoreError> {
    let row = db.query_one(
        &format!(
            "SELECT (SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_day_totals WHERE day >= $4), \
                    (SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_daily WHERE day >= $5 AND agent_id = $2), \
                    (SELECT COALESCE((SELECT nanos FROM task_cost_totals WHERE task_id = $3), 0)), \
                    (SELECT COALESCE(SUM(tokens), 0)::BIGINT FROM cost_daily WHERE day >= $5 AND agent_id = $2), \
                    h.* FROM ({HELD}) h"
        ),
        &[&now, &agent, &task, &day_of(window.period_start), &day_of(window.day_start)],
    )?;
    let spend = ActionSpend {
        period_spend: Usd::from_nanos(col(&row, 0)?),
        agent_today: Usd::from_nanos(col(&row, 1)?),
        task_total: task.map(|_| col(&row, 2).map(Usd::from_nanos)).transpose()?,
        agent_tokens_today: col::<i64>(&row, 3)?.max(0) as u64,
    };
    Ok((spend, held_of(&row, 4, task)?))
}

/// The agent's use in `minute` and the one before.
fn minutes<C: GenericClient>(
    db: &mut Db<'_, C>,
    agent: Uuid,
    minute: i64,
) -> Result<(MinuteUse, MinuteUse), StoreError> {
    let rows = db.query(
        "SELECT minute, requests, tokens FROM agent_minutes WHERE agent_id = $1 AND minute IN ($2::BIGINT, $2::BIGINT - 1)",
        &[&agent, &minute],
    )?;
    let (mut current, mut previous) = (MinuteUse::default(), MinuteUse::default());
    for row in &rows {
        let n = |i: usize| col::<i64>(row, i).map(|n| n.max(0) as u64);
        let used = MinuteUse { requests: n(1)?, tokens: n(2)? };
        if col::<i64>(row, 0)? == minute { current = used } else { previous = used }
    }
    Ok((current, previous))
}

impl crate::ReservationStore for PostgresStore {
    fn reserve(&self, hold: &Reservation, config: &BudgetConfig, rates: &CallRates) -> Result<Admission, StoreError> {
        let now = hold.created_at;
        let window = SpendWindow::at(now, config.reset_day);
        self.write(|db| {
            let task_exists = match hold.task_id {
                Some(task) => db.query_opt("SELECT 1 FROM tasks WHERE id = $1", &[&task])?.is_some(),
                None => true,
            };
            crate::reservations::check_holder(hold, super::agents::status_of(db, hold.agent_id)?, task_exists)?;
            // Every replica's admissions queue here until this transaction ends; the next
            // statement then sees every hold and every settle committed before.
            db.execute("SELECT pg_advisory_xact_lock($1)", &[&BUDGET_LOCK])?;
            let (spend, held) = figures(db, hold.agent_id, hold.task_id, now, window)?;
            let minute = minute_of(now);
            if rates.is_limited() {
                let (current, previous) = minutes(db, hold.agent_id, minute)?;
                if let Err(limited) = rates.admit(current, previous, held.agent_tokens_today, now) {
                    return Ok(Admission::RateLimited(limited));
                }
            }
            if let Err(exhausted) = config.admit(&spend, &held, hold.amount, hold.tokens) {
                return Ok(Admission::Refused(exhausted));
            }
            db.insert(crate::rows::reservation(hold, now))?;
            if rates.is_limited() {
                db.execute(
                    "INSERT INTO agent_minutes (agent_id, minute, requests) VALUES ($1, $2, 1) \
                     ON CONFLICT (agent_id, minute) DO UPDATE SET requests = agent_minutes.requests + 1",
                    &[&hold.agent_id, &minute],
                )?;
                db.execute(
                    "DELETE FROM agent_minutes WHERE agent_id = $1 AND minute < $2::BIGINT - 1",
                    &[&hold.agent_id, &minute],
                )?;
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
        self.write(|db| {
            db.execute(
                "INSERT INTO agent_minutes (agent_id, minute, tokens) VALUES ($1, $2, $3) \
                 ON CONFLICT (agent_id, minute) DO UPDATE SET tokens = agent_minutes.tokens + excluded.tokens",
                &[&agent, &minute_of(at), &tokens],
            )?;
            Ok(())
        })
    }

    fn release_reservation(
        &self,
        id: Uuid,
        agent: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Reservation, StoreError> {
        self.write(|db| {
            let held = find(db, id, true)?
                .filter(|r| agent.is_none_or(|a| a == r.agent_id))
                .ok_or_else(|| StoreError::NotFound { entity: "reservation", id: id.to_string() })?;
            if held.state != ReservationState::Open {
                return Err(DomainError::Conflict(format!("reservation {id} is already {}", held.state)).into());
            }
            db.execute(
                "UPDATE budget_reservations SET state = 'released', closed_at = $2 WHERE id = $1",
                &[&id, &now],
            )?;
            Ok(Reservation { state: ReservationState::Released, closed_at: Some(now), ..held })
        })
    }

    fn get_reservation(&self, id: Uuid) -> Result<Reservation, StoreError> {
        self.read(|db| {
            find(db, id, false)?.ok_or_else(|| StoreError::NotFound { entity: "reservation", id: id.to_string() })
        })
    }

    fn list_reservations(
        &self,
        filter: &ReservationFilter,
        page: &PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        self.read(|db| {
            let mut f = Filter::default();
            f.eq("agent_id", filter.agent_id)
                .eq("task_id", filter.task_id)
                .eq("state", filter.state.map(|s| s.as_str()));
            f.page(db, "budget_reservations", RESERVATION_COLUMNS, page, |r| reservation_row(r, 1))
        })
    }

    fn expire_reservations(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<Reservation>, StoreError> {
        // SKIP LOCKED: replicas sweeping at once take disjoint rows, and a hold a report is
        // settling right now (row locked) is left to that report.
        self.autocommit(|db| {
            db.query(
                &format!(
                    "UPDATE budget_reservations SET state = 'expired', closed_at = $1 \
                     WHERE seq IN (SELECT seq FROM budget_reservations \
                                   WHERE state = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 \
                                   FOR UPDATE SKIP LOCKED) \
                     AND state = 'open' \
                     RETURNING {RESERVATION_COLUMNS}"
                ),
                &[&now, &(limit as i64)],
            )?
            .iter()
            .map(|r| reservation_row(r, 0))
            .collect()
        })
    }

    fn held(&self, agent: Option<Uuid>, task: Option<Uuid>, now: OffsetDateTime) -> Result<ActionSpend, StoreError> {
        self.read(|db| held_of(&db.query_one(HELD, &[&now, &agent, &task])?, 0, task))
    }

    fn standing(
        &self,
        agent: Uuid,
        task: Option<Uuid>,
        config: &BudgetConfig,
        now: OffsetDateTime,
    ) -> Result<(ActionSpend, ActionSpend), StoreError> {
        self.read(|db| figures(db, agent, task, now, SpendWindow::at(now, config.reset_day)))
    }

    fn held_totals(&self, now: OffsetDateTime) -> Result<HeldTotals, StoreError> {
        self.read(|db| {
            let row = db.query_one(
                "SELECT COUNT(*), COALESCE(SUM(amount_nanos), 0)::BIGINT, \
                        COALESCE(SUM(amount_nanos) FILTER (WHERE task_id IS NOT NULL), 0)::BIGINT, \
                        COALESCE(SUM(tokens), 0)::BIGINT \
                 FROM budget_reservations WHERE state = 'open' AND expires_at > $1",
                &[&now],
            )?;
            Ok(HeldTotals {
                open: col::<i64>(&row, 0)?.max(0) as u64,
                amount: Usd::from_nanos(col(&row, 1)?),
                on_tasks: Usd::from_nanos(col(&row, 2)?),
                tokens: col::<i64>(&row, 3)?.max(0) as u64,
            })
        })
    }
}
