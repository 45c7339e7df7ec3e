//! Tasks and their transitions: the store's side.

use synthorg_core::Actor;
use synthorg_core::task::{Task, TaskStatus, TaskTransition, TransitionRequest};
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub assigned_to: Option<Uuid>,
    /// Only tasks without an assignee.
    pub unassigned: bool,
    pub parent_id: Option<Uuid>,
}

pub trait TaskStore {
    /// Inserts a new task; an unknown parent is invalid.
    fn create_task(&self, task: &Task) -> Result<(), StoreError>;
    fn get_task(&self, id: Uuid) -> Result<Task, StoreError>;
    fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Page<Task>, StoreError>;
    /// Moves a task under the transition table, atomically with its history row.
    fn transition_task(
        &self,
        id: Uuid,
        request: &TransitionRequest,
        by: &Actor,
    ) -> Result<(Task, TaskTransition), StoreError>;
    fn task_history(&self, id: Uuid, page: &PageRequest) -> Result<Page<TaskTransition>, StoreError>;
}
