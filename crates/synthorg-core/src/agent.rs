//! Agents: who they are, their lifecycle status and their trust level.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::text::{check_line, check_names};
use crate::{Actor, DomainError, FieldError, string_enum};

string_enum! {
    /// Lifecycle status of an agent. `terminated` is final.
    pub enum AgentStatus {
        Active => "active",
        Onboarding => "onboarding",
        OnLeave => "on_leave",
        Terminated => "terminated",
    }
}

impl AgentStatus {
    /// May an agent in this status still change anything (its keys write)? A terminated
    /// agent may not: termination is final, and its keys keep only read access.
    pub fn may_write(self) -> bool {
        self != AgentStatus::Terminated
    }
}

string_enum! {
    /// How far an agent is trusted: `sandboxed` < `restricted` < `standard` < `elevated`;
    /// `custom` uses the agent's explicit tool allow/deny lists.
    pub enum TrustLevel {
        Sandboxed => "sandboxed",
        Restricted => "restricted",
        Standard => "standard",
        Elevated => "elevated",
        Custom => "custom",
    }
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub department: String,
    pub status: AgentStatus,
    pub trust_level: TrustLevel,
    /// Tools this agent may use when its trust level is `custom` (empty: any not denied).
    pub allowed_tools: Vec<String>,
    /// Tools this agent may never use when its trust level is `custom`.
    pub denied_tools: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A request to register an agent.
#[derive(Debug, Clone, Default)]
pub struct NewAgent {
    pub name: String,
    pub role: String,
    pub department: String,
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub allowed_tools: Vec<String>,
    pub denied_tools: Vec<String>,
}

/// A partial update of an agent; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub role: Option<String>,
    pub department: Option<String>,
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub allowed_tools: Option<Vec<String>>,
    pub denied_tools: Option<Vec<String>>,
}

/// A change worth an audit record (status and trust level changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChange {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

pub const NAME_MAX: usize = 128;
const ROLE_MAX: usize = 64;
const DEPARTMENT_MAX: usize = 128;

impl NewAgent {
    /// Validates the request and builds the agent. Only admins register agents; the store
    /// enforces name uniqueness.
    pub fn into_agent(self, actor: &Actor, now: OffsetDateTime) -> Result<Agent, DomainError> {
        crate::authorize::admin(actor)?;
        let mut errors = Vec::new();
        check_line(&mut errors, "name", &self.name, 1, NAME_MAX);
        check_line(&mut errors, "role", &self.role, 1, ROLE_MAX);
        check_line(&mut errors, "department", &self.department, 0, DEPARTMENT_MAX);
        check_names(&mut errors, "allowed_tools", &self.allowed_tools);
        check_names(&mut errors, "denied_tools", &self.denied_tools);
        let status = self.status.unwrap_or(AgentStatus::Active);
        if status == AgentStatus::Terminated {
            errors.push(FieldError::new("status", "an agent cannot be registered as terminated"));
        }
        DomainError::check(errors)?;
        Ok(Agent {
            id: Uuid::now_v7(),
            name: self.name,
            role: self.role,
            department: self.department,
            status,
            trust_level: self.trust_level.unwrap_or(TrustLevel::Standard),
            allowed_tools: self.allowed_tools,
            denied_tools: self.denied_tools,
            created_at: now,
            updated_at: now,
        })
    }
}

impl AgentPatch {
    /// Applies the patch to `agent`, returning the updated agent and the audited changes.
    ///
    /// Rules: a terminated agent is final; raising the trust level (to `elevated`, or any
    /// change of trust level or tool lists) is an admin action; an agent key may change only
    /// its own agent's role, department and status.
    pub fn apply(
        self,
        agent: &Agent,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(Agent, Vec<AgentChange>), DomainError> {
        crate::authorize::act_for(actor, agent.id)?;
        if agent.status == AgentStatus::Terminated {
            return Err(DomainError::Conflict(format!(
                "agent {} is terminated; a terminated agent cannot be changed",
                agent.id
            )));
        }
        let touches_trust = self.trust_level.is_some() || self.allowed_tools.is_some() || self.denied_tools.is_some();
        crate::authorize::change_agent(actor, agent.id, touches_trust)?;
        let mut errors = Vec::new();
        if let Some(role) = &self.role {
            check_line(&mut errors, "role", role, 1, ROLE_MAX);
        }
        if let Some(department) = &self.department {
            check_line(&mut errors, "department", department, 0, DEPARTMENT_MAX);
        }
        if let Some(tools) = &self.allowed_tools {
            check_names(&mut errors, "allowed_tools", tools);
        }
        if let Some(tools) = &self.denied_tools {
            check_names(&mut errors, "denied_tools", tools);
        }
        DomainError::check(errors)?;

        let mut updated = agent.clone();
        let mut changes = Vec::new();
        if let Some(status) = self.status.filter(|s| *s != agent.status) {
            changes.push(AgentChange { field: "status", from: agent.status.to_string(), to: status.to_string() });
            updated.status = status;
        }
        if let Some(level) = self.trust_level.filter(|l| *l != agent.trust_level) {
            changes.push(AgentChange {
                field: "trust_level",
                from: agent.trust_level.to_string(),
                to: level.to_string(),
            });
            updated.trust_level = level;
        }
        if let Some(role) = self.role {
            updated.role = role;
        }
        if let Some(department) = self.department {
            updated.department = department;
        }
        if let Some(tools) = self.allowed_tools {
            updated.allowed_tools = tools;
        }
        if let Some(tools) = self.denied_tools {
            updated.denied_tools = tools;
        }
        updated.updated_at = now;
        Ok((updated, changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_terminated_agent_may_not_write() {
        for status in AgentStatus::ALL {
            assert_eq!(status.may_write(), *status != AgentStatus::Terminated, "{status}");
        }
    }

    fn admin() -> Actor {
        Actor::Admin { key_id: "a".into() }
    }

    fn agent() -> Agent {
        NewAgent { name: "ada".into(), role: "developer".into(), ..Default::default() }
            .into_agent(&admin(), OffsetDateTime::UNIX_EPOCH)
            .unwrap()
    }

    #[test]
    fn defaults_are_active_and_standard() {
        let a = agent();
        assert_eq!(a.status, AgentStatus::Active);
        assert_eq!(a.trust_level, TrustLevel::Standard);
    }

    #[test]
    fn names_are_validated() {
        let check = |name: &str, ok: bool| {
            let r = NewAgent { name: name.into(), role: "qa".into(), ..Default::default() }
                .into_agent(&admin(), OffsetDateTime::UNIX_EPOCH);
            assert_eq!(r.is_ok(), ok, "{name:?}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().starts_with("name:"), "{e}");
            }
        };
        check("", false);
        check("   ", false);
        check("x", true);
        check(&"é".repeat(128), true);
        check(&"é".repeat(129), false);
        check("quote\"back\\slash 🤖 {label=\"x\"}", true);
        check("new\nline", false);
        check("tab\there", false);
        check("bidi\u{202e}override", false);
    }

    #[test]
    fn terminated_is_final() {
        let a = agent();
        let patch = AgentPatch { status: Some(AgentStatus::Terminated), ..Default::default() };
        let (terminated, changes) = patch.apply(&a, &admin(), OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(changes.len(), 1);
        let revive = AgentPatch { status: Some(AgentStatus::Active), ..Default::default() };
        assert!(matches!(
            revive.apply(&terminated, &admin(), OffsetDateTime::UNIX_EPOCH),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn only_admins_change_trust() {
        let a = agent();
        let own = Actor::Agent { key_id: "k".into(), agent_id: a.id };
        let raise = AgentPatch { trust_level: Some(TrustLevel::Elevated), ..Default::default() };
        assert!(matches!(raise.clone().apply(&a, &own, OffsetDateTime::UNIX_EPOCH), Err(DomainError::Forbidden(_))));
        let (raised, changes) = raise.apply(&a, &admin(), OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(raised.trust_level, TrustLevel::Elevated);
        assert_eq!(changes[0].field, "trust_level");
        let other = Actor::Agent { key_id: "k".into(), agent_id: Uuid::nil() };
        let leave = AgentPatch { status: Some(AgentStatus::OnLeave), ..Default::default() };
        assert!(matches!(leave.clone().apply(&a, &other, OffsetDateTime::UNIX_EPOCH), Err(DomainError::Forbidden(_))));
        assert!(leave.apply(&a, &own, OffsetDateTime::UNIX_EPOCH).is_ok());
    }
}
