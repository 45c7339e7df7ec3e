//! Durable state of synthorg: the [`Store`] trait and its SQLite (embedded default) and
//! PostgreSQL (several replicas on one database) implementations.
//!
//! The trait is synchronous: SQLite is an in-process library and each call is a short
//! transaction, so the API runs reads on tokio's blocking pool instead of paying for an async
//! driver, and hands writes to the SQLite store's writer thread ([`Store::submit`]); the
//! PostgreSQL store uses synchronous clients from a pool, on the blocking pool. Every method
//! that changes state does so in one transaction, and returns only after that transaction is
//! durable (on the writer thread: the job's reply comes only after it).

mod error;
#[cfg(feature = "bench-fixtures")]
pub mod fixtures;
mod forward;
pub mod migrate;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;
mod types;
mod unit;

use synthorg_core::agent::{Agent, AgentPatch, AgentStatus, TrustLevel};
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendSnapshot};
use synthorg_core::coordination::CoordinationRun;
use synthorg_core::cost::CostRecord;
use synthorg_core::security::{Approval, Decision};
use synthorg_core::task::{Task, TaskStatus, TaskTransition, TransitionRequest};
use synthorg_core::{Actor, Usd};
use time::OffsetDateTime;
use uuid::Uuid;

pub use error::StoreError;
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use types::*;
pub use unit::{Done, Effects, Job};

/// The current time, truncated to the microsecond precision the store keeps, so that what a
/// handler returns equals what a later read returns.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

/// Everything synthorg keeps. Implementations must be safe to share between threads.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Checks that the store answers (readiness).
    fn ping(&self) -> Result<(), StoreError>;

    /// True when a point read is an in-process lookup of microseconds that never waits on
    /// the network (SQLite), so a caller may run it on an async worker instead of handing
    /// it to the blocking pool. False for PostgreSQL, whose client blocks on a socket.
    fn reads_in_process(&self) -> bool;

    /// Hands `job` to the store's own writer thread, if it has one (SQLite), and returns at
    /// once. There the job runs beside the jobs queued with it, their writes are committed
    /// together, and only then is the job finished with the outcome of that commit (its
    /// events applied, its reply called): no thread waits per write, and no lock changes
    /// hands per write.
    ///
    /// `Err(job)` when the store has no writer thread (PostgreSQL): the caller runs
    /// [`Job::run_here`] on a thread of its own, where each write commits itself.
    fn submit(&self, job: Job) -> Result<(), Job>;

    /// The in-process writer's counters (SQLite); `None` for a store without one (PostgreSQL
    /// has its own monitoring).
    fn writer_stats(&self) -> Option<WriterStats>;

    // Agents.
    /// Inserts a new agent; a taken name is a conflict.
    fn create_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    fn get_agent(&self, id: Uuid) -> Result<Agent, StoreError>;
    fn list_agents(&self, filter: &AgentFilter, page: &PageRequest) -> Result<Page<Agent>, StoreError>;
    /// Applies a patch under the domain rules. Terminating an agent interrupts its active
    /// tasks in the same transaction.
    fn update_agent(
        &self,
        id: Uuid,
        patch: AgentPatch,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Agent, StoreError>;

    // Tasks.
    /// Inserts a new task; an unknown parent is invalid.
    fn create_task(&self, task: &Task) -> Result<(), StoreError>;
    fn get_task(&self, id: Uuid) -> Result<Task, StoreError>;
    fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Page<Task>, StoreError>;
    /// Moves a task under the transition table, atomically with its history row.
    fn transition_task(
        &self,
        id: Uuid,
        request: &TransitionRequest,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(Task, TaskTransition), StoreError>;
    fn task_history(&self, id: Uuid, page: &PageRequest) -> Result<Page<TaskTransition>, StoreError>;

    // Cost ledger.
    /// Appends a cost record. A record whose idempotency key is already stored is not
    /// recorded again: the stored record comes back with `replayed: true`, or a conflict
    /// when the retry differs from the original.
    fn record_cost(&self, record: &CostRecord) -> Result<Recorded<CostRecord>, StoreError>;
    fn list_costs(&self, filter: &CostFilter, page: &PageRequest) -> Result<Page<CostRecord>, StoreError>;

    // Budget.
    /// The budget configuration set through the API, if any.
    fn budget_config(&self) -> Result<Option<BudgetConfig>, StoreError>;
    fn set_budget_config(&self, config: &BudgetConfig) -> Result<(), StoreError>;
    /// Spend since the start of the billing period, since `day_start`, and per agent since
    /// `day_start`.
    /// The spend an action of `agent` (for `task`) is judged against: period spend, the
    /// agent's spend since `day_start`, the task's total.
    fn action_spend(
        &self,
        agent: Uuid,
        task: Option<Uuid>,
        period_start: OffsetDateTime,
        day_start: OffsetDateTime,
    ) -> Result<ActionSpend, StoreError>;
    fn spend_snapshot(
        &self,
        period_start: OffsetDateTime,
        day_start: OffsetDateTime,
    ) -> Result<SpendSnapshot, StoreError>;

    // Coordination.
    fn record_coordination_run(&self, run: &CoordinationRun) -> Result<(), StoreError>;
    fn list_coordination_runs(
        &self,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<CoordinationRun>, StoreError>;

    // Security.
    /// Records an evaluation; when `approval` is given (an escalation) it is created in the
    /// same transaction.
    fn record_evaluation(&self, evaluation: &EvaluationRecord, approval: Option<&Approval>) -> Result<(), StoreError>;
    fn list_evaluations(
        &self,
        filter: &EvaluationFilter,
        page: &PageRequest,
    ) -> Result<Page<EvaluationRecord>, StoreError>;
    fn get_approval(&self, id: Uuid) -> Result<Approval, StoreError>;
    fn list_approvals(&self, filter: &ApprovalFilter, page: &PageRequest) -> Result<Page<Approval>, StoreError>;
    fn decide_approval(
        &self,
        id: Uuid,
        decision: Decision,
        note: Option<String>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Approval, StoreError>;

    // API keys.
    fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes a key (idempotent: revoking a revoked key keeps the first revocation time).
    fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<ApiKeyRecord, StoreError>;
    /// Number of keys that are not revoked.
    fn active_api_keys(&self) -> Result<u64, StoreError>;

    // Aggregates for metrics: each costs time proportional to the series it returns.
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

/// Counters of the SQLite writer, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Jobs handed to the writer thread and not yet started: a queue that keeps growing
    /// means writes arrive faster than the disk commits them.
    pub queued: u64,
    /// Transactions committed (each one fsync).
    pub commits: u64,
    /// Successful writes in those commits: `writes / commits` is how many writes share an
    /// fsync (group commit).
    pub writes: u64,
    /// Times the WAL was started over under sustained writes (it stays bounded).
    pub wal_restarts: u64,
}

/// Builds a page from `(seq, item)` rows fetched with `LIMIT limit + 1`.
pub(crate) fn page_of<T>(mut rows: Vec<(i64, T)>, page: &PageRequest) -> Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Page { items: rows.into_iter().map(|(_, item)| item).collect(), next_cursor }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// For "cost since an instant": the first whole UTC day (days since the epoch) at or after
/// `since`, and the partial-day range before it in microseconds since the epoch, if any.
pub(crate) fn split_days(since: OffsetDateTime) -> (i64, Option<(i64, i64)>) {
    let micros = (since.unix_timestamp_nanos() / 1000) as i64;
    let day = micros.div_euclid(MICROS_PER_DAY);
    if micros.rem_euclid(MICROS_PER_DAY) == 0 {
        (day, None)
    } else {
        (day + 1, Some((micros, (day + 1) * MICROS_PER_DAY)))
    }
}
