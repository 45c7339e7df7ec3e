//! Tasks and their transition history.

use rusqlite::{Connection, OptionalExtension, Row, params};
use synthorg_core::task::{Task, TaskStatus, TaskTransition, TransitionRequest, plan_transition};
use synthorg_core::{Actor, DomainError};
use uuid::Uuid;

use super::{Filter, SqliteStore, from_ts, insert, opt_uuid, parse_enum, parse_uuid, ts, uuid_value};
use crate::schema::{HISTORY_COLUMNS, TASK_COLUMNS};
use crate::{Page, PageRequest, StoreError, TaskFilter};

fn task_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Task> {
    let col = |i: usize| first + i;
    Ok(Task {
        id: parse_uuid(&row.get::<_, String>(col(0))?)?,
        title: row.get(col(1))?,
        description: row.get(col(2))?,
        status: parse_enum(&row.get::<_, String>(col(3))?, TaskStatus::parse)?,
        assigned_to: opt_uuid(row.get(col(4))?)?,
        created_by: row.get(col(5))?,
        parent_id: opt_uuid(row.get(col(6))?)?,
        version: row.get(col(7))?,
        created_at: from_ts(row.get(col(8))?)?,
        updated_at: from_ts(row.get(col(9))?)?,
    })
}

fn transition_row(row: &Row<'_>) -> rusqlite::Result<TaskTransition> {
    Ok(TaskTransition {
        task_id: parse_uuid(&row.get::<_, String>(1)?)?,
        from: parse_enum(&row.get::<_, String>(2)?, TaskStatus::parse)?,
        to: parse_enum(&row.get::<_, String>(3)?, TaskStatus::parse)?,
        assigned_to: opt_uuid(row.get(4)?)?,
        by: row.get(5)?,
        at: from_ts(row.get(6)?)?,
        reason: row.get(7)?,
        version: row.get(8)?,
    })
}

pub(super) fn load(conn: &Connection, id: Uuid) -> Result<Task, StoreError> {
    conn.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id.to_string()], |r| task_row(r, 0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("task", id))
}

pub(super) fn exists(conn: &Connection, id: Uuid) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1)")?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// Writes a planned transition: the task row (guarded by its previous version, so a
/// concurrent writer on a shared database cannot be overwritten) and the history row.
pub(super) fn save_transition(tx: &Connection, next: &Task, record: &TaskTransition) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE tasks SET status = ?2, assigned_to = ?3, version = ?4, updated_at = ?5 WHERE id = ?1 AND version = ?6",
        )?
        .execute(params![
            next.id.to_string(),
            next.status.as_str(),
            uuid_value(next.assigned_to),
            next.version,
            ts(next.updated_at),
            next.version - 1,
        ])?;
    if changed != 1 {
        return Err(StoreError::Domain(DomainError::Conflict(format!(
            "task {} changed concurrently; reload it and retry",
            next.id
        ))));
    }
    insert(tx, crate::rows::transition(record))?;
    Ok(())
}

impl crate::TaskStore for SqliteStore {
    fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.write(|tx| {
            if let Some(parent) = task.parent_id
                && !exists(tx, parent)?
            {
                return Err(DomainError::invalid("parent_id", format!("task {parent} does not exist")).into());
            }
            insert(tx, crate::rows::task(task))?;
            Ok(())
        })
    }

    fn get_task(&self, id: Uuid) -> Result<Task, StoreError> {
        self.read(|c| load(c, id))
    }

    fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Page<Task>, StoreError> {
        self.read(|c| {
            let mut f = Filter::default();
            f.eq("status", filter.status.map(|s| s.as_str().to_owned()))
                .eq("assigned_to", uuid_value(filter.assigned_to))
                .eq("parent_id", uuid_value(filter.parent_id));
            if filter.unassigned {
                f.raw("assigned_to IS NULL");
            }
            f.page(c, "tasks", TASK_COLUMNS, page, |r| task_row(r, 1))
        })
    }

    fn transition_task(
        &self,
        id: Uuid,
        request: &TransitionRequest,
        by: &Actor,
    ) -> Result<(Task, TaskTransition), StoreError> {
        let at = crate::now();
        self.write(|tx| {
            let task = load(tx, id)?;
            let assignee = request.assigned_to.or(task.assigned_to);
            let assignee_status = match assignee {
                Some(agent) => super::agents::status_of(tx, agent)?,
                None => None,
            };
            let (next, record) = plan_transition(&task, request, assignee_status, by, at)?;
            save_transition(tx, &next, &record)?;
            Ok((next, record))
        })
    }

    fn task_history(&self, id: Uuid, page: &PageRequest) -> Result<Page<TaskTransition>, StoreError> {
        self.read(|c| {
            if !exists(c, id)? {
                return Err(StoreError::not_found("task", id));
            }
            Filter::default().eq("task_id", Some(id.to_string())).page(
                c,
                "task_transitions",
                HISTORY_COLUMNS,
                page,
                transition_row,
            )
        })
    }
}
