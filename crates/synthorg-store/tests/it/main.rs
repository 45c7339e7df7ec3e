//! Store tests against real SQLite files in temporary directories.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod aggregates;
mod entities;

use synthorg_core::Actor;
use synthorg_core::agent::{Agent, NewAgent};
use synthorg_core::task::{NewTask, Task, TaskStatus, TransitionRequest};
use synthorg_store::{SqliteOptions, SqliteStore, Store, now};
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
