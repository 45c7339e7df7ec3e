//! What the API does with the events of committed changes: one log line each (audited
//! changes under the `synthorg::audit` target) and the counters they move.
//!
//! Handlers never log or count a change themselves: they return its events with their
//! answer ([`synthorg_store::Done`]), and the store hands them here only after the commit
//! that holds the change (see `synthorg_store::Job`). One place logs and counts each event.

use std::sync::Arc;

use synthorg_core::Usd;
use synthorg_core::event::Event;
use synthorg_core::reservation::{Outcome, ReservationState};

use crate::metrics::MetricsCollector;

/// Logs and counts events; the [`synthorg_store::Effects`] of every API write.
#[derive(Debug, Default)]
pub struct ApiEffects {
    metrics: Option<Arc<MetricsCollector>>,
}

impl ApiEffects {
    pub fn new(metrics: Option<Arc<MetricsCollector>>) -> Self {
        Self { metrics }
    }

    fn count(&self, event: &Event) {
        let Some(metrics) = &self.metrics else { return };
        match event {
            Event::SecurityVerdict { verdict, action, .. } => metrics.events().verdict(*verdict, *action),
            Event::CostRecorded { cost, provider, model, operation, input_tokens, output_tokens, .. } => {
                metrics.events().cost_recorded(cost.as_f64());
                metrics.events().token_usage(*operation, provider, model, *input_tokens, *output_tokens);
            }
            Event::OutputScanned { verdict, .. } => metrics.events().verdict(*verdict, *verdict),
            Event::CoordinationRunRecorded { efficiency, overhead_percent, .. } => {
                metrics.events().coordination_run(*efficiency, *overhead_percent);
            }
            Event::ApprovalDecided { decision, waited_seconds, .. } => {
                metrics.events().approval_decided(*decision, *waited_seconds);
            }
            Event::ReservationGranted { .. } => metrics.events().reservation(Outcome::Granted),
            Event::ReservationRefused { .. } => metrics.events().reservation(Outcome::Refused),
            // A report naming a hold that was already closed settles nothing: only its
            // overshoot is counted.
            Event::ReservationSettled { was, overshoot, .. } => {
                let outcome = (*was == ReservationState::Open).then_some(Outcome::Settled);
                metrics.events().settled(outcome, *overshoot);
            }
            Event::ReservationReleased { .. } => metrics.events().reservation(Outcome::Released),
            Event::ReservationExpired { .. } => metrics.events().reservation(Outcome::Expired),
            Event::ModelCalled {
                operation,
                provider,
                provider_name,
                model,
                outcome,
                seconds,
                overhead_seconds,
                first_chunk_seconds,
                ..
            } => metrics.gateway().call(crate::metrics::Call {
                operation: *operation,
                provider,
                provider_name,
                model,
                outcome: *outcome,
                seconds: *seconds,
                overhead_seconds: *overhead_seconds,
                first_chunk_seconds: *first_chunk_seconds,
            }),
            Event::McpRequest {
                server,
                method,
                tool,
                verdict,
                outcome,
                error_type,
                seconds,
                upstream_seconds,
                overhead_seconds,
                ..
            } => metrics.tools().request(crate::metrics::ToolRequest {
                server,
                method,
                tool: tool.as_deref(),
                verdict: verdict.map(|v| v.as_str()),
                outcome: *outcome,
                error_type: error_type.as_deref(),
                seconds: *seconds,
                upstream_seconds: *upstream_seconds,
                overhead_seconds: *overhead_seconds,
            }),
            _ => {}
        }
    }
}

impl synthorg_store::Effects for ApiEffects {
    fn apply(&self, events: Vec<Event>) {
        for event in &events {
            self.count(event);
            log(event);
        }
    }
}

/// The log line of an event. The audit trail's own events go to the `synthorg::audit`
/// target (operators route it to a file of its own): one line per event of the chain.
fn log(event: &Event) {
    match event {
        Event::AgentRegistered { agent_id, role, trust_level } => {
            tracing::info!(agent_id = %agent_id, role = %role, trust_level = %trust_level, "agent registered");
        }
        Event::TrustLevelChanged { agent_id, from, to, by } => {
            tracing::info!(agent_id = %agent_id, from = %from, to = %to, by = %by,
                "trust level changed");
        }
        Event::AgentStatusChanged { agent_id, from, to, by } => {
            tracing::info!(agent_id = %agent_id, from = %from, to = %to, by = %by,
                "agent status changed");
        }
        Event::TaskCreated { task_id, created_by } => {
            tracing::info!(task_id = %task_id, created_by = %created_by, "task created");
        }
        Event::TaskTransitioned { task_id, agent_id, from, to, version } => {
            tracing::info!(task_id = %task_id, agent_id = agent_id.map(tracing::field::display), from = %from, to = %to, version = version,
                "task transition");
        }
        Event::CostRecorded {
            agent_id, task_id, provider, model, cost, cost_source, computed_cost, disagrees, ..
        } => {
            if *disagrees {
                tracing::warn!(agent_id = %agent_id, task_id = task_id.map(tracing::field::display), provider = %provider, model = %model,
                    cost = cost.as_f64(), cost_source = %cost_source, computed_cost = computed_cost.map(Usd::as_f64),
                    "cost recorded; the reported cost differs from the catalogue price by more than 1%");
            } else {
                tracing::info!(agent_id = %agent_id, task_id = task_id.map(tracing::field::display), provider = %provider, model = %model,
                    cost = cost.as_f64(), cost_source = %cost_source, computed_cost = computed_cost.map(Usd::as_f64), "cost recorded");
            }
        }
        Event::ModelCalled {
            agent_id,
            operation,
            provider,
            model,
            outcome,
            streamed,
            seconds,
            overhead_seconds,
            first_chunk_seconds,
            ..
        } => {
            tracing::info!(target: "synthorg::gateway", agent_id = %agent_id, operation = %operation, provider = %provider, model = %model,
                outcome = %outcome, streamed, seconds, overhead_seconds, first_chunk_seconds, "model call through the gateway");
        }
        Event::McpRequest {
            agent_id,
            server,
            method,
            tool,
            verdict,
            outcome,
            error_type,
            seconds,
            upstream_seconds,
            ..
        } => {
            // A listing or a ping is routine; a tool call is what an operator follows.
            if tool.is_some() {
                tracing::info!(target: "synthorg::tools", agent_id = %agent_id, server = %server, method = %method,
                    tool = tool.as_deref(), verdict = verdict.map(|v| v.as_str()), outcome = %outcome,
                    error_type = error_type.as_deref(), seconds, upstream_seconds, "tool call through the gateway");
            } else {
                tracing::debug!(target: "synthorg::tools", agent_id = %agent_id, server = %server, method = %method,
                    outcome = %outcome, error_type = error_type.as_deref(), seconds, "mcp request through the gateway");
            }
        }
        Event::BudgetConfigured { total_monthly, reset_day, by } => {
            tracing::info!(total_monthly = total_monthly.as_f64(), reset_day = reset_day, by = %by,
                "budget configured");
        }
        Event::SecurityVerdict { agent_id, task_id, tool, action_type, verdict, action, risk_level, reason } => {
            if verdict == action {
                tracing::info!(agent_id = %agent_id, task_id = task_id.map(tracing::field::display), tool = %tool,
                    action_type = %action_type, verdict = %verdict, action = %action, risk_level = %risk_level,
                    reason = %reason, "security verdict");
            } else {
                tracing::warn!(agent_id = %agent_id, task_id = task_id.map(tracing::field::display), tool = %tool,
                    action_type = %action_type, verdict = %verdict, action = %action, risk_level = %risk_level,
                    reason = %reason, "security verdict not enforced (shadow mode)");
            }
        }
        Event::OutputScanned { agent_id, task_id, verdict, risk_level, findings } => {
            tracing::info!(agent_id = agent_id.map(tracing::field::display), task_id = task_id.map(tracing::field::display),
                verdict = %verdict, risk_level = %risk_level, findings = findings, "output scanned");
        }
        Event::ApprovalDecided { approval_id, agent_id, decision, by, waited_seconds } => {
            tracing::info!(approval_id = %approval_id, agent_id = %agent_id,
                decision = %decision, by = %by, waited_seconds = waited_seconds, "approval decided");
        }
        Event::KeyCreated { key_id, role, by } => {
            tracing::info!(key_id = %key_id, role = %role, by = %by, "api key created");
        }
        Event::KeyRevoked { key_id, by } => {
            tracing::info!(key_id = %key_id, by = %by, "api key revoked");
        }
        // The token count stays out of the line: field names containing "token" are redacted
        // as secrets by every sink. The reservation record keeps it.
        Event::ReservationGranted { reservation_id, agent_id, task_id, amount, ttl_seconds, .. } => {
            tracing::info!(reservation_id = %reservation_id, agent_id = %agent_id, task_id = task_id.map(tracing::field::display),
                amount = amount.as_f64(), ttl_seconds = ttl_seconds, "budget reserved");
        }
        Event::ReservationRefused { agent_id, task_id, scope, message } => {
            tracing::warn!(agent_id = %agent_id, task_id = task_id.map(tracing::field::display), scope = %scope,
                reason = %message, "budget reservation refused");
        }
        Event::ReservationSettled { reservation_id, agent_id, was, held, cost, overshoot } => {
            if overshoot.is_zero() {
                tracing::info!(reservation_id = %reservation_id, agent_id = %agent_id, held = held.as_f64(),
                    cost = cost.as_f64(), "budget reservation settled");
            } else {
                tracing::warn!(reservation_id = %reservation_id, agent_id = %agent_id, state = %was, held = held.as_f64(),
                    cost = cost.as_f64(), overshoot = overshoot.as_f64(), "spend beyond its reservation");
            }
        }
        Event::ReservationReleased { reservation_id, agent_id, amount } => {
            tracing::info!(reservation_id = %reservation_id, agent_id = %agent_id, amount = amount.as_f64(),
                "budget reservation released");
        }
        Event::ReservationExpired { reservation_id, agent_id, amount } => {
            tracing::info!(reservation_id = %reservation_id, agent_id = %agent_id, amount = amount.as_f64(),
                "budget reservation expired");
        }
        Event::CoordinationRunRecorded { task_id, topology, efficiency, overhead_percent } => {
            tracing::info!(task_id = task_id.map(tracing::field::display), topology = %topology, efficiency = efficiency,
                overhead_percent = overhead_percent, "coordination run recorded");
        } // The chain's event itself: one line per stored event, after its commit, in the
        // request's span (so with its request and trace ids).
        Event::Audited(e) => {
            let json = |v: &Option<serde_json::Value>| v.as_ref().map(serde_json::Value::to_string);
            tracing::info!(target: "synthorg::audit", seq = e.seq, action = %e.action, actor = %e.actor,
                target_type = %e.target_type, target_id = %e.target_id, before = json(&e.before), after = json(&e.after),
                hash = %e.hash, prev_hash = %e.prev_hash, "audit event");
        }
    }
}
