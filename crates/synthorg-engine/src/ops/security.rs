//! Security operations: a verdict on an action (with an optional hold), an output scan, an
//! approval's decision.

use synthorg_core::Actor;
use synthorg_core::audit::{AuditContext, NewAuditEvent};
use synthorg_core::budget::Exhausted;
use synthorg_core::event::Event;
use synthorg_core::rate::CallRates;
use synthorg_core::reservation::NewReservation;
use synthorg_core::security::{
    AgentContext, Approval, DecisionRequest, OutputScan, SecurityAction, SecurityMode, Verdict, scan_output,
};
use synthorg_store::{Done, EvaluationRecord, StoreError, now};
use synthorg_telemetry::otlp::{AttrValue, SpanKind};
use uuid::Uuid;

use crate::{Engine, EngineError, Reserved, authorize};

/// A verdict: the evaluation as recorded, the mode it was made in, and with a hold asked
/// for, the hold granted or the scope that refused it. A budget that refuses all new work
/// names its scope here too, with or without a hold.
#[derive(Debug)]
pub struct Evaluated {
    pub record: EvaluationRecord,
    pub mode: SecurityMode,
    pub reservation: Option<Reserved>,
    pub budget_exhausted: Option<Exhausted>,
}

impl Engine {
    /// Judges an action before it is taken. The budget gates the rules; `escalate` opens a
    /// pending approval; with `hold`, an `allow` also holds that budget (a hold that does not
    /// fit turns it into a `deny`). Every verdict is recorded and audited.
    pub async fn evaluate(
        &self,
        actor: &Actor,
        audit: AuditContext,
        action: SecurityAction,
        hold: Option<NewReservation>,
    ) -> Result<Evaluated, EngineError> {
        authorize::act_for(actor, action.agent_id)?;
        SecurityAction::check_names(&action.tool, &action.action_type)?;
        // A bad hold is refused before anything is judged.
        let hold = hold.map(|h| h.into_reservation(now(), &self.settings().prices, "reserve.")).transpose()?;
        let started = std::time::SystemTime::now();
        let actor = actor.clone();
        let evaluated = self
            .write(move |e| {
                let agent = e.store().get_agent(action.agent_id).map_err(|err| invalid_ref(err, "agent_id"))?;
                if let Some(task) = action.task_id {
                    authorize::assigned(&actor, &e.store().get_task(task).map_err(|err| invalid_ref(err, "task_id"))?)?;
                }
                let at = now();
                let mut budget_exhausted = e.refusal(action.agent_id, action.task_id, at)?;
                let refusal = budget_exhausted.as_ref().map(Exhausted::message);
                let mut assessment = e.rules().assess(&action, &AgentContext::from(&agent), refusal, at);
                let mut events = Vec::new();
                let mut reservation = None;
                // Only an allow holds money; a hold that does not fit turns it into a deny.
                if let Some(hold) = hold.filter(|_| assessment.action == Verdict::Allow) {
                    let config = e.budget()?;
                    let (outcome, event) = e.grant(&config, &hold, &CallRates::default())?;
                    events.push(event);
                    match outcome {
                        Ok(granted) => reservation = Some(granted),
                        Err(exhausted) => {
                            assessment.deny_for_budget(exhausted.message());
                            budget_exhausted = Some(exhausted);
                        }
                    }
                }
                let record = EvaluationRecord::of(&action, &assessment, at);
                let sealed = e.store().record_evaluation(&record, assessment.approval.as_ref(), &audit)?;
                events.push(record.event());
                events.push(Event::Audited(sealed));
                let evaluated = Evaluated { record, mode: e.rules().mode(), reservation, budget_exhausted };
                Ok::<_, EngineError>(Done::with(evaluated, events))
            })
            .await?;
        self.guardrail_span(&evaluated, started);
        Ok(evaluated)
    }

    /// Scans a tool's output for credentials and personal data (verdict `output_scan`), for
    /// `agent` (an agent key's own when it names none) and `task`. Audited.
    pub async fn scan_output(
        &self,
        actor: &Actor,
        audit: AuditContext,
        agent: Option<Uuid>,
        task: Option<Uuid>,
        output: &str,
    ) -> Result<OutputScan, EngineError> {
        let agent = agent.or(actor.agent_id());
        match agent {
            Some(agent) => authorize::act_for(actor, agent)?,
            None => authorize::may_write(actor)?,
        }
        // Scanned before the write: the writer does not wait on the detectors.
        let scan = scan_output(output);
        let actor = actor.clone();
        self.write(move |e| {
            authorize::on_task(e.store().as_ref(), &actor, task)?;
            let findings = scan.findings.len();
            let sealed =
                e.store().append_audit(&audit, NewAuditEvent::output_scanned(agent, task, scan.verdict, findings))?;
            let event = Event::OutputScanned {
                agent_id: agent,
                task_id: task,
                verdict: scan.verdict,
                risk_level: scan.risk_level,
                findings,
            };
            Ok::<_, EngineError>(Done::with(scan, [event, Event::Audited(sealed)]))
        })
        .await
    }

    /// Approves or rejects a pending approval (admins). Deciding twice is a conflict.
    pub async fn decide_approval(
        &self,
        actor: &Actor,
        audit: AuditContext,
        id: Uuid,
        request: DecisionRequest,
    ) -> Result<Approval, EngineError> {
        authorize::admin(actor)?;
        let actor = actor.clone();
        self.write(move |e| {
            let (approval, sealed) = e.store().decide_approval(id, &request, &actor, &audit)?;
            let waited = approval.decided_at.map_or(time::Duration::ZERO, |at| at - approval.created_at);
            let event = Event::ApprovalDecided {
                approval_id: id,
                agent_id: approval.agent_id,
                decision: request.decision,
                by: actor.label(),
                waited_seconds: waited.as_seconds_f64().max(0.0),
            };
            Ok::<_, EngineError>(Done::with(approval, [event, Event::Audited(sealed)]))
        })
        .await
        .inspect(|_| self.inner.decided.notify_waiters())
    }

    /// The evaluation as the GenAI conventions' in-process guardrail span
    /// (`gen_ai.run_guardrail.internal`): `run_guardrail synthorg`, on a tool call's input,
    /// with the rules' verdict (`gen_ai.guardrail.verdict.type`) apart from what the answer
    /// did (`gen_ai.guardrail.action.type`, in the conventions' words: a deny is `block`, and
    /// a shadowed verdict that changed nothing is `audit`). The verdict's reason is not
    /// sent: it quotes the agent's own tool name, and the conventions ask for a low-cardinality
    /// value; the matched rules say the same.
    fn guardrail_span(&self, evaluated: &Evaluated, started: std::time::SystemTime) {
        let Some(tracer) = &self.settings().tracer else { return };
        let record = &evaluated.record;
        let action = guardrail_action(record.action, record.verdict);
        let mut attributes: Vec<(&'static str, AttrValue)> = vec![
            ("gen_ai.operation.name", "run_guardrail".into()),
            ("gen_ai.guardrail.component.name", GUARDRAIL.into()),
            ("gen_ai.guardrail.target.type", "input".into()),
            ("gen_ai.guardrail.target.subtype", "tool_call".into()),
            ("gen_ai.guardrail.verdict.type", record.verdict.as_str().into()),
            ("gen_ai.guardrail.action.type", action.into()),
            ("gen_ai.agent.id", record.agent_id.to_string().into()),
            ("gen_ai.tool.name", record.tool.as_str().into()),
            ("synthorg.security.mode", evaluated.mode.as_str().into()),
            ("synthorg.security.risk_level", record.risk_level.as_str().into()),
            ("synthorg.security.evaluation_id", record.id.to_string().into()),
            ("synthorg.security.matched_rules", AttrValue::StrArray(record.matched_rules.clone())),
        ];
        if let Some(rule) = record.matched_rules.first() {
            attributes.push(("gen_ai.guardrail.security.policy.id", POLICY.into()));
            attributes.push(("gen_ai.guardrail.security.policy.rule.id", rule.as_str().into()));
        }
        let name = format!("run_guardrail {GUARDRAIL}");
        tracer.record_child(name, SpanKind::Internal, started, attributes, None);
    }
}

/// What the answer did, in the guardrail conventions' `action.type` words.
fn guardrail_action(action: Verdict, verdict: Verdict) -> &'static str {
    match (action, verdict) {
        (Verdict::Allow, Verdict::Allow) => "allow",
        // Shadow mode: the verdict was recorded, the call went on.
        (Verdict::Allow, _) => "audit",
        (Verdict::Deny, _) => "block",
        (Verdict::Escalate, _) => "escalate",
        // An output scan's record: it reports and redacts, the call already ran.
        (Verdict::OutputScan, _) => "audit",
    }
}

/// The guardrail component, as the spans name it.
const GUARDRAIL: &str = "synthorg";
/// The policy the rules belong to (`security.policies` of the configuration).
const POLICY: &str = "synthorg.security.policies";

/// A reference in the request to something that does not exist is the request's fault.
fn invalid_ref(error: StoreError, field: &'static str) -> EngineError {
    match error {
        StoreError::NotFound { entity, id } => {
            synthorg_core::DomainError::invalid(field, format!("{entity} {id} does not exist")).into()
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_in_the_conventions_words() {
        assert_eq!(guardrail_action(Verdict::Allow, Verdict::Allow), "allow");
        assert_eq!(guardrail_action(Verdict::Deny, Verdict::Deny), "block");
        assert_eq!(guardrail_action(Verdict::Escalate, Verdict::Escalate), "escalate");
        assert_eq!(guardrail_action(Verdict::Allow, Verdict::Deny), "audit", "a shadowed deny");
        assert_eq!(guardrail_action(Verdict::Allow, Verdict::Escalate), "audit", "a shadowed escalation");
    }
}
