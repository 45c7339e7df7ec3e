//! Store tests against real SQLite files in temporary directories and, whenever
//! `SYNTHORG_TEST_PG_URL` names a PostgreSQL database, the same tests against PostgreSQL, each
//! in a schema of its own so that tests run in parallel.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod aggregates;
mod audit;
mod entities;
mod prices;
mod replicas;
mod reservations;

use synthorg_core::Actor;
use synthorg_core::agent::{Agent, NewAgent};
use synthorg_core::task::{NewTask, Task, TaskStatus, TransitionRequest};
use synthorg_store::prelude::*;
use synthorg_store::testing::PgSchema;
use synthorg_store::{
    Done, Effects, Job, PageRequest, PostgresStore, SqliteOptions, SqliteStore, Store, StoreError, now,
};
use uuid::Uuid;

/// Runs each named test function (`fn name(s: &dyn Store)`) on a fresh SQLite store and, when
/// PostgreSQL is configured for tests, on a fresh PostgreSQL schema; afterwards the store
/// must pass the backend's own consistency checks.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { $crate::TestStore::sqlite().check(super::$name) } )*
        }
        mod postgres {
            $(
                #[test]
                #[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
                fn $name() {
                    $crate::TestStore::postgres().expect("SYNTHORG_TEST_PG_URL names the test database").check(super::$name)
                }
            )*
        }
    };
}

/// A fresh store of either backend, removed when dropped.
#[derive(Debug)]
pub enum TestStore {
    Sqlite(tempfile::TempDir, SqliteStore),
    Postgres(PgSchema, Box<PostgresStore>),
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match self {
            TestStore::Sqlite(_, s) => s,
            TestStore::Postgres(_, s) => &**s,
        }
    }
}

impl TestStore {
    pub fn sqlite() -> Self {
        let (dir, store) = store();
        TestStore::Sqlite(dir, store)
    }

    /// A store on a new schema of the test database; `None` (and a note) without one.
    pub fn postgres() -> Option<Self> {
        let schema = PgSchema::new()?;
        let store = schema.open().unwrap();
        Some(TestStore::Postgres(schema, Box::new(store)))
    }

    /// Runs `test`, then the backend's own consistency checks (SQLite's integrity and foreign
    /// key checks; PostgreSQL enforces foreign keys on every statement).
    pub fn check(&self, test: fn(&dyn Store)) {
        test(&**self);
        if let TestStore::Sqlite(_, s) = self {
            assert_eq!(s.integrity_check().unwrap(), Vec::<String>::new());
        }
    }
}

pub fn admin() -> Actor {
    Actor::Admin { key_id: "test".into() }
}

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    (dir, store)
}

pub fn add_agent(store: &dyn Store, name: &str) -> Agent {
    let agent = NewAgent { name: name.into(), role: "developer".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .unwrap();
    store.create_agent(&agent, &synthorg_core::audit::AuditContext::system()).unwrap();
    agent
}

pub fn add_task(store: &dyn Store, title: &str) -> Task {
    let task = NewTask { title: title.into(), ..Default::default() }.into_task(&admin(), now()).unwrap();
    store.create_task(&task).unwrap();
    task
}

pub fn move_task(store: &dyn Store, id: Uuid, to: TaskStatus, assignee: Option<Uuid>) -> Task {
    let request = TransitionRequest { to, assigned_to: assignee, expected_version: None, reason: None };
    store.transition_task(id, &request, &admin()).unwrap().0
}

/// Concurrent writes are committed in groups: every acknowledged write is there after a
/// reopen, and a write that fails inside a group (a stale version) changes nothing while the
/// others of its group commit.
#[test]
fn group_commit_keeps_every_acknowledged_write_and_isolates_failures() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    let agent = add_agent(&store, "grouped");
    let tasks: Vec<Task> = (0..16).map(|i| add_task(&store, &format!("t{i}"))).collect();
    let (ok, conflicts) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        for (i, task) in tasks.iter().enumerate() {
            let (store, ok, conflicts, agent) = (&store, &ok, &conflicts, agent.id);
            scope.spawn(move || {
                // Version 1 is current once: the first assign succeeds, the stale repeats fail.
                for round in 0..20 {
                    let request = TransitionRequest {
                        to: TaskStatus::Assigned,
                        assigned_to: Some(agent),
                        expected_version: Some(task.version),
                        reason: Some(format!("thread {i} round {round}")),
                    };
                    match store.transition_task(task.id, &request, &admin()) {
                        Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(_) => conflicts.fetch_add(1, Ordering::SeqCst),
                    };
                }
            });
        }
    });
    assert_eq!((ok.load(Ordering::SeqCst), conflicts.load(Ordering::SeqCst)), (16, 16 * 19));
    drop(store);
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    for task in &tasks {
        let stored = store.get_task(task.id).unwrap();
        assert_eq!((stored.status, stored.version), (TaskStatus::Assigned, task.version + 1));
        assert_eq!(store.task_history(task.id, &PageRequest::default()).unwrap().items.len(), 1);
    }
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Commits never checkpoint; the background checkpointer copies the WAL into the database
/// file while the store is idle, so the WAL does not grow without bound.
#[test]
fn the_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    let db_file = dir.path().join(synthorg_store::sqlite::DB_FILE);
    let agent = add_agent(&store, "writer");
    let before = std::fs::metadata(&db_file).unwrap().len();
    for i in 0..300 {
        add_task(&store, &format!("task {i}"));
    }
    store.record_cost(&crate::entities::cost(agent.id, "0.5", None)).unwrap();
    // Nothing in this test checkpoints: the database file grows only by the checkpointer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&db_file).unwrap().len() < before + 100 * 1024 {
        assert!(std::time::Instant::now() < deadline, "the WAL was not checkpointed in the background");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(store.total_cost().unwrap(), synthorg_core::Usd::parse("0.5").unwrap());
}

/// What a writer-thread job reports: its task, whether its write succeeded, the commit
/// outcome its reply got, and whether a reader saw the task when the reply ran.
type JobReport = (Uuid, Result<(), String>, Result<(), String>, bool);

/// A job for the writer thread that creates `task` and reports through `reports`; `before`
/// runs first inside the job (on the writer thread, inside the open group). The work never
/// fails: its answer is whether the write succeeded, so that the reply tells the write's
/// outcome and the commit's apart.
fn create_job(
    store: &std::sync::Arc<SqliteStore>,
    task: Task,
    reports: &std::sync::mpsc::Sender<JobReport>,
    before: impl FnOnce() + Send + 'static,
) -> Job {
    let (writer, store, reports) = (store.clone(), store.clone(), reports.clone());
    let id = task.id;
    Job::new(
        move || {
            before();
            Ok::<_, StoreError>(Done::new(writer.create_task(&task).map_err(|e| e.to_string())))
        },
        no_effects(),
        move |outcome: Result<Result<(), String>, StoreError>| {
            let visible = store.get_task(id).is_ok();
            let (written, committed) = match outcome {
                Ok(written) => (written, Ok(())),
                Err(e) => (Ok(()), Err(e.to_string())),
            };
            let _ = reports.send((id, written, committed, visible));
        },
    )
}

/// Effects that nobody looks at.
fn no_effects() -> std::sync::Arc<dyn Effects> {
    #[derive(Debug)]
    struct Ignored;
    impl Effects for Ignored {
        fn apply(&self, _: Vec<synthorg_core::event::Event>) {}
    }
    std::sync::Arc::new(Ignored)
}

fn submit(store: &SqliteStore, job: Job) {
    assert!(store.submit(job).is_ok(), "the SQLite store has a writer thread");
}

fn new_task(title: &str) -> Task {
    NewTask { title: title.into(), ..Default::default() }.into_task(&admin(), now()).unwrap()
}

/// Jobs queued on the writer thread run in one open transaction and are answered only after
/// it committed: while the queue drains, a reader sees none of the earlier jobs' tasks; at
/// each reply, the job's task is visible. A failing job gets its own error while its batch
/// commits, and a job that panics is dropped unanswered without stopping the thread.
#[test]
fn the_writer_thread_commits_queued_jobs_together_and_answers_after_the_commit() {
    use std::sync::{Arc, mpsc};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap());
    let (reports, reported) = mpsc::channel::<JobReport>();
    // The first job holds the thread until the rest are queued behind it.
    let (release, held) = mpsc::channel::<()>();
    let first = new_task("first");
    let (started, running) = mpsc::channel::<()>();
    submit(
        &store,
        create_job(&store, first.clone(), &reports, move || {
            started.send(()).unwrap();
            held.recv().unwrap();
        }),
    );
    let tasks: Vec<Task> = (0..50).map(|i| new_task(&format!("queued {i}"))).collect();
    let (seen_early, seen) = mpsc::channel::<bool>();
    let mut previous = first.id;
    for task in &tasks {
        let (check, store2, seen_early) = (previous, store.clone(), seen_early.clone());
        submit(
            &store,
            create_job(&store, task.clone(), &reports, move || {
                seen_early.send(store2.get_task(check).is_ok()).unwrap();
            }),
        );
        previous = task.id;
    }
    // A duplicate id fails on its own; a panicking job is dropped unanswered.
    submit(&store, create_job(&store, tasks[0].clone(), &reports, || ()));
    let unanswered = reports.clone();
    submit(
        &store,
        Job::new(
            || -> Result<Done<()>, StoreError> { panic!("a job that panics (expected by this test)") },
            no_effects(),
            move |_| {
                let _ = unanswered.send((Uuid::nil(), Ok(()), Ok(()), false));
            },
        ),
    );
    // The first job runs; the other 52 wait, and the metrics see them waiting.
    running.recv().unwrap();
    let before = store.writer_stats().unwrap();
    assert_eq!(before.queued, 52);
    release.send(()).unwrap();
    let answers: Vec<JobReport> = (0..52).map(|_| reported.recv().unwrap()).collect();
    // One commit for the 51 successful writes (the duplicate's failed write is not counted).
    let after = store.writer_stats().unwrap();
    assert_eq!((after.queued, after.commits - before.commits, after.writes - before.writes), (0, 1, 51));
    drop(seen_early);
    assert_eq!(seen.iter().filter(|&early| early).count(), 0, "a queued job saw an earlier job's write committed");
    let (failed, ok): (Vec<_>, Vec<_>) = answers.iter().partition(|(_, written, _, _)| written.is_err());
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, tasks[0].id);
    assert_eq!(ok.len(), 51);
    assert!(ok.iter().all(|(_, _, committed, visible)| committed.is_ok() && *visible));
    // The thread still serves after the panic.
    let last = new_task("after the panic");
    submit(&store, create_job(&store, last.clone(), &reports, || ()));
    let (id, written, committed, visible) = reported.recv().unwrap();
    assert_eq!((id, written, committed, visible), (last.id, Ok(()), Ok(()), true));
    assert!(reported.try_recv().is_err(), "the panicking job was answered");
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Records the events it is handed, and whether their task was visible to a reader (that is,
/// committed) at that moment.
#[derive(Debug)]
struct Recorder {
    store: std::sync::Arc<SqliteStore>,
    seen: std::sync::Mutex<Vec<(synthorg_core::event::Event, bool)>>,
}

impl Effects for Recorder {
    fn apply(&self, events: Vec<synthorg_core::event::Event>) {
        for event in events {
            let committed = match &event {
                synthorg_core::event::Event::TaskCreated { task_id, .. } => self.store.get_task(*task_id).is_ok(),
                _ => false,
            };
            self.seen.lock().unwrap().push((event, committed));
        }
    }
}

/// A job that creates `task` and wants its event applied; its reply goes to `replies`.
fn evented_job(
    store: &std::sync::Arc<SqliteStore>,
    task: Task,
    effects: &std::sync::Arc<Recorder>,
    replies: &std::sync::mpsc::Sender<Result<Uuid, StoreError>>,
) -> Job {
    let (store, replies) = (store.clone(), replies.clone());
    let effects: std::sync::Arc<dyn Effects> = effects.clone();
    Job::new(
        move || {
            store.create_task(&task)?;
            let event = synthorg_core::event::Event::TaskCreated { task_id: task.id, created_by: task.created_by };
            Ok::<_, StoreError>(Done::with(task.id, [event]))
        },
        effects,
        move |answer| replies.send(answer).unwrap(),
    )
}

/// A unit's events are applied after the commit that holds its writes, and never when that
/// commit fails. The commit failure is real: a deferred foreign key, planted in the file by
/// another connection, fails at COMMIT (each write itself succeeded in its savepoint).
#[test]
fn events_are_applied_after_the_commit_and_dropped_when_it_fails() {
    use std::sync::{Arc, mpsc};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap());
    let effects = Arc::new(Recorder { store: store.clone(), seen: Default::default() });
    let (replies, replied) = mpsc::channel();

    // Committed: one event, applied when the task was already visible to readers.
    let kept = new_task("kept");
    submit(&store, evented_job(&store, kept.clone(), &effects, &replies));
    assert_eq!(replied.recv().unwrap().unwrap(), kept.id);
    let seen = effects.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(matches!(seen[0], (synthorg_core::event::Event::TaskCreated { task_id, .. }, true) if task_id == kept.id));

    // Every task insert now plants a dangling deferred reference: the write succeeds, the
    // commit fails.
    let poison = rusqlite::Connection::open(store.path()).unwrap();
    poison
        .execute_batch(
            "CREATE TABLE poison (ref TEXT REFERENCES agents(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER poison_tasks AFTER INSERT ON tasks BEGIN INSERT INTO poison VALUES ('no such agent'); END;",
        )
        .unwrap();
    let lost: Vec<Task> = (0..3).map(|i| new_task(&format!("lost {i}"))).collect();
    for task in &lost {
        submit(&store, evented_job(&store, task.clone(), &effects, &replies));
    }
    for _ in &lost {
        let error = replied.recv().unwrap().unwrap_err();
        assert!(error.to_string().contains("commit failed"), "{error}");
    }
    // The same on a thread of the caller's (the path of stores without a writer thread).
    let here = new_task("lost here");
    evented_job(&store, here.clone(), &effects, &replies).run_here();
    assert!(replied.recv().unwrap().unwrap_err().to_string().contains("FOREIGN KEY"));
    assert_eq!(effects.seen.lock().unwrap().len(), 1, "an event of a rolled-back write was applied");
    for task in lost.iter().chain([&here]) {
        assert!(store.get_task(task.id).is_err(), "a task whose commit failed is there");
    }

    // The store serves on once the cause is gone.
    poison.execute_batch("DROP TRIGGER poison_tasks; DROP TABLE poison;").unwrap();
    let after = new_task("after");
    submit(&store, evented_job(&store, after.clone(), &effects, &replies));
    assert_eq!(replied.recv().unwrap().unwrap(), after.id);
    assert_eq!(effects.seen.lock().unwrap().len(), 2);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Jobs on the writer thread and writes from other threads share groups safely: every
/// write is acknowledged once, committed, and there after a reopen.
#[test]
fn writer_thread_jobs_and_direct_writes_mix() {
    use std::sync::{Arc, mpsc};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap());
    let (reports, reported) = mpsc::channel::<JobReport>();
    let mut expected = Vec::new();
    std::thread::scope(|scope| {
        let mut submitters = Vec::new();
        for t in 0..4 {
            let (store, reports) = (&store, &reports);
            submitters.push(scope.spawn(move || {
                (0..100)
                    .map(|i| {
                        let task = new_task(&format!("job {t}/{i}"));
                        submit(store, create_job(store, task.clone(), reports, || ()));
                        task.id
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let direct: Vec<_> = (0..2)
            .map(|t| {
                let store = &store;
                scope.spawn(move || {
                    (0..100).map(|i| add_task(&**store, &format!("direct {t}/{i}")).id).collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in submitters.into_iter().chain(direct) {
            expected.extend(handle.join().unwrap());
        }
    });
    let answers: Vec<JobReport> = (0..400).map(|_| reported.recv().unwrap()).collect();
    assert!(answers.iter().all(|(_, written, committed, visible)| written.is_ok() && committed.is_ok() && *visible));
    drop(store);
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    assert_eq!(expected.len(), 600);
    for id in &expected {
        store.get_task(*id).unwrap();
    }
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Under sustained writes the WAL stays bounded: background PASSIVE checkpoints alone never
/// let SQLite start the WAL over while writes keep coming, so the writer restarts it between
/// commits when the checkpointer asks. Here the WAL wraps at least twice (over 128 MiB
/// written) while its file never passes 96 MiB.
#[test]
fn the_wal_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    let wal = dir.path().join(format!("{}-wal", synthorg_store::sqlite::DB_FILE));
    let description = "x".repeat(4000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut largest = 0;
    let mut written = 0;
    while store.writer_stats().unwrap().wal_restarts < 2 {
        assert!(std::time::Instant::now() < deadline, "the WAL was never restarted ({written} writes)");
        let task = NewTask { title: format!("t{written}"), description: description.clone(), ..Default::default() }
            .into_task(&admin(), now())
            .unwrap();
        store.create_task(&task).unwrap();
        written += 1;
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    assert!(largest <= 96 * 1024 * 1024, "the WAL file reached {largest} bytes");
    assert!(store.integrity_check().unwrap().is_empty());
}

/// A reader that stays on old frames (a backup, say) defers the WAL restart without failing
/// or blocking writes; once it ends, the WAL is restarted.
#[test]
fn a_long_reader_defers_the_wal_restart_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    let wal = dir.path().join(format!("{}-wal", synthorg_store::sqlite::DB_FILE));
    let reader = rusqlite::Connection::open(store.path()).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader.query_row("SELECT count(*) FROM tasks", [], |r| r.get(0)).unwrap();
    let description = "x".repeat(4000);
    let write = |i: usize| {
        let task = NewTask { title: format!("t{i}"), description: description.clone(), ..Default::default() }
            .into_task(&admin(), now())
            .unwrap();
        store.create_task(&task).unwrap();
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut i = 0;
    while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) < 100 * 1024 * 1024 {
        assert!(std::time::Instant::now() < deadline, "the WAL did not grow past 100 MiB");
        write(i);
        i += 1;
    }
    assert_eq!(store.writer_stats().unwrap().wal_restarts, 0, "restarted under a reader on old frames");
    reader.execute_batch("COMMIT").unwrap();
    while store.writer_stats().unwrap().wal_restarts == 0 {
        assert!(std::time::Instant::now() < deadline, "the WAL was not restarted after the reader ended");
        write(i);
        i += 1;
    }
    assert!(store.integrity_check().unwrap().is_empty());
}

/// The data directory is created owner-only (0700), the database and its WAL files 0600; an
/// existing looser directory or file is named with the chmod that closes it, and still opens.
#[test]
fn the_data_directory_and_the_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested").join("data");
    let store = SqliteStore::open_dir(&data, &SqliteOptions::default()).unwrap();
    add_task(&store, "makes the WAL");
    let db = data.join(synthorg_store::sqlite::DB_FILE);
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(&db.with_file_name(format!("{}{suffix}", synthorg_store::sqlite::DB_FILE))), 0o600, "{suffix}");
    }
    assert_eq!(synthorg_store::sqlite::loose_permissions(&data), Vec::<String>::new());
    drop(store);

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let problems = synthorg_store::sqlite::loose_permissions(&data);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("mode 755") && problems[0].contains("chmod 700"), "{problems:?}");
    assert!(problems[1].contains("mode 644") && problems[1].contains("chmod 600"), "{problems:?}");
    let reopened = SqliteStore::open_dir(&data, &SqliteOptions::default()).unwrap();
    assert!(reopened.integrity_check().unwrap().is_empty());
}
