//! Agent operations: register, change.

use synthorg_core::agent::{Agent, AgentPatch, NewAgent};
use synthorg_core::audit::AuditContext;
use synthorg_core::event::Event;
use synthorg_core::{Actor, authorize};
use synthorg_store::{Done, now};
use uuid::Uuid;

use crate::{Engine, EngineError};

impl Engine {
    /// Registers an agent (admins). Names are unique in their canonical spelling. Audited.
    pub async fn register_agent(
        &self,
        actor: &Actor,
        audit: AuditContext,
        agent: NewAgent,
    ) -> Result<Agent, EngineError> {
        let agent = agent.into_agent(actor, now())?;
        self.write(move |e| {
            let sealed = e.store().create_agent(&agent, &audit)?;
            let event =
                Event::AgentRegistered { agent_id: agent.id, role: agent.role.clone(), trust_level: agent.trust_level };
            let events = [event, Event::Audited(sealed)];
            Ok::<_, EngineError>(Done::with(agent, events))
        })
        .await
    }

    /// Changes an agent: an agent key its own role, department and status; admins also its
    /// trust level and tool lists. Terminating interrupts its active tasks; a terminated agent
    /// is final. Audited.
    pub async fn update_agent(
        &self,
        actor: &Actor,
        audit: AuditContext,
        id: Uuid,
        patch: AgentPatch,
    ) -> Result<Agent, EngineError> {
        let touches_trust =
            patch.trust_level.is_some() || patch.allowed_tools.is_some() || patch.denied_tools.is_some();
        authorize::change_agent(actor, id, touches_trust)?;
        let actor = actor.clone();
        let updated = self
            .write(move |e| {
                let before = e.store().get_agent(id)?;
                let (agent, sealed) = e.store().update_agent(id, patch, &actor, &audit)?;
                let events = Event::agent_changes(&before, &agent, &actor.label());
                Ok::<_, EngineError>(Done::with(agent, events.into_iter().chain([Event::Audited(sealed)])))
            })
            .await;
        // Before the answer: a terminated agent's keys may only read from the next request on.
        self.inner.credentials.forget();
        updated
    }
}
