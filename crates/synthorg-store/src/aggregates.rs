//! Aggregates for the metrics: each costs time proportional to the series it returns, never
//! to the rows it summarises.

use synthorg_core::Usd;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::task::TaskStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

pub trait AggregateStore {
    fn agent_counts(&self) -> Result<Vec<(AgentStatus, TrustLevel, u64)>, StoreError>;
    /// Tasks per (status, assignee); `None` is unassigned.
    fn task_counts(&self) -> Result<Vec<(TaskStatus, Option<Uuid>, u64)>, StoreError>;
    fn transition_counts(&self) -> Result<Vec<(TaskStatus, TaskStatus, u64)>, StoreError>;
    fn total_cost(&self) -> Result<Usd, StoreError>;
    fn cost_since(&self, since: OffsetDateTime) -> Result<Usd, StoreError>;
    fn agent_cost_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError>;
    fn agent_cost_totals(&self) -> Result<Vec<(Uuid, Usd)>, StoreError>;
    fn pending_approvals(&self) -> Result<u64, StoreError>;
}
