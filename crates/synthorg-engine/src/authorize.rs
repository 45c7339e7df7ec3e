//! Who may do what: the one place an operation decides whether its caller may do it.
//!
//! Every operation calls these before it changes or reads anything on someone's behalf, so
//! the answer is the same whichever door a request came through and whichever route it took:
//! - only admins (and synthorg itself) configure, decide and manage keys;
//! - viewers only read;
//! - an agent key acts only for its own agent, and only on tasks assigned to that agent.
//!
//! The task rule reads the task inside the operation's unit of work, so it sees the
//! assignment the change is made against.

use synthorg_core::Actor;
use synthorg_core::task::Task;
use synthorg_store::{Store, StoreError};
use uuid::Uuid;

use crate::EngineError;

/// The caller may change things: any key but a viewer's.
pub fn may_write(actor: &Actor) -> Result<(), EngineError> {
    match actor {
        Actor::Viewer { .. } => Err(EngineError::forbidden("a viewer key may only read")),
        Actor::Admin { .. } | Actor::Agent { .. } | Actor::System => Ok(()),
    }
}

/// The caller is an admin (or synthorg itself).
pub fn admin(actor: &Actor) -> Result<(), EngineError> {
    if actor.is_admin() { Ok(()) } else { Err(EngineError::forbidden("this needs an admin key")) }
}

/// The caller may act for `agent`: an admin for anyone, an agent key for its own agent, a
/// viewer for no one.
pub fn act_for(actor: &Actor, agent: Uuid) -> Result<(), EngineError> {
    may_write(actor)?;
    match actor.agent_id() {
        Some(own) if own != agent => {
            Err(EngineError::forbidden(format!("this key acts for agent {own} only, not {agent}")))
        }
        _ => Ok(()),
    }
}

/// The agent whose data the caller reads: the one asked for, else the key's own. An agent
/// key may ask for its own agent only.
pub fn read_for(actor: &Actor, asked: Option<Uuid>) -> Result<Option<Uuid>, EngineError> {
    match (actor.agent_id(), asked) {
        (Some(own), Some(asked)) if own != asked => {
            Err(EngineError::forbidden(format!("this key acts for agent {own} only, not {asked}")))
        }
        (own, asked) => Ok(asked.or(own)),
    }
}

/// The caller may work on `task`: an agent key only on a task assigned to its agent. A task
/// that does not exist passes: the operation then says so as it would to anyone.
pub fn on_task(store: &dyn Store, actor: &Actor, task: Option<Uuid>) -> Result<(), EngineError> {
    let (Some(_), Some(id)) = (actor.agent_id(), task) else { return Ok(()) };
    match store.get_task(id) {
        Ok(task) => assigned(actor, &task),
        Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// [`on_task`] for a task already read.
pub fn assigned(actor: &Actor, task: &Task) -> Result<(), EngineError> {
    match actor.agent_id() {
        Some(own) if task.assigned_to != Some(own) => {
            Err(EngineError::forbidden(format!("task {} is not assigned to agent {own}", task.id)))
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

    #[test]
    fn each_role_acts_for_whom_it_may() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let admin_key = Actor::Admin { key_id: "k".into() };
        let viewer = Actor::Viewer { key_id: "k".into() };
        assert!(act_for(&admin_key, a).is_ok());
        assert!(act_for(&Actor::System, a).is_ok());
        assert!(act_for(&agent(a), a).is_ok());
        let refused = act_for(&agent(a), b).unwrap_err().to_string();
        assert_eq!(refused, format!("this key acts for agent {a} only, not {b}"));
        assert_eq!(act_for(&viewer, a).unwrap_err().to_string(), "a viewer key may only read");
        assert_eq!(read_for(&agent(a), None).unwrap(), Some(a));
        assert_eq!(read_for(&viewer, Some(b)).unwrap(), Some(b));
        assert!(read_for(&agent(a), Some(b)).is_err());
        assert!(admin(&agent(a)).is_err() && admin(&viewer).is_err() && admin(&admin_key).is_ok());
    }
}
