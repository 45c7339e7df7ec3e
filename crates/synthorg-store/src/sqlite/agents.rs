//! Agents and their audited changes.

use rusqlite::{Connection, OptionalExtension, Row, params};
use synthorg_core::Actor;
use synthorg_core::agent::{Agent, AgentPatch, AgentStatus, TrustLevel};
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::task::plan_interruption;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Filter, SqliteStore, from_ts, insert, json_col, parse_enum, parse_uuid, ts};
use crate::schema::AGENT_COLUMNS;
use crate::{AgentFilter, Page, PageRequest, StoreError};

fn agent_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Agent> {
    let col = |i: usize| first + i;
    Ok(Agent {
        id: parse_uuid(&row.get::<_, String>(col(0))?)?,
        name: row.get(col(1))?,
        role: row.get(col(2))?,
        department: row.get(col(3))?,
        status: parse_enum(&row.get::<_, String>(col(4))?, AgentStatus::parse)?,
        trust_level: parse_enum(&row.get::<_, String>(col(5))?, TrustLevel::parse)?,
        allowed_tools: json_col(&row.get::<_, String>(col(6))?)?,
        denied_tools: json_col(&row.get::<_, String>(col(7))?)?,
        created_at: from_ts(row.get(col(8))?)?,
        updated_at: from_ts(row.get(col(9))?)?,
    })
}

pub(super) fn load(conn: &Connection, id: Uuid) -> Result<Agent, StoreError> {
    conn.prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"))?
        .query_row([id.to_string()], |r| agent_row(r, 0))
        .optional()?
        .ok_or_else(|| StoreError::not_found("agent", id))
}

/// The status of an agent, `None` when it does not exist.
pub(super) fn status_of(conn: &Connection, id: Uuid) -> Result<Option<AgentStatus>, StoreError> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM agents WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    Ok(status.as_deref().map(|s| parse_enum(s, AgentStatus::parse)).transpose()?)
}

/// A terminated agent cannot hold active work: its assigned, in-progress and in-review tasks
/// move to `interrupted` (recorded as done by synthorg) so they can be reassigned.
fn interrupt_active_tasks(tx: &Connection, agent: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    let active: Vec<Uuid> = tx
        .prepare_cached(
            "SELECT id FROM tasks WHERE assigned_to = ?1 AND status IN ('assigned', 'in_progress', 'in_review')",
        )?
        .query_map([agent.to_string()], |r| parse_uuid(&r.get::<_, String>(0)?))?
        .collect::<Result<_, _>>()?;
    for task_id in active {
        let task = super::tasks::load(tx, task_id)?;
        let (next, record) = plan_interruption(&task, agent, now)?;
        super::tasks::save_transition(tx, &next, &record)?;
    }
    Ok(())
}

impl crate::AgentStore for SqliteStore {
    fn create_agent(&self, agent: &Agent, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|tx| {
            let key = crate::agents::name_key(&agent.name);
            let taken: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM agents WHERE name_key = ?1 OR name = ?2)")?
                .query_row([&key, &agent.name], |r| r.get(0))?;
            if taken {
                return Err(crate::agents::name_taken(&agent.name));
            }
            insert(tx, crate::rows::agent(agent, key.clone())?)?;
            super::audit::append(tx, audit, NewAuditEvent::agent_registered(agent))
        })?;
        Ok(sealed)
    }

    fn get_agent(&self, id: Uuid) -> Result<Agent, StoreError> {
        self.read(|c| load(c, id))
    }

    fn list_agents(&self, filter: &AgentFilter, page: &PageRequest) -> Result<Page<Agent>, StoreError> {
        self.read(|c| {
            Filter::default()
                .eq("status", filter.status.map(|s| s.as_str().to_owned()))
                .eq("trust_level", filter.trust_level.map(|s| s.as_str().to_owned()))
                .eq("role", filter.role.clone())
                .eq("department", filter.department.clone())
                .page(c, "agents", AGENT_COLUMNS, page, |r| agent_row(r, 1))
        })
    }

    fn update_agent(
        &self,
        id: Uuid,
        patch: AgentPatch,
        by: &Actor,
        audit: &AuditContext,
    ) -> Result<(Agent, AuditEvent), StoreError> {
        let at = crate::now();
        let (updated, sealed) = self.write(|tx| {
            let current = load(tx, id)?;
            let (updated, changes) = patch.apply(&current, by, at)?;
            tx.prepare_cached(
                "UPDATE agents SET role = ?2, department = ?3, status = ?4, trust_level = ?5, \
                 allowed_tools = ?6, denied_tools = ?7, updated_at = ?8 WHERE id = ?1",
            )?
            .execute(params![
                id.to_string(),
                updated.role,
                updated.department,
                updated.status.as_str(),
                updated.trust_level.as_str(),
                serde_json::to_string(&updated.allowed_tools)?,
                serde_json::to_string(&updated.denied_tools)?,
                ts(at),
            ])?;
            for change in &changes {
                insert(tx, crate::rows::agent_event(id, change, by, at))?;
            }
            if updated.status == AgentStatus::Terminated {
                interrupt_active_tasks(tx, id, at)?;
            }
            let sealed = super::audit::append(tx, audit, NewAuditEvent::agent_updated(&current, &updated))?;
            Ok((updated, sealed))
        })?;
        Ok((updated, sealed))
    }
}
