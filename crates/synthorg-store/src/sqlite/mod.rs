//! The embedded SQLite store: one file under the data dir, WAL, foreign keys, migrations at
//! open, `synchronous = FULL` so that a committed (acknowledged) write survives a crash of the
//! process or the machine.
//!
//! Connections: one writer behind a mutex (SQLite has one writer at a time anyway; queueing
//! in-process is cheaper than `SQLITE_BUSY` retries) and a few readers, which WAL lets run
//! beside the writer.
//!
//! Writes are **group-committed**: while other writes wait for the writer, each runs in its
//! own savepoint inside one shared transaction, and the group commits once for all of them —
//! one fsync for many writes. Nobody is answered before the commit that holds their write: a
//! 2xx is still durable, and a failed commit fails every write of its group. A write that
//! fails rolls back its savepoint only. A lone write commits at once.
//!
//! The API's writes arrive on the store's **writer thread** as owned jobs
//! ([`crate::Store::submit`]): it runs every job queued, commits once, then finishes each
//! with the outcome of that commit (its events applied only if it committed). Other callers (the CLI, the demo seeding, tests) write from their own threads through
//! the writer's lock; the last of a queue commits for the group.
//!
//! Checkpoints (copying the WAL back into the database file) run on a thread of their own,
//! never inside a commit: with SQLite's automatic checkpoints, the commit that crosses the
//! threshold copies the pages and fsyncs the database file while every queued write waits.
//! Under sustained writes those background checkpoints never catch up with the writer, so
//! when the WAL passes 64 MiB the writer starts it over between two commits (a short RESTART
//! checkpoint of what is left): the WAL stays bounded at any write rate.

mod agents;
mod aggregates;
mod audit;
mod checkpoint;
mod columns;
mod keys;
mod ledger;
mod reservations;
mod security;
mod tasks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;
use checkpoint::{Checkpointer, WAL_SIZE_LIMIT};
pub(crate) use columns::*;
use writer::{GroupWriter, RESTART_BACKOFF_MIN, WriterState, WriterThread};

/// Migrations in order; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_prices.sql"),
    include_str!("../../migrations/sqlite/0003_agent_name_key.sql"),
    include_str!("../../migrations/sqlite/0004_reservations.sql"),
    include_str!("../../migrations/sqlite/0005_audit.sql"),
    include_str!("../../migrations/sqlite/0006_day_totals.sql"),
    include_str!("../../migrations/sqlite/0007_verdict_counts.sql"),
    include_str!("../../migrations/sqlite/0008_metered_costs.sql"),
    include_str!("../../migrations/sqlite/0009_call_rates.sql"),
];

/// Settings of the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Number of read connections.
    pub readers: usize,
    /// How long a statement waits for a lock before the store reports itself unavailable.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { readers: 4, busy_timeout: Duration::from_secs(5) }
    }
}

/// The SQLite implementation of [`crate::Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<GroupWriter>,
    writer_thread: WriterThread,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    _checkpointer: Checkpointer,
}

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "synthorg.db";

impl SqliteStore {
    /// Opens (creating if needed) `synthorg.db` in `data_dir` and applies pending migrations.
    ///
    /// The directory is created owner-only (0700) and the database file too (0600; SQLite
    /// gives its `-wal` and `-shm` files the database file's mode): the store holds key hashes
    /// and the organization's whole history. An existing directory or file that others may
    /// read is used as it is, with a warning naming it.
    pub fn open_dir(data_dir: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let unavailable = |what: &str, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot create {what} {}: {e}", data_dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|e| unavailable("data dir", e))?;
        let db = data_dir.join(DB_FILE);
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable("the database file in", e)),
        }
        for problem in loose_permissions(data_dir) {
            tracing::warn!(%problem, "the data directory is readable by other users");
        }
        Self::open(&db, options)
    }

    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        let writer = connect(path, options, false)?;
        migrate(&writer)?;
        // Commits never checkpoint; the checkpointer's own connection does.
        writer
            .execute_batch(&format!("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"))?;
        let readers = (0..options.readers.max(1))
            .map(|_| connect(path, options, true).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let writer = Arc::new(GroupWriter {
            state: Mutex::new(WriterState {
                conn: writer,
                open: None,
                members: 0,
                succeeded: 0,
                busy_timeout: options.busy_timeout,
                restart_not_before: None,
                restart_backoff: RESTART_BACKOFF_MIN,
            }),
            waiting: AtomicUsize::new(0),
            queued: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            restart_asked: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
        });
        let checkpointer = Checkpointer::start(connect(path, options, false)?, Arc::clone(&writer))?;
        Ok(Self {
            path: path.to_owned(),
            writer_thread: WriterThread::start(Arc::clone(&writer))?,
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: checkpointer,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs SQLite's full integrity and foreign-key checks; `Ok` lists no problems.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut problems: Vec<String> = c
                .prepare("PRAGMA integrity_check")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|line| line != "ok")
                .collect();
            let fk: Vec<String> = c
                .prepare("PRAGMA foreign_key_check")?
                .query_map([], |r| Ok(format!("foreign key violation in {}", r.get::<_, String>(0)?)))?
                .collect::<Result<_, _>>()?;
            problems.extend(fk);
            Ok(problems)
        })
    }

    /// Runs `f` on a read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        // Take the first idle reader; when all are busy, wait for the one in turn.
        let guard = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| lock(&self.readers[start % n]));
        f(&guard)
    }

    /// Runs `f` atomically (in its own savepoint) inside a write transaction and returns once
    /// that transaction is committed (see [`GroupWriter::write`]).
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.writer.write(f)
    }
}

/// The data directory and the store's files that other users may read or enter, with the
/// `chmod` that closes each (empty when everything is owner-only).
pub fn loose_permissions(data_dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut problems = Vec::new();
    let mut check = |path: &Path, wanted: u32| {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                problems.push(format!("{} has mode {mode:o}: chmod {wanted:o} {}", path.display(), path.display()));
            }
        }
    };
    check(data_dir, 0o700);
    for suffix in ["", "-wal", "-shm"] {
        check(&data_dir.join(format!("{DB_FILE}{suffix}")), 0o600);
    }
    problems
}

/// A poisoned mutex only means another thread panicked while holding the connection; the
/// connection itself is fine (an open transaction was rolled back when it was dropped).
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect(path: &Path, options: &SqliteOptions, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(options.busy_timeout)?;
    if !read_only {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!("cannot switch {} to WAL (got {mode})", path.display())));
        }
    }
    // FULL: every commit is fsynced before it returns, so a 2xx is never lost, even on power loss.
    // temp_store MEMORY: the sub-journal of each write's savepoint inside a group commit stays
    // in memory and is emptied when the savepoint is released; on a temporary file it spills
    // after 64 KiB and then grows, one `pwrite` per changed page, until the group commits.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the database is at schema version {applied}, newer than this synthorg ({}); upgrade synthorg",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!("BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {};\nCOMMIT;", i + 1))
            .map_err(|e| StoreError::Internal(format!("migration {} failed: {e}", i + 1)))?;
        tracing::info!(version = i + 1, "applied store migration");
    }
    fill_name_keys(conn)
}

/// Gives agents written before name keys existed their key (schema version 3); an agent
/// whose key another already holds keeps none and is named in a warning.
fn fill_name_keys(conn: &Connection) -> Result<(), StoreError> {
    let missing: Vec<(String, String)> = conn
        .prepare("SELECT id, name FROM agents WHERE name_key IS NULL ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, name) in missing {
        let key = crate::agents::name_key(&name);
        let holder: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT name FROM agents WHERE name_key = ?1",
            [&key],
            |r| r.get(0),
        ))?;
        match holder {
            None => {
                conn.execute("UPDATE agents SET name_key = ?1 WHERE id = ?2", [&key, &id])?;
            }
            Some(holder) => tracing::warn!(agent_id = %id, name = %name, holder = %holder,
                "agent name differs only in case or width from another's; new agents cannot take either"),
        }
    }
    Ok(())
}

impl crate::Store for SqliteStore {}

impl crate::Execution for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    fn reads_in_process(&self) -> bool {
        true
    }

    fn db_system(&self) -> &'static str {
        "sqlite"
    }

    fn submit(&self, job: crate::Job) -> Result<(), crate::Job> {
        self.writer_thread.submit(job)
    }

    fn writer_stats(&self) -> Option<crate::WriterStats> {
        Some(crate::WriterStats {
            queued: self.writer.queued.load(Ordering::Relaxed),
            commits: self.writer.commits.load(Ordering::Relaxed),
            writes: self.writer.writes.load(Ordering::Relaxed),
            wal_restarts: self.writer.restarts.load(Ordering::Relaxed),
        })
    }
}
