//! Who may do what, applied: the rules of `synthorg_core::authorize` (re-exported here), and
//! the one that needs the store, [`on_task`].
//!
//! Every operation calls these before it changes or reads anything on someone's behalf, so
//! the answer is the same whichever door a request came through and whichever route it took.
//! The task rule reads the task inside the operation's unit of work, so it sees the
//! assignment the change is made against.

use synthorg_core::Actor;
pub use synthorg_core::authorize::{
    act_for, admin, assigned, change_agent, may_write, move_task, read_for, report_run,
};
use synthorg_store::{Store, StoreError};
use uuid::Uuid;

use crate::EngineError;

/// The caller may work on `task` ([`assigned`]): an agent key only on a task assigned to its
/// agent. A task that does not exist passes: the operation then says so as it would to anyone.
pub fn on_task(store: &dyn Store, actor: &Actor, task: Option<Uuid>) -> Result<(), EngineError> {
    let (Some(_), Some(id)) = (actor.agent_id(), task) else { return Ok(()) };
    match store.get_task(id) {
        Ok(task) => Ok(assigned(actor, &task)?),
        Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
