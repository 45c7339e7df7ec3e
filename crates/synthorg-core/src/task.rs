//! Tasks: the lifecycle state machine, assignee invariants and optimistic concurrency.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agent::AgentStatus;
use crate::text::{check_len, check_line};
use crate::{Actor, DomainError, FieldError, string_enum};

string_enum! {
    /// Where a task is in its lifecycle.
    pub enum TaskStatus {
        Created => "created",
        Assigned => "assigned",
        InProgress => "in_progress",
        InReview => "in_review",
        Completed => "completed",
        Blocked => "blocked",
        Failed => "failed",
        Interrupted => "interrupted",
        Cancelled => "cancelled",
    }
}

impl TaskStatus {
    /// The transition table (SPEC §1): the states reachable in one step.
    pub const fn allowed_next(self) -> &'static [TaskStatus] {
        use TaskStatus::*;
        match self {
            Created => &[Assigned, Cancelled],
            Assigned => &[InProgress, Blocked, Cancelled, Failed, Interrupted],
            InProgress => &[InReview, Blocked, Cancelled, Failed, Interrupted],
            InReview => &[Completed, InProgress, Blocked, Cancelled],
            Blocked | Failed | Interrupted => &[Assigned],
            Completed | Cancelled => &[],
        }
    }

    pub fn can_move_to(self, to: TaskStatus) -> bool {
        self.allowed_next().contains(&to)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Cancelled)
    }

    /// States that must have an assignee, who must be an existing, non-terminated agent.
    pub const fn requires_assignee(self) -> bool {
        use TaskStatus::*;
        matches!(self, Assigned | InProgress | InReview | Completed)
    }

    /// States in which the assignee is actively working (interrupted if the agent goes away).
    pub const fn is_active_work(self) -> bool {
        use TaskStatus::*;
        matches!(self, Assigned | InProgress | InReview)
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub assigned_to: Option<Uuid>,
    /// Who created the task (`key:<id>` or `system`).
    pub created_by: String,
    pub parent_id: Option<Uuid>,
    /// Incremented by every transition; a transition naming an older version is refused.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A request to create a task. New tasks start `created`, unassigned.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub parent_id: Option<Uuid>,
}

/// A request to move a task.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub to: TaskStatus,
    /// The new assignee; only with `to: assigned`.
    pub assigned_to: Option<Uuid>,
    /// When given, must equal the task's current version (optimistic concurrency).
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
}

impl TransitionRequest {
    /// Checks what can be checked without the task: a version names one (1 or more).
    pub fn check(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if let Some(v) = self.expected_version
            && v < 1
        {
            errors.push(FieldError::new("expected_version", format!("must be at least 1, got {v}")));
        }
        DomainError::check(errors)
    }
}

/// One step of a task's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskTransition {
    pub task_id: Uuid,
    pub from: TaskStatus,
    pub to: TaskStatus,
    /// Assignee after the transition.
    pub assigned_to: Option<Uuid>,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: Option<String>,
    /// The task's version after the transition.
    pub version: i64,
}

pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 65_536;
pub const REASON_MAX: usize = 1024;

impl NewTask {
    /// Validates and builds the task. Admins and agent keys may create tasks.
    pub fn into_task(self, actor: &Actor, now: OffsetDateTime) -> Result<Task, DomainError> {
        crate::authorize::may_write(actor)?;
        let mut errors = Vec::new();
        check_line(&mut errors, "title", &self.title, 1, TITLE_MAX);
        check_len(&mut errors, "description", &self.description, 0, DESCRIPTION_MAX);
        DomainError::check(errors)?;
        Ok(Task {
            id: Uuid::now_v7(),
            title: self.title,
            description: self.description,
            status: TaskStatus::Created,
            assigned_to: None,
            created_by: actor.label(),
            parent_id: self.parent_id,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Plans the interruption of `task`, active work of `agent`, which is being terminated: a
/// terminated agent cannot hold active work, so the task moves to `interrupted`, done by
/// synthorg itself, and can then be reassigned.
pub fn plan_interruption(task: &Task, agent: Uuid, now: OffsetDateTime) -> Result<(Task, TaskTransition), DomainError> {
    let request = TransitionRequest {
        to: TaskStatus::Interrupted,
        assigned_to: None,
        expected_version: None,
        reason: Some(format!("assignee {agent} was terminated")),
    };
    plan_transition(task, &request, Some(AgentStatus::Terminated), &Actor::System, now)
}

/// Plans a transition of `task` as asked by `actor`.
///
/// `assignee_status` is the current status of the agent the task would be assigned to after
/// the transition (`request.assigned_to`, else the current assignee): `None` when no such
/// agent exists. The caller (the store) looks it up inside the same transaction.
pub fn plan_transition(
    task: &Task,
    request: &TransitionRequest,
    assignee_status: Option<AgentStatus>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(Task, TaskTransition), DomainError> {
    if let Some(expected) = request.expected_version
        && expected != task.version
    {
        return Err(DomainError::Conflict(format!(
            "stale version: the request names version {expected}, the task is at version {}",
            task.version
        )));
    }
    let from = task.status;
    let to = request.to;
    if !from.can_move_to(to) {
        let allowed = from.allowed_next();
        let next = if allowed.is_empty() {
            format!("{from} is terminal; no transitions are allowed")
        } else {
            let names: Vec<_> = allowed.iter().map(|s| s.as_str()).collect();
            format!("allowed next states: {}", names.join(", "))
        };
        return Err(DomainError::Conflict(format!("illegal transition from {from} to {to}; {next}")));
    }
    let mut errors = Vec::new();
    if request.assigned_to.is_some() && to != TaskStatus::Assigned {
        errors.push(FieldError::new("assigned_to", "may only be given with a transition to assigned"));
    }
    if let Some(reason) = &request.reason {
        check_len(&mut errors, "reason", reason, 0, REASON_MAX);
    }
    DomainError::check(errors)?;

    let assignee = request.assigned_to.or(task.assigned_to);
    if to.requires_assignee() {
        let Some(agent_id) = assignee else {
            return Err(DomainError::invalid("assigned_to", format!("required for {to}")));
        };
        match assignee_status {
            None => {
                return Err(DomainError::invalid("assigned_to", format!("agent {agent_id} does not exist")));
            }
            Some(AgentStatus::Terminated) => {
                return Err(DomainError::invalid("assigned_to", format!("agent {agent_id} is terminated")));
            }
            Some(_) => {}
        }
    }
    crate::authorize::move_task(actor, task, assignee)?;

    let version = task.version + 1;
    let next = Task { status: to, assigned_to: assignee, version, updated_at: now, ..task.clone() };
    let record = TaskTransition {
        task_id: task.id,
        from,
        to,
        assigned_to: assignee,
        by: actor.label(),
        at: now,
        reason: request.reason.clone(),
        version,
    };
    Ok((next, record))
}

#[cfg(test)]
mod tests;
