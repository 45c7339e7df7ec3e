//! Task operations: create, move through the lifecycle.

use synthorg_core::event::Event;
use synthorg_core::task::{NewTask, Task, TaskTransition, TransitionRequest};
use synthorg_core::{Actor, authorize};
use synthorg_store::{Done, now};
use uuid::Uuid;

use crate::{Engine, EngineError};

impl Engine {
    /// Creates a task (`created`, unassigned); any key that may write.
    pub async fn create_task(&self, actor: &Actor, task: NewTask) -> Result<Task, EngineError> {
        let task = task.into_task(actor, now())?;
        self.write(move |e| {
            e.store().create_task(&task)?;
            let event = Event::TaskCreated { task_id: task.id, created_by: task.created_by.clone() };
            Ok::<_, EngineError>(Done::with(task, [event]))
        })
        .await
    }

    /// Moves a task. Who may move it ([`authorize::move_task`]) is decided inside the
    /// transaction that reads it, as are the lifecycle and the expected version.
    pub async fn transition_task(
        &self,
        actor: &Actor,
        id: Uuid,
        request: TransitionRequest,
    ) -> Result<(Task, TaskTransition), EngineError> {
        authorize::may_write(actor)?;
        request.check()?;
        let actor = actor.clone();
        self.write(move |e| {
            let (task, transition) = e.store().transition_task(id, &request, &actor)?;
            let event = Event::TaskTransitioned {
                task_id: id,
                agent_id: task.assigned_to,
                from: transition.from,
                to: transition.to,
                version: task.version,
            };
            Ok::<_, EngineError>(Done::with((task, transition), [event]))
        })
        .await
    }
}
