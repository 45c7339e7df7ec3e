//! What happened: the events a change produces, as data.
//!
//! A unit of work returns its events beside its answer; the store hands them on only once
//! the transaction that holds the change is committed, and drops them when it is not (see
//! `synthorg_store::Done`). Whoever receives them logs and counts them (the API's effects):
//! an event never describes a change that was rolled back.

use uuid::Uuid;

use crate::agent::{AgentStatus, TrustLevel};
use crate::budget::Scope;
use crate::cost::{CostSource, GenAiOperation};
use crate::reservation::ReservationState;
use crate::security::{Decision, RiskLevel, Verdict};
use crate::task::TaskStatus;
use crate::{Role, Usd};

crate::string_enum! {
    /// How a request through the tool gateway ended.
    pub enum ToolOutcome {
        /// Allowed by the rules (or a listing) and answered by the server.
        Forwarded => "forwarded",
        /// Denied by the rules: the server never saw it.
        Denied => "denied",
        /// Escalated, approved while it waited, then answered by the server.
        Approved => "approved",
        /// Escalated and rejected while it waited: the server never saw it.
        Rejected => "rejected",
        /// Escalated and not decided within `approval_wait`: the server never saw it.
        Unanswered => "unanswered",
        /// The server failed (timeout, error, broken protocol, process ended).
        UpstreamError => "upstream_error",
        /// The request itself was refused (bad parameters, unknown tool or task).
        Invalid => "invalid",
    }
}

crate::string_enum! {
    /// How a call through the model gateway ended.
    pub enum CallOutcome {
        /// The provider answered, and the call was settled from its answer.
        Answered => "answered",
        /// The budget could not cover the hold: nothing was sent.
        Refused => "refused",
        /// The agent's requests or tokens per minute had no room: nothing was sent.
        RateLimited => "rate_limited",
        /// The provider answered an error (passed through; the hold released).
        UpstreamError => "upstream_error",
        /// The provider did not answer within its timeout.
        UpstreamTimeout => "upstream_timeout",
        /// The provider could not be reached.
        UpstreamUnreachable => "upstream_unreachable",
        /// A stream passed the held cap and was ended by the gateway.
        CutAtHold => "cut_at_hold",
        /// A stream ended without the provider's finish (failed, or quiet past the timeout).
        Broken => "broken",
        /// The client went away before the stream ended.
        ClientGone => "client_gone",
    }
}

/// One thing that happened, with what its log line and its metrics need.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    AgentRegistered {
        agent_id: Uuid,
        role: String,
        trust_level: TrustLevel,
    },
    TrustLevelChanged {
        agent_id: Uuid,
        from: TrustLevel,
        to: TrustLevel,
        by: String,
    },
    AgentStatusChanged {
        agent_id: Uuid,
        from: AgentStatus,
        to: AgentStatus,
        by: String,
    },
    TaskCreated {
        task_id: Uuid,
        created_by: String,
    },
    TaskTransitioned {
        task_id: Uuid,
        agent_id: Option<Uuid>,
        from: TaskStatus,
        to: TaskStatus,
        version: i64,
    },
    CostRecorded {
        agent_id: Uuid,
        task_id: Option<Uuid>,
        provider: String,
        model: String,
        cost: Usd,
        cost_source: CostSource,
        computed_cost: Option<Usd>,
        disagrees: bool,
        /// The kind of call, and its tokens (for `gen_ai.client.token.usage`).
        operation: GenAiOperation,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// A call through the model gateway ended (SPEC §17): where it went, how it ended and
    /// how long it took, for the gateway's metrics and log line. Its cost, if any, is a
    /// `CostRecorded` of its own.
    ModelCalled {
        agent_id: Uuid,
        /// `chat` (chat completions, responses, messages) or `embeddings`.
        operation: GenAiOperation,
        /// The provider as configured, and as the GenAI conventions name it (`openai`).
        provider: String,
        provider_name: String,
        model: String,
        outcome: CallOutcome,
        streamed: bool,
        /// The whole call as its client saw it (to a stream's last event).
        seconds: f64,
        /// The part spent in synthorg, not waiting for the provider.
        overhead_seconds: f64,
        /// A stream's first chunk, from the start of the call.
        first_chunk_seconds: Option<f64>,
    },
    /// One request through the tool gateway (SPEC §18), for its metrics and log line. Its
    /// verdict, if judged, is a `SecurityVerdict` of its own.
    McpRequest {
        agent_id: Uuid,
        /// The server as configured.
        server: String,
        /// The MCP method (`tools/call`, `tools/list`, …).
        method: String,
        /// The tool a `tools/call` named.
        tool: Option<String>,
        /// The rules' verdict on a `tools/call`.
        verdict: Option<crate::security::Verdict>,
        outcome: ToolOutcome,
        /// The conventions' `error.type` of a failed request (`tool_error` for a result
        /// marked `isError`).
        error_type: Option<String>,
        /// The whole request as the agent saw it.
        seconds: f64,
        /// The server's part (`None` when it was not called).
        upstream_seconds: Option<f64>,
        /// The part spent in synthorg: neither waiting for the server nor for an approval.
        overhead_seconds: f64,
    },
    BudgetConfigured {
        total_monthly: Usd,
        reset_day: u8,
        by: String,
    },
    SecurityVerdict {
        agent_id: Uuid,
        task_id: Option<Uuid>,
        tool: String,
        action_type: String,
        verdict: Verdict,
        /// What the answer did (`allow` for a shadowed deny or escalate).
        action: Verdict,
        risk_level: RiskLevel,
        reason: String,
    },
    OutputScanned {
        agent_id: Option<Uuid>,
        task_id: Option<Uuid>,
        verdict: Verdict,
        risk_level: RiskLevel,
        findings: usize,
    },
    ApprovalDecided {
        approval_id: Uuid,
        agent_id: Uuid,
        decision: Decision,
        by: String,
        /// Seconds from the escalation to the decision.
        waited_seconds: f64,
    },
    KeyCreated {
        key_id: String,
        role: Role,
        by: String,
    },
    KeyRevoked {
        key_id: String,
        by: String,
    },
    ReservationGranted {
        reservation_id: Uuid,
        agent_id: Uuid,
        task_id: Option<Uuid>,
        amount: Usd,
        tokens: u64,
        ttl_seconds: i64,
    },
    /// A hold that did not fit; nothing was written.
    ReservationRefused {
        agent_id: Uuid,
        task_id: Option<Uuid>,
        scope: Scope,
        message: String,
    },
    /// A cost report named the reservation. `was` is its state before: only an `open` one
    /// is settled by the report; for the others the money was spent beyond any hold.
    ReservationSettled {
        reservation_id: Uuid,
        agent_id: Uuid,
        was: ReservationState,
        held: Usd,
        cost: Usd,
        overshoot: Usd,
    },
    ReservationReleased {
        reservation_id: Uuid,
        agent_id: Uuid,
        amount: Usd,
    },
    ReservationExpired {
        reservation_id: Uuid,
        agent_id: Uuid,
        amount: Usd,
    },
    CoordinationRunRecorded {
        task_id: Option<Uuid>,
        topology: String,
        efficiency: f64,
        overhead_percent: f64,
    },
    /// An audit event the change's transaction appended to the chain.
    Audited(crate::audit::AuditEvent),
}

impl Event {
    /// The events of an agent changed from `before` to `after` by `by`: one per audited
    /// field that changed (trust level, status).
    pub fn agent_changes(before: &crate::agent::Agent, after: &crate::agent::Agent, by: &str) -> Vec<Event> {
        let mut events = Vec::new();
        if before.trust_level != after.trust_level {
            events.push(Event::TrustLevelChanged {
                agent_id: after.id,
                from: before.trust_level,
                to: after.trust_level,
                by: by.to_owned(),
            });
        }
        if before.status != after.status {
            events.push(Event::AgentStatusChanged {
                agent_id: after.id,
                from: before.status,
                to: after.status,
                by: by.to_owned(),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::agent::Agent;

    fn agent() -> Agent {
        let at = datetime!(2026-11-30 12:00 UTC);
        Agent {
            id: Uuid::now_v7(),
            name: "ada".into(),
            role: "developer".into(),
            department: "eng".into(),
            status: AgentStatus::Active,
            trust_level: TrustLevel::Standard,
            allowed_tools: vec![],
            denied_tools: vec![],
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn agent_changes_name_each_audited_field_that_changed() {
        let before = agent();
        let mut after = before.clone();
        after.role = "reviewer".into();
        assert!(Event::agent_changes(&before, &after, "key:a").is_empty(), "a role change is not audited");

        after.trust_level = TrustLevel::Elevated;
        after.status = AgentStatus::OnLeave;
        let events = Event::agent_changes(&before, &after, "key:a");
        assert_eq!(
            events,
            [
                Event::TrustLevelChanged {
                    agent_id: before.id,
                    from: TrustLevel::Standard,
                    to: TrustLevel::Elevated,
                    by: "key:a".into()
                },
                Event::AgentStatusChanged {
                    agent_id: before.id,
                    from: AgentStatus::Active,
                    to: AgentStatus::OnLeave,
                    by: "key:a".into()
                },
            ]
        );
    }
}
