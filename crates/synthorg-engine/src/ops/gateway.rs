//! Model calls made through a gateway door (SPEC §17): the hold taken before the call is
//! forwarded, and the record that settles it from the provider's own usage afterwards.

use synthorg_core::agent::AgentStatus;
use synthorg_core::budget::Quantity;
use synthorg_core::cost::{GenAiOperation, NewCostRecord};
use synthorg_core::price::Usage;
use synthorg_core::rate::CallRates;
use synthorg_core::reservation::{NewReservation, Reservation};
use synthorg_core::{Actor, DomainError, Usd};
use synthorg_store::now;
use uuid::Uuid;

use crate::{CostReported, Engine, EngineError, Reserved, authorize};

/// One model call as the gateway sees it before forwarding: who, for which task, to which
/// provider and model, and its worst case in tokens (the output cap is what is forwarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCall {
    pub task_id: Option<Uuid>,
    /// The provider as configured (recorded on the hold and the cost record).
    pub provider: String,
    /// The provider's name in the price catalogue (`openai`, `anthropic`, …).
    pub price_as: String,
    pub model: String,
    /// An upper bound of the input tokens, from the request's content.
    pub max_input_tokens: u64,
    pub max_output_tokens: u64,
    /// How long the hold lives if the call never settles (the upstream timeout and a margin).
    pub ttl_seconds: u64,
    /// What to do when the budget cannot cover `max_output_tokens`.
    pub on_short: OnBudgetShort,
    /// The agent's requests and tokens per minute (checked with the hold, shared by every
    /// replica); [`CallRates::default`] is unlimited.
    pub rates: CallRates,
}

/// What the gateway does when the budget cannot cover a call's output cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBudgetShort {
    /// Refuse the call (402 `budget_exhausted`).
    Refuse,
    /// Lower the cap to what the budget covers, refusing below this many output tokens.
    Clamp { min_output_tokens: u64 },
}

/// A call held: the reservation, and the output cap it covers (the request's, lowered by the
/// agent's trust level or by clamping), which is what the door forwards.
#[derive(Debug, Clone)]
pub struct HeldCall {
    pub held: Reserved,
    pub max_output_tokens: u64,
}

/// How a call ended, for its record: the provider's own usage (`complete`), or what the
/// gateway counted of a stream that ended without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallUsage {
    pub usage: Usage,
    pub complete: bool,
    /// The id the cost record gets: chosen by the door before the write, so that its
    /// answer can name the record without waiting for the write.
    pub record_id: Uuid,
    /// Count the call's tokens against the agent's tokens-per-minute rate (when one is set).
    pub per_minute: bool,
}

impl Engine {
    /// Holds the worst case of `call` for the calling agent (SPEC §11, §17): the agent's trust
    /// level must allow the model (`allowed_models` / `denied_models`) and may lower the cap
    /// (`max_output_tokens`); the hold is granted when it fits every limited scope, else —
    /// with [`OnBudgetShort::Clamp`] — the cap is lowered to what the tightest scope covers,
    /// else [`EngineError::BudgetExhausted`] names the scope. Only an agent key calls models:
    /// a call spends an agent's budget.
    pub async fn hold_call(&self, actor: &Actor, call: ModelCall) -> Result<HeldCall, EngineError> {
        let agent_id = actor.agent_id().ok_or_else(|| {
            DomainError::Forbidden("the model gateway takes agent keys: a call spends an agent's budget".into())
        })?;
        authorize::act_for(actor, agent_id)?;
        let agent = self.read(move |e| e.store().get_agent(agent_id)).await?;
        if agent.status == AgentStatus::Terminated {
            return Err(DomainError::Forbidden("the agent is terminated".into()).into());
        }
        let cap = self
            .settings()
            .security_policy
            .model_call(agent.trust_level, &call.model, call.max_output_tokens)
            .map_err(|refused| DomainError::Forbidden(refused.to_string()))?;
        let refused = match self.hold_for(actor, agent_id, &call, cap).await {
            Err(EngineError::BudgetExhausted(exhausted)) => exhausted,
            held => return held.map(|held| HeldCall { held, max_output_tokens: cap }),
        };
        let OnBudgetShort::Clamp { min_output_tokens } = call.on_short else {
            return Err(EngineError::BudgetExhausted(refused));
        };
        // The most output the refusing scope's remainder covers beside the input's worst case.
        let covered = match (refused.remaining, self.settings().prices.lookup(&call.price_as, &call.model)) {
            (Quantity::Tokens(left), _) => left.saturating_sub(call.max_input_tokens),
            (Quantity::Usd(left), Some(price)) => {
                let input = price.worst_case(call.max_input_tokens, 0).unwrap_or(left);
                let per_token = price.worst_case(0, 1).unwrap_or(Usd::ZERO);
                match per_token.nanos() {
                    n if n > 0 => u64::try_from((left.nanos() - input.nanos()).max(0) / n).unwrap_or(0),
                    _ => cap,
                }
            }
            (Quantity::Usd(_), None) => 0,
        };
        let clamped = covered.min(cap);
        if clamped < min_output_tokens.max(1) {
            return Err(EngineError::BudgetExhausted(refused));
        }
        // Another scope may be the tighter one: one more try, then the refusal stands.
        match self.hold_for(actor, agent_id, &call, clamped).await {
            Ok(held) => Ok(HeldCall { held, max_output_tokens: clamped }),
            Err(EngineError::BudgetExhausted(_)) => Err(EngineError::BudgetExhausted(refused)),
            Err(other) => Err(other),
        }
    }

    async fn hold_for(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        call: &ModelCall,
        cap: u64,
    ) -> Result<Reserved, EngineError> {
        let request = NewReservation {
            agent_id,
            task_id: call.task_id,
            amount: None,
            provider: Some(call.price_as.clone()),
            model: Some(call.model.clone()),
            max_input_tokens: Some(call.max_input_tokens),
            max_output_tokens: Some(cap),
            ttl_seconds: Some(call.ttl_seconds),
        };
        let mut hold = request.into_reservation(now(), &self.settings().prices, "")?;
        hold.provider = Some(call.provider.clone());
        self.hold(actor, hold, call.rates).await
    }

    /// Records the call held by `hold` with the usage it ended with, settling the hold: a
    /// `metered` record with the provider's usage, an `estimated` one without.
    pub async fn settle_call(
        &self,
        actor: &Actor,
        hold: &Reservation,
        price_as: &str,
        usage: CallUsage,
        operation: GenAiOperation,
    ) -> Result<CostReported, EngineError> {
        authorize::act_for(actor, hold.agent_id)?;
        let (Some(provider), Some(model)) = (hold.provider.clone(), hold.model.clone()) else {
            return Err(EngineError::Internal("a gateway hold without provider and model".into()));
        };
        let report = NewCostRecord {
            agent_id: hold.agent_id,
            task_id: hold.task_id,
            provider,
            model,
            usage: usage.usage,
            cost: None,
            call_category: None,
            occurred_at: None,
            idempotency_key: None,
            reservation_id: Some(hold.id),
        };
        let settings = self.settings();
        let mut record =
            report.into_gateway_record(now(), settings.max_report_delay, &settings.prices, price_as, usage.complete)?;
        record.id = usage.record_id;
        self.append_cost(actor, record, operation, usage.per_minute).await
    }
}
