//! Budget reservations: the store's side.
//!
//! Admission reads what is spent and held and inserts the hold in one transaction that no
//! other admission can interleave with: on SQLite the single writer runs it (reads on the
//! writer's own transaction, so a hold granted earlier in the same group commit is seen);
//! on PostgreSQL a transaction-scoped advisory lock serialises admissions of every replica,
//! and spend and holds are read by one statement, so a settle committing in between cannot
//! be seen half (its hold gone, its cost not yet counted).

use synthorg_core::budget::{ActionSpend, AlertLevel, BudgetConfig, Exhausted};
use synthorg_core::cost::CostRecord;
use synthorg_core::rate::{CallRates, RateLimited};
use synthorg_core::reservation::{Reservation, ReservationState};
use synthorg_core::{DomainError, Usd};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

/// The answer to a reservation request.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The hold is open. `remaining` is what the tightest USD scope has left after it
    /// (absent when no USD limit applies); `alert` the most severe scope's alert level.
    Granted { reservation: Reservation, remaining: Option<Usd>, alert: AlertLevel },
    /// The hold does not fit; nothing was written.
    Refused(Exhausted),
    /// The agent's call rate is used up for now; nothing was written.
    RateLimited(RateLimited),
}

/// What a cost report did to the reservation it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub reservation_id: Uuid,
    /// The reservation's state before the report: `open` when the report settled it.
    pub was: ReservationState,
    /// What the hold held when the report arrived (0 when it no longer held).
    pub held: Usd,
    /// Spend beyond the hold.
    pub overshoot: Usd,
}

impl Settlement {
    /// What `record` does to `held` (as it was before the report): money spent is recorded
    /// either way; what it spent beyond the hold is the overshoot.
    pub(crate) fn of(held: &Reservation, record: &CostRecord) -> Self {
        let at = record.recorded_at;
        Self {
            reservation_id: held.id,
            was: held.state,
            held: if held.holds_at(at) { held.amount } else { Usd::ZERO },
            overshoot: held.overshoot(record.cost, at),
        }
    }
}

/// What open holds hold, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldTotals {
    /// Open holds not past their expiry.
    pub open: u64,
    /// Their amounts: every hold counts against the month and its agent's day.
    pub amount: Usd,
    /// The amounts of those held for a task.
    pub on_tasks: Usd,
    /// Their tokens.
    pub tokens: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ReservationFilter {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub state: Option<ReservationState>,
}

pub trait ReservationStore {
    /// Grants `hold` (open, its `created_at` the moment of admission) when it fits every
    /// limited scope of `config` given what is spent and held at that moment
    /// ([`BudgetConfig::admit`]), in one serialised transaction. The agent and task must
    /// exist (422 naming the field); a terminated agent may not reserve (409). Under `rates`
    /// (limited for calls through the model gateway), the agent's last minute must have room
    /// ([`CallRates::admit`]) and the hold counts as one request of the current minute, in
    /// the same transaction.
    fn reserve(&self, hold: &Reservation, config: &BudgetConfig, rates: &CallRates) -> Result<Admission, StoreError>;
    /// Adds `tokens` to what `agent` used in the minute of `at`: a settled gateway call's
    /// usage, for its tokens-per-minute rate.
    fn count_minute_tokens(&self, agent: Uuid, at: OffsetDateTime, tokens: u64) -> Result<(), StoreError>;
    /// Gives an open hold back. `agent`: the agent the caller acts for, when it is bound to
    /// one (another agent's reservation is not found). Releasing a closed one is a 409.
    fn release_reservation(
        &self,
        id: Uuid,
        agent: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Reservation, StoreError>;
    fn get_reservation(&self, id: Uuid) -> Result<Reservation, StoreError>;
    /// Reservations, oldest first.
    fn list_reservations(
        &self,
        filter: &ReservationFilter,
        page: &PageRequest,
    ) -> Result<Page<Reservation>, StoreError>;
    /// Closes up to `limit` open holds whose expiry has passed at `now` and returns them.
    /// Each is expired once, whichever replica sweeps; the work is proportional to the
    /// expired open holds, never to the closed ones.
    fn expire_reservations(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<Reservation>, StoreError>;
    /// What open holds hold at `now` against the scopes of `agent` and `task`: all holds
    /// (`period_spend`), the agent's (`agent_today`, `agent_tokens_today`), the task's.
    fn held(&self, agent: Option<Uuid>, task: Option<Uuid>, now: OffsetDateTime) -> Result<ActionSpend, StoreError>;
    /// What `agent` (on `task`) stands at now, in one read: the spend of each scope of
    /// `config` that has a limit (the others read 0), and what open holds hold. For the
    /// `X-Budget-*` headers of a cost report.
    fn standing(
        &self,
        agent: Uuid,
        task: Option<Uuid>,
        config: &BudgetConfig,
        now: OffsetDateTime,
    ) -> Result<(ActionSpend, ActionSpend), StoreError>;
    /// Open holds in all, for the metrics.
    fn held_totals(&self, now: OffsetDateTime) -> Result<HeldTotals, StoreError>;
}

/// `held` with `hold` added: what is held once the hold is granted.
pub(crate) fn plus(held: &ActionSpend, hold: &Reservation) -> ActionSpend {
    let add = |a: Usd| a.checked_add(hold.amount).unwrap_or(Usd::from_nanos(i64::MAX));
    ActionSpend {
        period_spend: add(held.period_spend),
        agent_today: add(held.agent_today),
        task_total: held.task_total.map(add),
        agent_tokens_today: held.agent_tokens_today.saturating_add(hold.tokens),
    }
}

/// The report may settle `held`: same agent, and the same task when both name one.
pub(crate) fn check_settling(held: &Reservation, record: &CostRecord) -> Result<(), StoreError> {
    if held.agent_id != record.agent_id {
        return Err(DomainError::invalid(
            "agent_id",
            format!("reservation {} was made for agent {}, not {}", held.id, held.agent_id, record.agent_id),
        )
        .into());
    }
    if let (Some(reserved), Some(reported)) = (held.task_id, record.task_id)
        && reserved != reported
    {
        return Err(DomainError::invalid(
            "task_id",
            format!("reservation {} was made for task {reserved}, not {reported}", held.id),
        )
        .into());
    }
    Ok(())
}

/// The holder of `hold` may reserve: its agent exists (`status`) and may still write, and
/// its task, when it names one, exists (`task_exists`).
pub(crate) fn check_holder(
    hold: &Reservation,
    status: Option<synthorg_core::agent::AgentStatus>,
    task_exists: bool,
) -> Result<(), StoreError> {
    match status {
        None => {
            return Err(DomainError::invalid("agent_id", format!("agent {} does not exist", hold.agent_id)).into());
        }
        Some(status) if !status.may_write() => {
            return Err(DomainError::Conflict(format!("agent {} is {status}", hold.agent_id)).into());
        }
        Some(_) => {}
    }
    match hold.task_id {
        Some(task) if !task_exists => {
            Err(DomainError::invalid("task_id", format!("task {task} does not exist")).into())
        }
        _ => Ok(()),
    }
}
