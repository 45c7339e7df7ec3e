//! Who is acting: the authenticated caller as the domain rules see it.

use uuid::Uuid;

use crate::string_enum;

string_enum! {
    /// The role of an API key.
    pub enum Role {
        Admin => "admin",
        Agent => "agent",
        Viewer => "viewer",
    }
}

/// The caller of an operation, derived from its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// May do everything.
    Admin { key_id: String },
    /// Acts for one agent only.
    Agent { key_id: String, agent_id: Uuid },
    /// May only read.
    Viewer { key_id: String },
    /// synthorg itself (start-up, cascades such as terminating an agent).
    System,
}

impl Actor {
    /// How the actor is recorded in histories and audit rows: `key:<id>` or `system`.
    pub fn label(&self) -> String {
        match self {
            Actor::Admin { key_id } | Actor::Agent { key_id, .. } | Actor::Viewer { key_id } => {
                format!("key:{key_id}")
            }
            Actor::System => "system".to_owned(),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Actor::Admin { .. } | Actor::System)
    }

    /// The API key acting and its role; `None` for synthorg itself.
    pub fn key(&self) -> Option<(&str, Role)> {
        match self {
            Actor::Admin { key_id } => Some((key_id, Role::Admin)),
            Actor::Agent { key_id, .. } => Some((key_id, Role::Agent)),
            Actor::Viewer { key_id } => Some((key_id, Role::Viewer)),
            Actor::System => None,
        }
    }

    /// The agent an agent key is bound to.
    pub fn agent_id(&self) -> Option<Uuid> {
        match self {
            Actor::Agent { agent_id, .. } => Some(*agent_id),
            _ => None,
        }
    }
}
