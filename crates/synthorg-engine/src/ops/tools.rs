//! Tool calls made through the tool gateway (SPEC §18): which tools an agent is shown, and
//! the wait of an escalated call for its approval's decision. The call itself is judged by
//! [`Engine::evaluate`], the same operation `POST /security/evaluate` runs.

use std::time::Duration;

use synthorg_core::audit::AuditContext;
use synthorg_core::security::{AgentContext, Approval, ApprovalStatus, OutputScan, scan_output};
use synthorg_core::{Actor, DomainError};
use uuid::Uuid;

use crate::{Engine, EngineError, authorize};

/// How often a waiting call reads its approval again, for a decision made by another
/// replica (one made through this process wakes it at once).
const DECISION_POLL: Duration = Duration::from_millis(500);

/// One tool as a listing offers it: its policy name and action type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTool {
    pub name: String,
    pub action_type: String,
}

impl Engine {
    /// Which of `tools` the calling agent is shown: those its policy does not deny outright
    /// ([`synthorg_core::security::RuleEngine::policy_denies`]). Only an agent key lists
    /// tools through the gateway: what it may see depends on its agent.
    pub async fn visible_tools(&self, actor: &Actor, tools: &[ListedTool]) -> Result<Vec<bool>, EngineError> {
        let agent_id = actor.agent_id().ok_or_else(|| {
            DomainError::Forbidden("the tool gateway takes agent keys: a tool call is an agent's".into())
        })?;
        authorize::act_for(actor, agent_id)?;
        let agent = self.read(move |e| e.store().get_agent(agent_id)).await?;
        let context = AgentContext::from(&agent);
        Ok(tools.iter().map(|t| !self.rules().policy_denies(&context, &t.name, &t.action_type)).collect())
    }

    /// Waits up to `limit` for approval `id` to be decided, and returns it as it then stands
    /// (still pending when no one decided in time). An agent waits only on its own agent's
    /// approvals. A decision made through this process ([`Engine::decide_approval`]) wakes
    /// the wait as soon as it is committed; one made through another replica is seen within
    /// [`DECISION_POLL`].
    pub async fn await_decision(&self, actor: &Actor, id: Uuid, limit: Duration) -> Result<Approval, EngineError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the read, so a decision committed between the two still wakes.
            let decided = self.inner.decided.notified();
            let approval = self.read(move |e| e.store().get_approval(id)).await?;
            if let Some(own) = actor.agent_id()
                && own != approval.agent_id
            {
                return Err(DomainError::Forbidden(format!("this key acts for agent {own} only")).into());
            }
            let now = tokio::time::Instant::now();
            if approval.status != ApprovalStatus::Pending || now >= deadline {
                return Ok(approval);
            }
            let wake = deadline.min(now + DECISION_POLL);
            tokio::select! {
                () = decided => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

impl Engine {
    /// Scans the texts of a tool's result (SPEC §18): each is scanned for credentials and
    /// personal data; when anything is found the finding is audited and counted as an
    /// output scan would be ([`Engine::scan_output`] on the texts together). A clean result
    /// writes nothing. The scans come back in order, with their redacted texts.
    pub async fn scan_tool_result(
        &self,
        actor: &Actor,
        audit: AuditContext,
        task: Option<Uuid>,
        texts: &[&str],
    ) -> Result<Vec<OutputScan>, EngineError> {
        let scans: Vec<OutputScan> = texts.iter().map(|t| scan_output(t)).collect();
        if scans.iter().any(|s| s.sensitive_data_found) {
            let joined = texts.join("\n");
            self.scan_output(actor, audit, actor.agent_id(), task, &joined).await?;
        }
        Ok(scans)
    }
}
