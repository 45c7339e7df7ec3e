//! Each record as a row of its declared table ([`crate::schema::TABLES`]), by column name:
//! the one mapping from domain values to columns, which both backends' inserts bind.

use synthorg_core::Usd;
use synthorg_core::agent::{Agent, AgentChange};
use synthorg_core::audit::AuditEvent;
use synthorg_core::coordination::CoordinationRun;
use synthorg_core::cost::CostRecord;
use synthorg_core::reservation::{Reservation, ReservationState};
use synthorg_core::security::Approval;
use synthorg_core::task::{Task, TaskTransition};
use synthorg_core::{Actor, DomainError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{hash_bytes, json_text};
use crate::schema::Insert;
use crate::{ApiKeyRecord, EvaluationRecord, StoreError};

/// A count of tokens: at most `i64::MAX` in either database.
fn tokens(n: u64, field: &str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| DomainError::invalid(field, "is too large").into())
}

/// An agent, with the folded name that keeps names unique whatever their case.
pub(crate) fn agent(agent: &Agent, name_key: String) -> Result<Insert, StoreError> {
    Ok(Insert::row("agents")
        .set("id", agent.id)
        .set("name", agent.name.as_str())
        .set("role", agent.role.as_str())
        .set("department", agent.department.clone())
        .set("status", agent.status.as_str())
        .set("trust_level", agent.trust_level.as_str())
        .set("allowed_tools", serde_json::to_value(&agent.allowed_tools)?)
        .set("denied_tools", serde_json::to_value(&agent.denied_tools)?)
        .set("created_at", agent.created_at)
        .set("updated_at", agent.updated_at)
        .set("name_key", name_key))
}

/// One recorded change of an agent.
pub(crate) fn agent_event(agent: Uuid, change: &AgentChange, by: &Actor, at: OffsetDateTime) -> Insert {
    Insert::row("agent_events")
        .set("agent_id", agent)
        .set("field", change.field)
        .set("from_value", change.from.as_str())
        .set("to_value", change.to.as_str())
        .set("by_actor", by.label())
        .set("at", at)
}

pub(crate) fn task(task: &Task) -> Insert {
    Insert::row("tasks")
        .set("id", task.id)
        .set("title", task.title.as_str())
        .set("description", task.description.clone())
        .set("status", task.status.as_str())
        .set("assigned_to", task.assigned_to)
        .set("created_by", task.created_by.as_str())
        .set("parent_id", task.parent_id)
        .set("version", task.version)
        .set("created_at", task.created_at)
        .set("updated_at", task.updated_at)
}

pub(crate) fn transition(record: &TaskTransition) -> Insert {
    Insert::row("task_transitions")
        .set("task_id", record.task_id)
        .set("from_status", record.from.as_str())
        .set("to_status", record.to.as_str())
        .set("assigned_to", record.assigned_to)
        .set("by_actor", record.by.as_str())
        .set("at", record.at)
        .set("reason", record.reason.clone())
        .set("version", record.version)
}

pub(crate) fn cost(record: &CostRecord) -> Result<Insert, StoreError> {
    Ok(Insert::row("cost_records")
        .set("id", record.id)
        .set("agent_id", record.agent_id)
        .set("task_id", record.task_id)
        .set("provider", record.provider.as_str())
        .set("model", record.model.as_str())
        .set("input_tokens", tokens(record.input_tokens, "input_tokens")?)
        .set("output_tokens", tokens(record.output_tokens, "output_tokens")?)
        .set("cost_nanos", record.cost.nanos())
        .set("call_category", record.call_category.as_str())
        .set("occurred_at", record.occurred_at)
        .set("recorded_at", record.recorded_at)
        .set("idempotency_key", record.idempotency_key.clone())
        .set("cache_read_input_tokens", tokens(record.cache_read_input_tokens, "cache_read_input_tokens")?)
        .set("cache_write_input_tokens", tokens(record.cache_write_input_tokens, "cache_write_input_tokens")?)
        .set("reasoning_output_tokens", tokens(record.reasoning_output_tokens, "reasoning_output_tokens")?)
        .set("cost_source", record.cost_source.as_str())
        .set("computed_cost_nanos", record.computed_cost.map(Usd::nanos))
        .set("price_version", record.price_version.clone())
        .set("cost_disagrees", record.cost_disagrees)
        .set("reservation_id", record.reservation_id))
}

/// A hold as granted: open, created at `now`.
pub(crate) fn reservation(hold: &Reservation, now: OffsetDateTime) -> Insert {
    Insert::row("budget_reservations")
        .set("id", hold.id)
        .set("agent_id", hold.agent_id)
        .set("task_id", hold.task_id)
        .set("amount_nanos", hold.amount.nanos())
        .set("tokens", hold.tokens.min(i64::MAX as u64) as i64)
        .set("provider", hold.provider.clone())
        .set("model", hold.model.clone())
        .set("state", ReservationState::Open.as_str())
        .set("created_at", now)
        .set("expires_at", hold.expires_at)
        .set("closed_at", None::<OffsetDateTime>)
        .set("cost_record_id", None::<Uuid>)
        .set("settled_nanos", None::<i64>)
}

pub(crate) fn run(run: &CoordinationRun) -> Result<Insert, StoreError> {
    Ok(Insert::row("coordination_runs")
        .set("id", run.id)
        .set("task_id", run.task_id)
        .set("agents", serde_json::to_value(&run.agents)?)
        .set("topology", run.topology.as_str())
        .set("turns_mas", run.turns_mas)
        .set("turns_sas", run.turns_sas)
        .set("success_rate", run.success_rate)
        .set("efficiency", run.efficiency)
        .set("overhead_percent", run.overhead_percent)
        .set("created_at", run.created_at))
}

pub(crate) fn evaluation(e: &EvaluationRecord) -> Result<Insert, StoreError> {
    Ok(Insert::row("security_evaluations")
        .set("id", e.id)
        .set("agent_id", e.agent_id)
        .set("task_id", e.task_id)
        .set("tool", e.tool.as_str())
        .set("action_type", e.action_type.as_str())
        .set("verdict", e.verdict.as_str())
        .set("risk_level", e.risk_level.as_str())
        .set("reason", e.reason.as_str())
        .set("matched_rules", serde_json::to_value(&e.matched_rules)?)
        .set("approval_id", e.approval_id)
        .set("created_at", e.created_at)
        .set("action", e.action.as_str()))
}

pub(crate) fn approval(a: &Approval) -> Result<Insert, StoreError> {
    Ok(Insert::row("approvals")
        .set("id", a.id)
        .set("evaluation_id", a.evaluation_id)
        .set("agent_id", a.agent_id)
        .set("task_id", a.task_id)
        .set("tool", a.tool.as_str())
        .set("action_type", a.action_type.as_str())
        .set("arguments", serde_json::to_value(&a.arguments)?)
        .set("reason", a.reason.as_str())
        .set("risk_level", a.risk_level.as_str())
        .set("status", a.status.as_str())
        .set("created_at", a.created_at)
        .set("decided_at", a.decided_at)
        .set("decided_by", a.decided_by.clone())
        .set("decision_note", a.decision_note.clone()))
}

pub(crate) fn key(key: &ApiKeyRecord) -> Insert {
    Insert::row("api_keys")
        .set("id", key.id.as_str())
        .set("secret_hash", key.secret_hash.to_vec())
        .set("role", key.role.as_str())
        .set("agent_id", key.agent_id)
        .set("label", key.label.as_str())
        .set("created_at", key.created_at)
        .set("revoked_at", key.revoked_at)
}

/// A sealed event: its `before`/`after` as the JSON text its hash covers.
pub(crate) fn audit_event(sealed: &AuditEvent) -> Result<Insert, StoreError> {
    Ok(Insert::row("audit_events")
        .set("seq", sealed.seq)
        .set("id", sealed.id)
        .set("at", sealed.at)
        .set("actor", sealed.actor.as_str())
        .set("action", sealed.action.as_str())
        .set("target_type", sealed.target_type.as_str())
        .set("target_id", sealed.target_id.as_str())
        .set("before", json_text(&sealed.before)?)
        .set("after", json_text(&sealed.after)?)
        .set("request_id", sealed.request_id.clone())
        .set("trace_id", sealed.trace_id.clone())
        .set("prev_hash", hash_bytes(&sealed.prev_hash))
        .set("hash", hash_bytes(&sealed.hash)))
}
