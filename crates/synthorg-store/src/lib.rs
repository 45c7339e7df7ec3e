//! Durable state of synthorg: the [`Store`] traits and their SQLite (embedded default) and
//! PostgreSQL (several replicas on one database) implementations.
//!
//! The trait is synchronous: SQLite is an in-process library and each call is a short
//! transaction, so the API runs reads on tokio's blocking pool instead of paying for an async
//! driver, and hands writes to the SQLite store's writer thread ([`Execution::submit`]); the
//! PostgreSQL store uses synchronous clients from a pool, on the blocking pool. Every method
//! that changes state does so in one transaction, and returns only after that transaction is
//! durable (on the writer thread: the job's reply comes only after it).

mod agents;
mod aggregates;
pub mod audit;
mod budget;
mod coordination;
mod error;
#[cfg(feature = "bench-fixtures")]
pub mod fixtures;
mod keys;
mod ledger;
pub mod metrics;
pub mod migrate;
mod page;
pub mod postgres;
pub mod reservations;
mod rows;
mod schema;
mod security;
pub mod sqlite;
mod tasks;
#[doc(hidden)]
pub mod testing;
mod unit;

use time::OffsetDateTime;

pub use agents::{AgentFilter, AgentStore};
pub use aggregates::{AggregateStore, ModelUsage};
pub use audit::{AuditFilter, AuditStore, verify_chain};
pub use budget::BudgetStore;
pub use coordination::{CoordinationStore, RunFilter};
pub use error::StoreError;
pub use keys::{ApiKeyRecord, KeyStore};
pub use ledger::{CostFilter, LedgerStore, Recorded};
pub use page::{DEFAULT_PAGE, MAX_PAGE, Page, PageRequest, all_pages};
pub use postgres::{PostgresOptions, PostgresStore};
pub use reservations::{Admission, HeldTotals, ReservationFilter, ReservationStore, Settlement};
pub use security::{ApprovalFilter, EvaluationFilter, EvaluationRecord, SecurityStore};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use tasks::{TaskFilter, TaskStore};
pub use unit::{Done, Effects, Job};

/// Every store trait, for callers that hold a concrete store (`use synthorg_store::prelude::*`);
/// through `dyn Store` the methods need no import.
pub mod prelude {
    pub use crate::{
        AgentStore, AggregateStore, AuditStore, BudgetStore, CoordinationStore, Execution, KeyStore, LedgerStore,
        ReservationStore, SecurityStore, Store, TaskStore,
    };
}

/// The current time, truncated to the microsecond precision the store keeps, so that what a
/// handler returns equals what a later read returns.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

/// Everything synthorg keeps: the sum of one trait per entity, each next to its types and
/// implemented directly by each backend, and how the store runs ([`Execution`]). A backend
/// implements the parts, then declares itself a `Store` in one line. Implementations must be
/// safe to share between threads.
pub trait Store:
    AgentStore
    + TaskStore
    + LedgerStore
    + BudgetStore
    + ReservationStore
    + CoordinationStore
    + SecurityStore
    + KeyStore
    + AggregateStore
    + AuditStore
    + Execution
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
}

/// How a store runs, apart from what it keeps: readiness, where reads and writes run, the
/// writer's counters.
pub trait Execution {
    /// Checks that the store answers (readiness).
    fn ping(&self) -> Result<(), StoreError>;

    /// True when a point read is an in-process lookup of microseconds that never waits on
    /// the network (SQLite), so a caller may run it on an async worker instead of handing
    /// it to the blocking pool. False for PostgreSQL, whose client blocks on a socket.
    fn reads_in_process(&self) -> bool;

    /// The database, as OpenTelemetry's `db.system.name` spells it: `sqlite` or `postgresql`.
    fn db_system(&self) -> &'static str;

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
