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
mod keys;
mod ledger;
mod security;
mod tasks;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

/// Migrations in order; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_initial.sql")];

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

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// After a checkpoint restarts the WAL, its file is cut back to this size.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// WAL size (bytes of frames since the WAL last restarted) at which the writer restarts it.
const WAL_RESTART_AT: i64 = WAL_SIZE_LIMIT;
/// How long a WAL restart waits for readers still on old frames before trying later.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(20);
/// After a deferred restart, the next try waits this long, doubling up to the maximum.
const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The thread that checkpoints the WAL beside the writer; stopped and joined on drop.
#[derive(Debug)]
struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// PASSIVE checkpoints take no lock a writer or reader waits for: they copy the frames
    /// no reader still needs, and the writer keeps appending meanwhile.
    ///
    /// Under sustained writes that alone never lets the WAL start over: SQLite restarts it
    /// only when a write begins with every frame already copied, and a PASSIVE checkpoint is
    /// always behind the writer. The WAL would grow by every byte ever written (2 GB in 20 s
    /// at 64 clients, with every commit extending the file). So when the frames since the
    /// last restart pass [`WAL_RESTART_AT`], the checkpointer asks the writer to restart the
    /// WAL between two commits ([`GroupWriter::restart_wal_if_asked`]).
    fn start(conn: Connection, writer: Arc<GroupWriter>) -> Result<Self, StoreError> {
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let restart_at_frames = WAL_RESTART_AT / page_size.max(512);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("synthorg-checkpoint".into())
            .spawn(move || {
                let mut warned = false;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // (busy, frames in the WAL, frames copied)
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                        Ok(frames) if frames >= restart_at_frames => {
                            writer.restart_asked.store(true, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(error) => {
                            if !std::mem::replace(&mut warned, true) {
                                tracing::warn!(%error, "WAL checkpoint failed; retrying in the background");
                            }
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Most writes committed together; a longer queue starts the next group.
const MAX_GROUP: usize = 256;

/// The writer connection and its group commit.
#[derive(Debug)]
struct GroupWriter {
    state: Mutex<WriterState>,
    /// Writes waiting for the writer: while any wait, the transaction stays open for them.
    waiting: AtomicUsize,
    /// Jobs handed to the writer thread and not yet started.
    queued: AtomicU64,
    /// Committed transactions, and the successful writes they held.
    commits: AtomicU64,
    writes: AtomicU64,
    /// Set by the checkpointer when the WAL should start over (see [`Checkpointer::start`]).
    restart_asked: AtomicBool,
    /// WAL restarts done.
    restarts: AtomicU64,
}

#[derive(Debug)]
struct WriterState {
    conn: Connection,
    /// The group whose transaction is open, how many writes it holds, and how many of them
    /// succeeded.
    open: Option<Arc<Group>>,
    members: usize,
    succeeded: u64,
    /// The connection's usual busy timeout (a WAL restart waits less).
    busy_timeout: Duration,
    /// After a deferred WAL restart (a reader stayed on old frames), the next try waits:
    /// a long reader, such as a backup, must not cost the writer a wait at every ask.
    restart_not_before: Option<std::time::Instant>,
    restart_backoff: Duration,
}

/// One group commit. Its members wait on the group itself, so a commit wakes exactly the
/// writes it holds (a condition variable shared by all groups would wake the members of the
/// next group too, at every commit, only for them to sleep again).
#[derive(Debug, Default)]
struct Group {
    outcome: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl Group {
    /// Records how the group ended and wakes its waiting members.
    fn finish(&self, outcome: Result<(), String>) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.done.notify_all();
    }

    /// Waits until the group ended.
    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = outcome.as_ref() {
                return outcome.clone();
            }
            outcome = self.done.wait(outcome).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "synthorg.db";

impl SqliteStore {
    /// Opens (creating if needed) `synthorg.db` in `data_dir` and applies pending migrations.
    pub fn open_dir(data_dir: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create data dir {}: {e}", data_dir.display())))?;
        Self::open(&data_dir.join(DB_FILE), options)
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
    /// that transaction is committed, together with the writes that queued beside it.
    ///
    /// On the store's writer thread, inside a job (see [`WriterThread`]), the write joins the
    /// open group and returns at once: the thread commits the group after its queued jobs
    /// ran, and only then replies to them.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let writer = &*self.writer;
        let batched = Batch::is_running_for(writer);
        writer.waiting.fetch_add(1, Ordering::SeqCst);
        let mut w = writer.lock();
        writer.waiting.fetch_sub(1, Ordering::SeqCst);
        let group = match &w.open {
            Some(group) => Arc::clone(group),
            None => {
                w.conn.execute_batch("BEGIN IMMEDIATE")?;
                let group = Arc::new(Group::default());
                w.members = 0;
                w.succeeded = 0;
                w.open = Some(Arc::clone(&group));
                group
            }
        };
        let result = match w.conn.execute_batch("SAVEPOINT write") {
            Ok(()) => {
                let result = f(&w.conn);
                let end = if result.is_ok() { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
                match (result, w.conn.execute_batch(end)) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        };
        w.members += 1;
        w.succeeded += u64::from(result.is_ok());
        if batched {
            Batch::joined(&group);
        }
        if (!batched && writer.waiting.load(Ordering::SeqCst) == 0) || w.members >= MAX_GROUP {
            // The last of the group (or a full group): commit for everyone.
            let commit = writer.commit(w);
            if !batched {
                writer.restart_wal_if_asked();
            }
            return match (result, commit) {
                (Ok(value), Ok(())) => Ok(value),
                (Err(e), _) => Err(e),
                (Ok(_), Err(message)) => Err(commit_failed(message)),
            };
        }
        drop(w);
        // A failed write needs no commit; a successful one is answered once its group is
        // (by the writer thread's reply when batched).
        let value = result?;
        if batched {
            return Ok(value);
        }
        group.wait().map(|()| value).map_err(commit_failed)
    }
}

fn commit_failed(message: String) -> StoreError {
    StoreError::Unavailable(format!("commit failed: {message}"))
}

impl GroupWriter {
    /// Locks the writer. A poisoned lock means a write panicked inside the open group: its
    /// half-done changes must not be committed with the others, so the whole group is rolled
    /// back and reported failed.
    fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut w = poisoned.into_inner();
            if let Some(group) = w.open.take() {
                let _ = w.conn.execute_batch("ROLLBACK");
                group.finish(Err("a write of the group failed unexpectedly".into()));
            }
            self.state.clear_poison();
            w
        })
    }

    /// Restarts the WAL when the checkpointer asked: a RESTART checkpoint copies the frames
    /// the background checkpoints have not copied yet (the last 100 ms or so) and waits for
    /// readers to leave the old frames, so the next commit writes the WAL from its start
    /// (over the file's existing blocks: no growth, and fsyncs without file-size updates).
    /// Run between commits, holding the writer, after the committed writes were answered.
    /// A reader that does not leave within [`WAL_RESTART_WAIT`] defers it to the next ask.
    fn restart_wal_if_asked(&self) {
        if !self.restart_asked.load(Ordering::Relaxed) {
            return;
        }
        let mut w = self.lock();
        if w.open.is_some() || !self.restart_asked.swap(false, Ordering::Relaxed) {
            return;
        }
        let now = std::time::Instant::now();
        if w.restart_not_before.is_some_and(|t| now < t) {
            return;
        }
        let _ = w.conn.busy_timeout(WAL_RESTART_WAIT);
        let restarted = w.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
        let _ = w.conn.busy_timeout(w.busy_timeout);
        if let Ok(0) = restarted {
            self.restarts.fetch_add(1, Ordering::Relaxed);
            w.restart_not_before = None;
            w.restart_backoff = RESTART_BACKOFF_MIN;
            return;
        }
        let backoff = w.restart_backoff;
        w.restart_not_before = Some(now + backoff);
        w.restart_backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
        match restarted {
            Err(error) => tracing::warn!(%error, "WAL restart failed; retrying later"),
            Ok(_) => tracing::debug!(retry_in = ?backoff, "WAL restart deferred: a reader is still on old frames"),
        }
    }

    /// Commits the open group (if any), releases the writer and wakes the group's members.
    fn commit(&self, mut w: MutexGuard<'_, WriterState>) -> Result<(), String> {
        let Some(group) = w.open.take() else { return Ok(()) };
        let commit = w.conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        match commit {
            // A group whose writes all failed commits nothing to the disk: not counted.
            Ok(()) if w.succeeded > 0 => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.writes.fetch_add(w.succeeded, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err(_) => {
                let _ = w.conn.execute_batch("ROLLBACK");
            }
        }
        drop(w);
        group.finish(commit.clone());
        commit
    }
}

/// The store's writer thread: API writes arrive as owned jobs on a channel; the thread runs
/// every job queued, commits their writes together, then replies to each. Under load it
/// never sleeps between jobs, and a write costs no thread handoff, lock handoff or wakeup
/// of its own; the only wakeup is the reply to the task that waits for it.
///
/// Writes from other threads (CLI commands, the demo, tests) keep the path through the lock
/// and join or commit the same groups, so both kinds mix safely.
#[derive(Debug)]
struct WriterThread {
    jobs: Option<mpsc::Sender<crate::Job>>,
    /// Counts the queue in [`GroupWriter::queued`].
    writer: Arc<GroupWriter>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriterThread {
    fn start(writer: Arc<GroupWriter>) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<crate::Job>();
        let shared = Arc::clone(&writer);
        let thread = std::thread::Builder::new()
            .name("synthorg-writer".into())
            .spawn(move || Self::run(&shared, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: Some(jobs), writer, thread: Some(thread) })
    }

    fn submit(&self, job: crate::Job) -> Result<(), crate::Job> {
        let Some(jobs) = &self.jobs else { return Err(job) };
        self.writer.queued.fetch_add(1, Ordering::Relaxed);
        jobs.send(job).map_err(|mpsc::SendError(job)| {
            self.writer.queued.fetch_sub(1, Ordering::Relaxed);
            job
        })
    }

    fn run(writer: &GroupWriter, queue: &mpsc::Receiver<crate::Job>) {
        let mut ran_jobs = Vec::new();
        while let Ok(first) = queue.recv() {
            let mut next = Some(first);
            let mut ran = 0;
            while let Some(mut job) = next {
                writer.queued.fetch_sub(1, Ordering::Relaxed);
                let batch = Batch::begin(writer);
                // A job that panics is dropped unanswered (its caller sees the reply channel
                // close); the lock it poisoned rolls back the group it wrote into.
                let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
                let groups = batch.end();
                if finished.is_ok() {
                    ran_jobs.push((job, groups));
                }
                ran += 1;
                next = if ran < MAX_GROUP { queue.try_recv().ok() } else { None };
            }
            let _ = writer.commit(writer.lock());
            // Only now is each job's outcome known: its events are applied if (and only if)
            // every group it wrote into committed.
            for (job, groups) in ran_jobs.drain(..) {
                let outcome = groups.iter().map(|g| g.wait()).find(Result::is_err).unwrap_or(Ok(()));
                job.finish(outcome.map_err(commit_failed));
            }
            writer.restart_wal_if_asked();
        }
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // The last handle on the store may be dropped by a job on the writer thread itself,
            // which finishes on its own once the channel is closed.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

thread_local! {
    /// On a writer thread while a job runs: which writer, and the groups the job wrote into.
    static BATCH: RefCell<Option<(usize, Vec<Arc<Group>>)>> = const { RefCell::new(None) };
}

/// The running job of a writer thread (see [`BATCH`]).
struct Batch;

impl Batch {
    fn id(writer: &GroupWriter) -> usize {
        std::ptr::from_ref(writer) as usize
    }

    fn begin(writer: &GroupWriter) -> Self {
        BATCH.with_borrow_mut(|b| *b = Some((Self::id(writer), Vec::new())));
        Batch
    }

    fn end(self) -> Vec<Arc<Group>> {
        BATCH.with_borrow_mut(|b| b.take().map(|(_, groups)| groups).unwrap_or_default())
    }

    fn is_running_for(writer: &GroupWriter) -> bool {
        BATCH.with_borrow(|b| matches!(b, Some((id, _)) if *id == Self::id(writer)))
    }

    fn joined(group: &Arc<Group>) {
        BATCH.with_borrow_mut(|b| {
            if let Some((_, groups)) = b
                && !groups.iter().any(|g| Arc::ptr_eq(g, group))
            {
                groups.push(Arc::clone(group));
            }
        });
    }
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
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
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
    Ok(())
}

// Conversions between domain values and columns.

/// Microseconds since the Unix epoch.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub(crate) fn from_ts(micros: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e)))
}

pub(crate) fn parse_uuid(text: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn opt_uuid(text: Option<String>) -> rusqlite::Result<Option<Uuid>> {
    text.as_deref().map(parse_uuid).transpose()
}

/// Parses a stored enum spelling.
pub(crate) fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown stored value {text:?}").into(),
        )
    })
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// A WHERE clause built from optional filters, with positional parameters.
#[derive(Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    params: Vec<rusqlite::types::Value>,
}

impl Filter {
    pub(crate) fn eq(&mut self, column: &str, value: Option<impl Into<rusqlite::types::Value>>) -> &mut Self {
        if let Some(v) = value {
            self.push(&format!("{column} = ?"), v);
        }
        self
    }

    pub(crate) fn push(&mut self, clause: &str, value: impl Into<rusqlite::types::Value>) -> &mut Self {
        self.params.push(value.into());
        self.clauses.push(clause.replace('?', &format!("?{}", self.params.len())));
        self
    }

    pub(crate) fn raw(&mut self, clause: &str) -> &mut Self {
        self.clauses.push(clause.to_owned());
        self
    }

    /// Runs `SELECT seq, {columns} FROM {table} WHERE … AND seq > cursor ORDER BY seq LIMIT n+1`.
    pub(crate) fn page<T>(
        &mut self,
        conn: &Connection,
        table: &str,
        columns: &str,
        page: &PageRequest,
        map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        if let Some(after) = page.after {
            self.push("seq > ?", after);
        }
        let condition = if self.clauses.is_empty() { "1".to_owned() } else { self.clauses.join(" AND ") };
        let sql = format!(
            "SELECT seq, {columns} FROM {table} WHERE {condition} ORDER BY seq LIMIT {}",
            u64::from(page.limit) + 1
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(self.params.iter()), |row| Ok((row.get::<_, i64>(0)?, map(row)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::page::page_of(rows, page))
    }
}

pub(crate) fn uuid_value(id: Option<Uuid>) -> Option<String> {
    id.map(|u| u.to_string())
}

impl crate::Store for SqliteStore {}

impl crate::Execution for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    fn reads_in_process(&self) -> bool {
        true
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
