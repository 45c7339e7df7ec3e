//! Store tests against real SQLite files in temporary directories.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod aggregates;
mod entities;

use synthorg_core::Actor;
use synthorg_core::agent::{Agent, NewAgent};
use synthorg_core::task::{NewTask, Task, TaskStatus, TransitionRequest};
use synthorg_store::{PageRequest, SqliteOptions, SqliteStore, Store, now};
use uuid::Uuid;

pub fn admin() -> Actor {
    Actor::Admin { key_id: "test".into() }
}

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    (dir, store)
}

pub fn add_agent(store: &SqliteStore, name: &str) -> Agent {
    let agent = NewAgent { name: name.into(), role: "developer".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .unwrap();
    store.create_agent(&agent).unwrap();
    agent
}

pub fn add_task(store: &SqliteStore, title: &str) -> Task {
    let task = NewTask { title: title.into(), ..Default::default() }.into_task(&admin(), now()).unwrap();
    store.create_task(&task).unwrap();
    task
}

pub fn move_task(store: &SqliteStore, id: Uuid, to: TaskStatus, assignee: Option<Uuid>) -> Task {
    let request = TransitionRequest { to, assigned_to: assignee, expected_version: None, reason: None };
    store.transition_task(id, &request, &admin(), now()).unwrap().0
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
                    match store.transition_task(task.id, &request, &admin(), now()) {
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
