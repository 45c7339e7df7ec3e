//! Who may do what: every rule of authorization, as pure functions of the caller and the
//! state it acts on, so that each is unit-tested without IO and stated once.
//!
//! - admins (and synthorg itself) may do everything; only they register agents, change trust
//!   levels and tool lists, configure the budget, decide approvals and manage keys;
//! - viewers only read;
//! - an agent key acts only for its own agent, only on tasks assigned to that agent (or takes
//!   an unassigned one for itself), and reports only coordination runs its agent took part in.
//!
//! The engine (`synthorg_engine::authorize`) applies them before an operation runs; the rules
//! that depend on what a transaction reads (moving a task) run inside that transaction, through
//! the same functions.

use uuid::Uuid;

use crate::task::Task;
use crate::{Actor, DomainError};

fn forbidden(message: impl Into<String>) -> DomainError {
    DomainError::Forbidden(message.into())
}

/// The caller may change things: any key but a viewer's.
pub fn may_write(actor: &Actor) -> Result<(), DomainError> {
    match actor {
        Actor::Viewer { .. } => Err(forbidden("a viewer key may only read")),
        Actor::Admin { .. } | Actor::Agent { .. } | Actor::System => Ok(()),
    }
}

/// The caller is an admin (or synthorg itself).
pub fn admin(actor: &Actor) -> Result<(), DomainError> {
    if actor.is_admin() { Ok(()) } else { Err(forbidden("this needs an admin key")) }
}

/// The caller may act for `agent`: an admin for anyone, an agent key for its own agent, a
/// viewer for no one.
pub fn act_for(actor: &Actor, agent: Uuid) -> Result<(), DomainError> {
    may_write(actor)?;
    match actor.agent_id() {
        Some(own) if own != agent => Err(forbidden(format!("this key acts for agent {own} only, not {agent}"))),
        _ => Ok(()),
    }
}

/// The agent whose data the caller reads: the one asked for, else the key's own. An agent
/// key may ask for its own agent only.
pub fn read_for(actor: &Actor, asked: Option<Uuid>) -> Result<Option<Uuid>, DomainError> {
    match (actor.agent_id(), asked) {
        (Some(own), Some(asked)) if own != asked => {
            Err(forbidden(format!("this key acts for agent {own} only, not {asked}")))
        }
        (own, asked) => Ok(asked.or(own)),
    }
}

/// The caller may work on `task` (spend on it, be judged for it, read its budget): an agent
/// key only on a task assigned to its agent.
pub fn assigned(actor: &Actor, task: &Task) -> Result<(), DomainError> {
    match actor.agent_id() {
        Some(own) if task.assigned_to != Some(own) => {
            Err(forbidden(format!("task {} is not assigned to agent {own}", task.id)))
        }
        _ => Ok(()),
    }
}

/// The caller may move `task` so that it is assigned to `assignee_after`: an agent key only
/// its own agent's task, or an unassigned one it takes for itself, and never hands it to
/// another agent.
pub fn move_task(actor: &Actor, task: &Task, assignee_after: Option<Uuid>) -> Result<(), DomainError> {
    may_write(actor)?;
    let Some(own) = actor.agent_id() else { return Ok(()) };
    let mine = match task.assigned_to {
        Some(current) => current == own,
        None => assignee_after == Some(own),
    };
    if mine && assignee_after.is_none_or(|a| a == own) {
        Ok(())
    } else {
        Err(forbidden(format!("task {} is not assigned to agent {own}", task.id)))
    }
}

/// The caller may change `agent` as asked: an agent key its own agent only, and only an admin
/// its trust level or tool lists (`touches_trust`).
pub fn change_agent(actor: &Actor, agent: Uuid, touches_trust: bool) -> Result<(), DomainError> {
    act_for(actor, agent)?;
    if touches_trust { admin(actor) } else { Ok(()) }
}

/// The caller may report a coordination run of `agents`: an agent key only one its agent took
/// part in.
pub fn report_run(actor: &Actor, agents: &[Uuid]) -> Result<(), DomainError> {
    may_write(actor)?;
    match actor.agent_id() {
        Some(own) if !agents.contains(&own) => {
            Err(forbidden(format!("this key may report only runs that agent {own} took part in")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: Uuid) -> Actor {
        Actor::Agent { key_id: "k".into(), agent_id: id }
    }

    fn task(assigned_to: Option<Uuid>) -> Task {
        Task {
            id: Uuid::now_v7(),
            title: "t".into(),
            description: String::new(),
            status: crate::task::TaskStatus::Assigned,
            assigned_to,
            created_by: "system".into(),
            parent_id: None,
            version: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_role_acts_for_whom_it_may() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let admin_key = Actor::Admin { key_id: "k".into() };
        let viewer = Actor::Viewer { key_id: "k".into() };
        assert!(act_for(&admin_key, a).is_ok() && act_for(&Actor::System, a).is_ok() && act_for(&agent(a), a).is_ok());
        assert_eq!(
            act_for(&agent(a), b).unwrap_err().to_string(),
            format!("this key acts for agent {a} only, not {b}")
        );
        assert_eq!(act_for(&viewer, a).unwrap_err().to_string(), "a viewer key may only read");
        assert_eq!(read_for(&agent(a), None).unwrap(), Some(a));
        assert_eq!(read_for(&viewer, Some(b)).unwrap(), Some(b));
        assert!(read_for(&agent(a), Some(b)).is_err());
        assert!(admin(&agent(a)).is_err() && admin(&viewer).is_err() && admin(&admin_key).is_ok());
        assert!(change_agent(&agent(a), a, false).is_ok());
        assert!(change_agent(&agent(a), a, true).is_err() && change_agent(&agent(a), b, false).is_err());
        assert!(report_run(&agent(a), &[b, a]).is_ok() && report_run(&agent(a), &[b]).is_err());
        assert!(report_run(&viewer, &[a]).is_err());
    }

    #[test]
    fn agent_keys_work_only_on_their_agents_tasks() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let admin_key = Actor::Admin { key_id: "k".into() };
        for (t, ok) in [(task(Some(a)), true), (task(Some(b)), false), (task(None), false)] {
            assert_eq!(assigned(&agent(a), &t).is_ok(), ok);
            assert!(assigned(&admin_key, &t).is_ok());
        }
        let refused = assigned(&agent(a), &task(Some(b))).unwrap_err().to_string();
        assert!(refused.ends_with(&format!("is not assigned to agent {a}")), "{refused}");
        // Moving: its own task, or an unassigned one taken for itself, never handed on.
        assert!(move_task(&agent(a), &task(Some(a)), Some(a)).is_ok());
        assert!(move_task(&agent(a), &task(Some(a)), None).is_ok());
        assert!(move_task(&agent(a), &task(None), Some(a)).is_ok());
        assert!(move_task(&agent(a), &task(None), None).is_err());
        assert!(move_task(&agent(a), &task(Some(a)), Some(b)).is_err());
        assert!(move_task(&agent(a), &task(Some(b)), Some(a)).is_err());
        assert!(move_task(&admin_key, &task(Some(b)), Some(a)).is_ok());
        assert!(move_task(&Actor::Viewer { key_id: "k".into() }, &task(Some(a)), Some(a)).is_err());
    }
}
