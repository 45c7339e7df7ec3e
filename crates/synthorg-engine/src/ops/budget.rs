//! Budget operations: holds (reserve, release, list), what remains, and the gate every
//! evaluation passes.

use synthorg_core::audit::AuditContext;
use synthorg_core::budget::{AlertLevel, BudgetConfig, BudgetRemaining, Exhausted, SpendWindow};
use synthorg_core::event::Event;
use synthorg_core::rate::CallRates;
use synthorg_core::reservation::{NewReservation, Reservation};
use synthorg_core::{Actor, DomainError, Usd};
use synthorg_store::{Admission, Done, Page, PageRequest, ReservationFilter, StoreError, now};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Engine, EngineError, authorize};

/// A granted hold: the reservation, what the tightest USD scope has left with it counted
/// (absent when no USD limit applies), and the most used scope's alert level.
#[derive(Debug, Clone, PartialEq)]
pub struct Reserved {
    pub reservation: Reservation,
    pub remaining: Option<Usd>,
    pub alert: AlertLevel,
}

impl Engine {
    /// Holds budget for a model call before it is made (SPEC §11): granted when it fits every
    /// limited scope, else [`EngineError::BudgetExhausted`] naming the scope.
    pub async fn reserve(&self, actor: &Actor, request: NewReservation) -> Result<Reserved, EngineError> {
        authorize::act_for(actor, request.agent_id)?;
        let hold = request.into_reservation(now(), &self.settings().prices, "")?;
        self.hold(actor, hold, CallRates::default()).await
    }

    /// Grants `hold` (built and priced by the caller, authorized for its agent) when its task
    /// is the caller's to spend on, it fits every limited scope, and the agent's `rates`
    /// have room.
    pub(crate) async fn hold(
        &self,
        actor: &Actor,
        hold: Reservation,
        rates: CallRates,
    ) -> Result<Reserved, EngineError> {
        // Read before the write: a read on the writer thread would hold up every write queued
        // behind it.
        let config = self.read(|e| e.budget()).await?;
        let actor = actor.clone();
        let outcome = self
            .write(move |e| {
                authorize::on_task(e.store().as_ref(), &actor, hold.task_id)?;
                let (outcome, event) = e.grant(&config, &hold, &rates)?;
                Ok::<_, EngineError>(Done::with(outcome, [event]))
            })
            .await?;
        Ok(outcome?)
    }

    /// Replaces the budget configuration (admins); every problem is reported at once. The
    /// new budget is in force in this process at once (see [`Engine::budget`]). Audited.
    pub async fn set_budget(
        &self,
        actor: &Actor,
        audit: AuditContext,
        config: BudgetConfig,
    ) -> Result<BudgetConfig, EngineError> {
        authorize::admin(actor)?;
        DomainError::check(config.validate())?;
        let by = actor.label();
        let config = self
            .write(move |e| {
                let sealed = e.store().set_budget_config(&config, &audit)?;
                let event =
                    Event::BudgetConfigured { total_monthly: config.total_monthly, reset_day: config.reset_day, by };
                let events = [event, Event::Audited(sealed)];
                Ok::<_, EngineError>(Done::with(config, events))
            })
            .await?;
        self.budget_changed(config.clone());
        Ok(config)
    }

    /// The budget configuration in force, read now (not the kept copy of [`Engine::budget`]).
    pub async fn budget_config(&self) -> Result<BudgetConfig, EngineError> {
        self.blocking(|e| Ok(e.store().budget_in_force(&e.settings().budget_defaults)?)).await
    }

    /// Gives an open hold back: the call was not made. An agent key releases its own
    /// agent's (another's is not found); a closed hold is a conflict.
    pub async fn release(&self, actor: &Actor, id: Uuid) -> Result<Reservation, EngineError> {
        authorize::may_write(actor)?;
        let agent = actor.agent_id();
        self.write(move |e| {
            let released = e.store().release_reservation(id, agent, now())?;
            let event =
                Event::ReservationReleased { reservation_id: id, agent_id: released.agent_id, amount: released.amount };
            Ok::<_, EngineError>(Done::with(released, [event]))
        })
        .await
    }

    /// Reservations, oldest first; an agent key sees its own agent's.
    pub async fn reservations(
        &self,
        actor: &Actor,
        mut filter: ReservationFilter,
        page: PageRequest,
    ) -> Result<Page<Reservation>, EngineError> {
        filter.agent_id = authorize::read_for(actor, filter.agent_id)?;
        self.blocking(move |e| Ok(e.store().list_reservations(&filter, &page)?)).await
    }

    /// What may still be spent before new work is refused, per scope: the billing period,
    /// the agent's day (the key's own agent for an agent key), the task.
    pub async fn remaining(
        &self,
        actor: &Actor,
        agent: Option<Uuid>,
        task: Option<Uuid>,
    ) -> Result<BudgetRemaining, EngineError> {
        let agent = authorize::read_for(actor, agent)?;
        let actor = actor.clone();
        self.blocking(move |e| {
            if let Some(agent) = agent {
                e.store().get_agent(agent)?;
            }
            if let Some(task) = task {
                authorize::assigned(&actor, &e.store().get_task(task)?)?;
            }
            let config = e.budget()?;
            let at = now();
            let spend = e.store().action_spend(agent, task, SpendWindow::at(at, config.reset_day))?;
            let held = e.store().held(agent, task, at)?;
            Ok(config.remaining(agent, task, &spend, &held, at))
        })
        .await
    }

    /// Grants `hold` when it fits every limited scope of `config`, with its event: the grant,
    /// or the scope that refused it. Runs inside a unit of work; the caller reads the budget
    /// before it.
    pub(crate) fn grant(
        &self,
        config: &BudgetConfig,
        hold: &Reservation,
        rates: &CallRates,
    ) -> Result<(Result<Reserved, Exhausted>, Event), EngineError> {
        let (agent_id, task_id) = (hold.agent_id, hold.task_id);
        Ok(match self.store().reserve(hold, config, rates)? {
            // Nothing was written: the refusal is the answer, and the gateway's call report
            // counts it.
            Admission::RateLimited(limited) => return Err(EngineError::RateLimited(limited)),
            Admission::Granted { reservation, remaining, alert } => {
                let event = Event::ReservationGranted {
                    reservation_id: reservation.id,
                    agent_id,
                    task_id,
                    amount: reservation.amount,
                    tokens: reservation.tokens,
                    ttl_seconds: (reservation.expires_at - reservation.created_at).whole_seconds(),
                };
                (Ok(Reserved { reservation, remaining, alert }), event)
            }
            Admission::Refused(exhausted) => {
                let event = Event::ReservationRefused {
                    agent_id,
                    task_id,
                    scope: exhausted.scope,
                    message: exhausted.message(),
                };
                (Err(exhausted), event)
            }
        })
    }

    /// The scope that refuses new work by `agent` (on `task`) at `at`, if one does: the gate
    /// of every evaluation.
    pub(crate) fn refusal(
        &self,
        agent: Uuid,
        task: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Option<Exhausted>, StoreError> {
        let budget = self.budget()?;
        let spend = self.store().action_spend(Some(agent), task, SpendWindow::at(at, budget.reset_day))?;
        let held = self.store().held(Some(agent), task, at)?;
        Ok(budget.refusal(&spend, &held))
    }

    /// Where `agent` (on `task`) stands now, once its last cost counts; `None` (and nothing
    /// read) when no scope has a limit.
    pub(crate) fn standing(&self, agent: Uuid, task: Option<Uuid>) -> Result<Option<BudgetRemaining>, StoreError> {
        let config = self.budget()?;
        if !config.has_limits() {
            return Ok(None);
        }
        let at = now();
        let (spend, held) = self.store().standing(agent, task, &config, at)?;
        Ok(Some(config.remaining(Some(agent), task, &spend, &held, at)))
    }
}
