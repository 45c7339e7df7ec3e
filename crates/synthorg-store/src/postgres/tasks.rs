//! Tasks and their transition history.

use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use synthorg_core::Actor;
use synthorg_core::DomainError;
use synthorg_core::agent::AgentStatus;
use synthorg_core::task::{Task, TaskStatus, TaskTransition, TransitionRequest, plan_transition};
use uuid::Uuid;

use super::{Db, Filter, PostgresStore, col, enum_col, statement};
use crate::schema::{HISTORY_COLUMNS, TASK_COLUMNS};
use crate::{Page, PageRequest, StoreError, TaskFilter};

fn task_row(row: &Row, first: usize) -> Result<Task, StoreError> {
    let c = |i: usize| first + i;
    Ok(Task {
        id: col(row, c(0))?,
        title: col(row, c(1))?,
        description: col(row, c(2))?,
        status: enum_col(row, c(3), TaskStatus::parse)?,
        assigned_to: col(row, c(4))?,
        created_by: col(row, c(5))?,
        parent_id: col(row, c(6))?,
        version: col(row, c(7))?,
        created_at: col(row, c(8))?,
        updated_at: col(row, c(9))?,
    })
}

fn transition_row(row: &Row) -> Result<TaskTransition, StoreError> {
    Ok(TaskTransition {
        task_id: col(row, 1)?,
        from: enum_col(row, 2, TaskStatus::parse)?,
        to: enum_col(row, 3, TaskStatus::parse)?,
        assigned_to: col(row, 4)?,
        by: col(row, 5)?,
        at: col(row, 6)?,
        reason: col(row, 7)?,
        version: col(row, 8)?,
    })
}

pub(super) fn load<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid) -> Result<Task, StoreError> {
    db.query_opt(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"), &[&id])?
        .map(|r| task_row(&r, 0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("task", id))
}

pub(super) fn exists<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid) -> Result<bool, StoreError> {
    Ok(db.query_opt("SELECT 1 FROM tasks WHERE id = $1", &[&id])?.is_some())
}

/// Writes a planned transition in one statement: the task row, guarded by the version it was
/// planned from (a concurrent transition through another replica waits for this row, then
/// finds the version moved on and changes nothing), and, only when the row moved, the
/// history row. When the new status needs an assignee, the agent's row is share-locked and
/// must still not be terminated, so a termination racing on another replica either waits
/// for this move (and then interrupts the task) or wins (and this move changes nothing).
pub(super) fn save_transition<C: GenericClient>(
    db: &mut Db<'_, C>,
    next: &Task,
    record: &TaskTransition,
) -> Result<(), StoreError> {
    let active_assignee = if next.status.requires_assignee() { next.assigned_to } else { None };
    // The history row's parameters come first ($1…$n, from its declaration); the update's
    // follow. The row is inserted once per row the update moved: once, or not at all.
    let insert = statement(crate::rows::transition(record))?;
    let n = insert.values.len();
    let p = |i: usize| format!("${}", n + i);
    let sql = format!(
        "WITH moved AS ( \
             UPDATE tasks SET status = {status}, assigned_to = {assignee}, version = {version}, \
             updated_at = {updated} WHERE id = {id} AND version = {from} AND ({active}::UUID IS NULL OR EXISTS ( \
                 SELECT 1 FROM agents WHERE id = {active} AND status <> 'terminated' FOR SHARE)) \
             RETURNING id) \
         {} FROM moved",
        insert.select_sql(),
        id = p(1),
        status = p(2),
        assignee = p(3),
        version = p(4),
        updated = p(5),
        from = p(6),
        active = p(7),
    );
    let (status, from) = (next.status.as_str(), next.version - 1);
    let update: [&(dyn ToSql + Sync); 7] =
        [&next.id, &status, &next.assigned_to, &next.version, &next.updated_at, &from, &active_assignee];
    let params: Vec<&(dyn ToSql + Sync)> = insert.values.iter().map(|v| v.as_ref()).chain(update).collect();
    let moved = db.execute(&sql, &params)?;
    if moved != 1 {
        return Err(StoreError::Domain(DomainError::Conflict(format!(
            "task {} changed concurrently; reload it and retry",
            next.id
        ))));
    }
    Ok(())
}

impl crate::TaskStore for PostgresStore {
    fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        // One statement: the insert happens only when the parent (if any) exists.
        self.autocommit(|db| {
            let insert = statement(crate::rows::task(task))?;
            let parent = insert.mark("parent_id");
            let sql = format!(
                "{} WHERE {parent} IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = {parent})",
                insert.select_sql()
            );
            let inserted = db.execute_statement(&sql, &insert)?;
            match (inserted, task.parent_id) {
                (0, Some(parent)) => {
                    Err(DomainError::invalid("parent_id", format!("task {parent} does not exist")).into())
                }
                _ => Ok(()),
            }
        })
    }

    fn get_task(&self, id: Uuid) -> Result<Task, StoreError> {
        self.read(|db| load(db, id))
    }

    fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Page<Task>, StoreError> {
        self.read(|db| {
            let mut f = Filter::default();
            f.eq("status", filter.status.map(|s| s.as_str()))
                .eq("assigned_to", filter.assigned_to)
                .eq("parent_id", filter.parent_id);
            if filter.unassigned {
                f.raw("assigned_to IS NULL");
            }
            f.page(db, "tasks", TASK_COLUMNS, page, |r| task_row(r, 1))
        })
    }

    fn transition_task(
        &self,
        id: Uuid,
        request: &TransitionRequest,
        by: &Actor,
    ) -> Result<(Task, TaskTransition), StoreError> {
        let at = crate::now();
        // Two statements, no explicit transaction: read the task with its assignee's status,
        // plan under the domain rules, then write guarded by what was read (`save_transition`).
        self.autocommit(|db| {
            let row = db
                .query_opt(
                    &format!(
                        "SELECT {TASK_COLUMNS}, (SELECT status FROM agents WHERE id = COALESCE($2, tasks.assigned_to)) \
                         FROM tasks WHERE id = $1"
                    ),
                    &[&id, &request.assigned_to],
                )?
                .ok_or_else(|| StoreError::not_found("task", id))?;
            let task = task_row(&row, 0)?;
            let assignee_status = col::<Option<&str>>(&row, 10)?
                .map(|s| {
                    AgentStatus::parse(s).ok_or_else(|| StoreError::Internal(format!("unknown stored value {s:?}")))
                })
                .transpose()?;
            let (next, record) = plan_transition(&task, request, assignee_status, by, at)?;
            save_transition(db, &next, &record)?;
            Ok((next, record))
        })
    }

    fn task_history(&self, id: Uuid, page: &PageRequest) -> Result<Page<TaskTransition>, StoreError> {
        self.read(|db| {
            if !exists(db, id)? {
                return Err(StoreError::not_found("task", id));
            }
            Filter::default().eq("task_id", Some(id)).page(
                db,
                "task_transitions",
                HISTORY_COLUMNS,
                page,
                transition_row,
            )
        })
    }
}
