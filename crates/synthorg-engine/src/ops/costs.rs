//! Cost operations: a model call's cost reported to the ledger, settling its hold.

use synthorg_core::Actor;
use synthorg_core::budget::BudgetRemaining;
use synthorg_core::cost::{CostRecord, GenAiOperation, NewCostRecord};
use synthorg_core::event::Event;
use synthorg_store::{Done, StoreError, now};
use synthorg_telemetry::otlp::{AttrValue, SpanKind};

use crate::{Engine, EngineError, authorize};

/// A recorded cost: the record, whether it replayed an earlier report with the same
/// idempotency key, and where its agent stands once it counts (with a budget limit).
#[derive(Debug)]
pub struct CostReported {
    pub record: CostRecord,
    pub replayed: bool,
    pub standing: Option<BudgetRemaining>,
}

impl Engine {
    /// Records one model call's cost. Without a cost the catalogue prices it; a report
    /// naming a hold settles it and inherits its agent and task (naming others is a 422).
    /// With an idempotency key a retry is recorded once and answers the original record.
    pub async fn report_cost(
        &self,
        actor: &Actor,
        report: NewCostRecord,
        operation: GenAiOperation,
    ) -> Result<CostReported, EngineError> {
        authorize::act_for(actor, report.agent_id)?;
        let settings = self.settings();
        let record = report.into_record(now(), settings.max_report_delay, &settings.prices)?;
        self.append_cost(actor, record, operation, false).await
    }

    /// Appends `record` (built and priced by the caller, authorized for its agent) to the
    /// ledger, settling its hold: the one write path of every door's costs.
    pub(crate) async fn append_cost(
        &self,
        actor: &Actor,
        record: CostRecord,
        operation: GenAiOperation,
        per_minute: bool,
    ) -> Result<CostReported, EngineError> {
        let started = std::time::SystemTime::now();
        let actor = actor.clone();
        let (record, replayed) = self
            .write(move |e| {
                let record = e.settling(record, &actor)?;
                let recorded = e.store().record_cost(&record)?;
                let mut events = Vec::new();
                if !recorded.replayed {
                    let r = &recorded.value;
                    if per_minute {
                        let tokens = r.input_tokens.saturating_add(r.output_tokens);
                        e.store().count_minute_tokens(r.agent_id, r.recorded_at, tokens)?;
                    }
                    events.push(Event::CostRecorded {
                        agent_id: r.agent_id,
                        task_id: r.task_id,
                        provider: r.provider.clone(),
                        model: r.model.clone(),
                        cost: r.cost,
                        cost_source: r.cost_source,
                        computed_cost: r.computed_cost,
                        disagrees: r.cost_disagrees,
                        operation,
                        input_tokens: r.input_tokens,
                        output_tokens: r.output_tokens,
                    });
                    if let Some(settled) = recorded.settlement {
                        events.push(Event::ReservationSettled {
                            reservation_id: settled.reservation_id,
                            agent_id: r.agent_id,
                            was: settled.was,
                            held: settled.held,
                            cost: r.cost,
                            overshoot: settled.overshoot,
                        });
                    }
                }
                Ok::<_, EngineError>(Done::with((recorded.value, recorded.replayed), events))
            })
            .await?;
        self.cost_span(&record, operation, replayed, started);
        let (agent, task) = (record.agent_id, record.task_id);
        let standing = self.read(move |e| e.standing(agent, task)).await?;
        Ok(CostReported { record, replayed, standing })
    }

    /// The record a report appends. One that settles a hold takes the hold's task when it
    /// names none: the hold was authorized for that task when it was granted, and leaving
    /// the field out must not move the spend out of the task's scope (the store refuses a
    /// report naming another agent or task than its hold's, in the transaction). Any other
    /// report is checked against the caller's tasks.
    fn settling(&self, mut record: CostRecord, actor: &Actor) -> Result<CostRecord, EngineError> {
        match record.reservation_id {
            Some(id) if record.task_id.is_none() => match self.store().get_reservation(id) {
                Ok(held) => record.task_id = held.task_id,
                // The store answers that the reservation does not exist, as to anyone.
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            },
            Some(_) => {}
            None => authorize::on_task(self.store().as_ref(), actor, record.task_id)?,
        }
        Ok(record)
    }

    /// The report as a span: provider, model and token usage in the GenAI attributes, and
    /// what only synthorg knows under `synthorg.cost.*` (the amount in USD as the budget counts
    /// it, where it comes from, the operation reported). The span records a report, not the
    /// model call, so it does not claim `gen_ai.operation.name`. A replay used no tokens and
    /// spent nothing again: its span carries no `gen_ai.usage.*` and no amount, so sums over
    /// spans count each call once.
    fn cost_span(
        &self,
        record: &CostRecord,
        operation: GenAiOperation,
        replayed: bool,
        started: std::time::SystemTime,
    ) {
        let Some(tracer) = &self.settings().tracer else { return };
        let tokens = |n: u64| AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let mut attributes: Vec<(&'static str, AttrValue)> = vec![
            ("synthorg.cost.operation", operation.as_str().into()),
            ("gen_ai.provider.name", record.provider.as_str().into()),
            ("gen_ai.request.model", record.model.as_str().into()),
            ("gen_ai.agent.id", record.agent_id.to_string().into()),
            ("synthorg.cost.record_id", record.id.to_string().into()),
            ("synthorg.cost.replayed", replayed.into()),
        ];
        if !replayed {
            attributes.extend([
                ("gen_ai.usage.input_tokens", tokens(record.input_tokens)),
                ("gen_ai.usage.output_tokens", tokens(record.output_tokens)),
                ("gen_ai.usage.cache_read.input_tokens", tokens(record.cache_read_input_tokens)),
                ("gen_ai.usage.cache_creation.input_tokens", tokens(record.cache_write_input_tokens)),
                ("synthorg.cost.amount", record.cost.as_f64().into()),
                ("synthorg.cost.currency", "USD".into()),
                ("synthorg.cost.source", record.cost_source.as_str().into()),
            ]);
            if record.reasoning_output_tokens > 0 {
                attributes.push(("gen_ai.usage.reasoning.output_tokens", tokens(record.reasoning_output_tokens)));
            }
        }
        if let Some(task) = record.task_id {
            attributes.push(("synthorg.task.id", task.to_string().into()));
        }
        let name = format!("record_cost {}", record.model);
        tracer.record_child(name, SpanKind::Internal, started, attributes, None);
    }
}
