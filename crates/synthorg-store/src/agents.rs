//! Agents: the store's side.

use synthorg_core::Actor;
use synthorg_core::agent::{Agent, AgentPatch, AgentStatus, TrustLevel};
use synthorg_core::audit::{AuditContext, AuditEvent};
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub role: Option<String>,
    pub department: Option<String>,
}

pub trait AgentStore {
    /// Inserts a new agent; a taken name is a conflict.
    fn create_agent(&self, agent: &Agent, audit: &AuditContext) -> Result<AuditEvent, StoreError>;
    fn get_agent(&self, id: Uuid) -> Result<Agent, StoreError>;
    fn list_agents(&self, filter: &AgentFilter, page: &PageRequest) -> Result<Page<Agent>, StoreError>;
    /// Applies a patch under the domain rules. Terminating an agent interrupts its active
    /// tasks in the same transaction.
    fn update_agent(
        &self,
        id: Uuid,
        patch: AgentPatch,
        by: &Actor,
        audit: &AuditContext,
    ) -> Result<(Agent, AuditEvent), StoreError>;
}

/// The key agent names are unique by: the name in its canonical spelling (NFKC, lowercased,
/// trimmed), so `Ada`, `ADA` and `Ａｄａ` are one name.
pub(crate) fn name_key(name: &str) -> String {
    synthorg_core::security::names::canonical(name).into_owned()
}

/// The conflict of a name already taken, in any spelling.
pub(crate) fn name_taken(name: &str) -> StoreError {
    StoreError::Domain(synthorg_core::DomainError::Conflict(format!(
        "an agent named {name:?} already exists (names are unique regardless of case and width)"
    )))
}
