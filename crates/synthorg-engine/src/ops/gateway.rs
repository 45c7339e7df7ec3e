//! Model calls made through a gateway door (SPEC §17): the hold taken before the call is
//! forwarded, and the record that settles it from the provider's own usage afterwards.

use synthorg_core::cost::{GenAiOperation, NewCostRecord};
use synthorg_core::price::Usage;
use synthorg_core::reservation::{NewReservation, Reservation};
use synthorg_core::{Actor, DomainError};
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
}

/// How a call ended, for its record: the provider's own usage (`complete`), or what the
/// gateway counted of a stream that ended without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallUsage {
    pub usage: Usage,
    pub complete: bool,
}

impl Engine {
    /// Holds the worst case of `call` for the calling agent (SPEC §11, §17): granted when it
    /// fits every limited scope, else [`EngineError::BudgetExhausted`] naming the scope. Only
    /// an agent key calls models: a call spends an agent's budget.
    pub async fn hold_call(&self, actor: &Actor, call: ModelCall) -> Result<Reserved, EngineError> {
        let agent_id = actor.agent_id().ok_or_else(|| {
            DomainError::Forbidden("the model gateway takes agent keys: a call spends an agent's budget".into())
        })?;
        authorize::act_for(actor, agent_id)?;
        let request = NewReservation {
            agent_id,
            task_id: call.task_id,
            amount: None,
            provider: Some(call.price_as),
            model: Some(call.model),
            max_input_tokens: Some(call.max_input_tokens),
            max_output_tokens: Some(call.max_output_tokens),
            ttl_seconds: Some(call.ttl_seconds),
        };
        let mut hold = request.into_reservation(now(), &self.settings().prices, "")?;
        hold.provider = Some(call.provider);
        self.hold(actor, hold).await
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
        let record =
            report.into_gateway_record(now(), settings.max_report_delay, &settings.prices, price_as, usage.complete)?;
        self.append_cost(actor, record, operation).await
    }
}
