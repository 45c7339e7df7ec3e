//! The writer: one connection, group commit, and the writer thread that runs the API's jobs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

/// How long a WAL restart waits for readers still on old frames before trying later.
pub(super) const WAL_RESTART_WAIT: Duration = Duration::from_millis(20);
/// After a deferred restart, the next try waits this long, doubling up to the maximum.
pub(super) const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub(super) const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Most writes committed together; a longer queue starts the next group.
pub(super) const MAX_GROUP: usize = 256;

/// The writer connection and its group commit.
#[derive(Debug)]
pub(super) struct GroupWriter {
    pub(super) state: Mutex<WriterState>,
    /// Writes waiting for the writer: while any wait, the transaction stays open for them.
    pub(super) waiting: AtomicUsize,
    /// Jobs handed to the writer thread and not yet started.
    pub(super) queued: AtomicU64,
    /// Committed transactions, and the successful writes they held.
    pub(super) commits: AtomicU64,
    pub(super) writes: AtomicU64,
    /// Set by the checkpointer when the WAL should start over (see [`Checkpointer::start`]).
    pub(super) restart_asked: AtomicBool,
    /// WAL restarts done.
    pub(super) restarts: AtomicU64,
}

#[derive(Debug)]
pub(super) struct WriterState {
    pub(super) conn: Connection,
    /// The group whose transaction is open, how many writes it holds, and how many of them
    /// succeeded.
    pub(super) open: Option<Arc<Group>>,
    pub(super) members: usize,
    pub(super) succeeded: u64,
    /// The connection's usual busy timeout (a WAL restart waits less).
    pub(super) busy_timeout: Duration,
    /// After a deferred WAL restart (a reader stayed on old frames), the next try waits:
    /// a long reader, such as a backup, must not cost the writer a wait at every ask.
    pub(super) restart_not_before: Option<std::time::Instant>,
    pub(super) restart_backoff: Duration,
}

/// One group commit. Its members wait on the group itself, so a commit wakes exactly the
/// writes it holds (a condition variable shared by all groups would wake the members of the
/// next group too, at every commit, only for them to sleep again).
#[derive(Debug, Default)]
pub(super) struct Group {
    outcome: Mutex<Option<Result<(), CommitFailed>>>,
    done: Condvar,
}

impl Group {
    /// Records how the group ended and wakes its waiting members.
    pub(super) fn finish(&self, outcome: Result<(), CommitFailed>) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.done.notify_all();
    }

    /// Waits until the group ended.
    pub(super) fn wait(&self) -> Result<(), CommitFailed> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = outcome.as_ref() {
                return outcome.clone();
            }
            outcome = self.done.wait(outcome).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Why a group's commit failed; every member of the group gets it (hence `Clone`).
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum CommitFailed {
    #[error("commit failed: {0}")]
    Sqlite(String),
    #[error("commit failed: a write of the group failed unexpectedly")]
    Poisoned,
}

impl From<CommitFailed> for StoreError {
    fn from(error: CommitFailed) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl GroupWriter {
    /// Runs `f` atomically (in its own savepoint) inside a write transaction and returns once
    /// that transaction is committed, together with the writes that queued beside it.
    ///
    /// On the store's writer thread, inside a job (see [`WriterThread`]), the write joins the
    /// open group and returns at once: the thread commits the group after its queued jobs
    /// ran, and only then replies to them.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let writer = self;
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
        // Cached statements: compiled once per connection, not once per write.
        let cached = |sql: &str| w.conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
        let result = match cached("SAVEPOINT write") {
            Ok(()) => {
                let result = f(&w.conn);
                let end = match result.is_ok() {
                    true => cached("RELEASE write"),
                    false => w.conn.execute_batch("ROLLBACK TO write; RELEASE write"),
                };
                match (result, end) {
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
                (Ok(_), Err(failed)) => Err(failed.into()),
            };
        }
        drop(w);
        // A failed write needs no commit; a successful one is answered once its group is
        // (by the writer thread's reply when batched).
        let value = result?;
        if batched {
            return Ok(value);
        }
        group.wait().map(|()| value).map_err(StoreError::from)
    }

    /// Locks the writer. A poisoned lock means a write panicked inside the open group: its
    /// half-done changes must not be committed with the others, so the whole group is rolled
    /// back and reported failed.
    pub(super) fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut w = poisoned.into_inner();
            if let Some(group) = w.open.take() {
                let _ = w.conn.execute_batch("ROLLBACK");
                group.finish(Err(CommitFailed::Poisoned));
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
    pub(super) fn restart_wal_if_asked(&self) {
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
    pub(super) fn commit(&self, mut w: MutexGuard<'_, WriterState>) -> Result<(), CommitFailed> {
        let Some(group) = w.open.take() else { return Ok(()) };
        let commit = w.conn.execute_batch("COMMIT").map_err(|e| CommitFailed::Sqlite(e.to_string()));
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
pub(super) struct WriterThread {
    jobs: Option<mpsc::Sender<crate::Job>>,
    /// Counts the queue in [`GroupWriter::queued`].
    writer: Arc<GroupWriter>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriterThread {
    pub(super) fn start(writer: Arc<GroupWriter>) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<crate::Job>();
        let shared = Arc::clone(&writer);
        let thread = std::thread::Builder::new()
            .name("synthorg-writer".into())
            .spawn(move || Self::run(&shared, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: Some(jobs), writer, thread: Some(thread) })
    }

    pub(super) fn submit(&self, job: crate::Job) -> Result<(), crate::Job> {
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
                job.finish(outcome.map_err(StoreError::from));
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
pub(super) struct Batch;

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
