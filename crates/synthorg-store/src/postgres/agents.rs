//! Agents and their audited changes.

use postgres::types::Json;
use postgres::{GenericClient, Row};
use synthorg_core::Actor;
use synthorg_core::agent::{Agent, AgentPatch, AgentStatus, TrustLevel};
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::task::plan_interruption;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, Filter, PostgresStore, col, enum_col, json_col};
use crate::schema::AGENT_COLUMNS;
use crate::{AgentFilter, Page, PageRequest, StoreError};

fn agent_row(row: &Row, first: usize) -> Result<Agent, StoreError> {
    let c = |i: usize| first + i;
    Ok(Agent {
        id: col(row, c(0))?,
        name: col(row, c(1))?,
        role: col(row, c(2))?,
        department: col(row, c(3))?,
        status: enum_col(row, c(4), AgentStatus::parse)?,
        trust_level: enum_col(row, c(5), TrustLevel::parse)?,
        allowed_tools: json_col(row, c(6))?,
        denied_tools: json_col(row, c(7))?,
        created_at: col(row, c(8))?,
        updated_at: col(row, c(9))?,
    })
}

pub(super) fn load<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid) -> Result<Agent, StoreError> {
    db.query_opt(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"), &[&id])?
        .map(|r| agent_row(&r, 0))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("agent", id))
}

/// The status of an agent, `None` when it does not exist.
pub(super) fn status_of<C: GenericClient>(db: &mut Db<'_, C>, id: Uuid) -> Result<Option<AgentStatus>, StoreError> {
    // Agents are never deleted: existence needs no lock. (A transition, which relies on the
    // status, share-locks the agent in its write; see `tasks::save_transition`.)
    db.query_opt("SELECT status FROM agents WHERE id = $1", &[&id])?
        .map(|r| enum_col(&r, 0, AgentStatus::parse))
        .transpose()
}

/// A terminated agent cannot hold active work: its assigned, in-progress and in-review tasks
/// move to `interrupted` (recorded as done by synthorg) so they can be reassigned.
fn interrupt_active_tasks<C: GenericClient>(
    db: &mut Db<'_, C>,
    agent: Uuid,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let active: Vec<Uuid> = db
        .query(
            "SELECT id FROM tasks WHERE assigned_to = $1 AND status IN ('assigned', 'in_progress', 'in_review') \
             ORDER BY id FOR UPDATE",
            &[&agent],
        )?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_, _>>()?;
    for task_id in active {
        let task = super::tasks::load(db, task_id)?;
        let (next, record) = plan_interruption(&task, agent, now)?;
        super::tasks::save_transition(db, &next, &record)?;
    }
    Ok(())
}

impl crate::AgentStore for PostgresStore {
    fn create_agent(&self, agent: &Agent, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let sealed = self.write(|db| {
            let key = crate::agents::name_key(&agent.name);
            let taken =
                db.query_opt("SELECT 1 FROM agents WHERE name_key = $1 OR name = $2", &[&key, &agent.name])?.is_some();
            if taken {
                return Err(crate::agents::name_taken(&agent.name));
            }
            // Two replicas registering "Ada" and "ada" at once: the unique index refuses the
            // second insert (a 409).
            db.insert(crate::rows::agent(agent, key.clone())?)?;
            super::audit::append(db, audit, NewAuditEvent::agent_registered(agent))
        })?;
        Ok(sealed)
    }

    fn get_agent(&self, id: Uuid) -> Result<Agent, StoreError> {
        self.read(|db| load(db, id))
    }

    fn list_agents(&self, filter: &AgentFilter, page: &PageRequest) -> Result<Page<Agent>, StoreError> {
        self.read(|db| {
            Filter::default()
                .eq("status", filter.status.map(|s| s.as_str()))
                .eq("trust_level", filter.trust_level.map(|s| s.as_str()))
                .eq("role", filter.role.clone())
                .eq("department", filter.department.clone())
                .page(db, "agents", AGENT_COLUMNS, page, |r| agent_row(r, 1))
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
        let (updated, sealed) = self.write(|db| {
            // FOR UPDATE: a concurrent patch on another replica waits and then sees this one.
            let current = db
                .query_opt(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1 FOR UPDATE"), &[&id])?
                .map(|r| agent_row(&r, 0))
                .transpose()?
                .ok_or_else(|| StoreError::not_found("agent", id))?;
            let (updated, changes) = patch.clone().apply(&current, by, at)?;
            db.execute(
                "UPDATE agents SET role = $2, department = $3, status = $4, trust_level = $5, \
                 allowed_tools = $6, denied_tools = $7, updated_at = $8 WHERE id = $1",
                &[
                    &id,
                    &updated.role,
                    &updated.department,
                    &updated.status.as_str(),
                    &updated.trust_level.as_str(),
                    &Json(&updated.allowed_tools),
                    &Json(&updated.denied_tools),
                    &at,
                ],
            )?;
            for change in &changes {
                db.insert(crate::rows::agent_event(id, change, by, at))?;
            }
            if updated.status == AgentStatus::Terminated {
                interrupt_active_tasks(db, id, at)?;
            }
            let sealed = super::audit::append(db, audit, NewAuditEvent::agent_updated(&current, &updated))?;
            Ok((updated, sealed))
        })?;
        Ok((updated, sealed))
    }
}
