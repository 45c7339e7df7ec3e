//! API tests: the real router in-process (`tower::ServiceExt::oneshot`) on a real SQLite file
//! and, for the tests wrapped in `on_both_stores!` whenever `SYNTHORG_TEST_PG_URL` names a
//! database, on a PostgreSQL schema of their own.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod audit;
mod auth;
mod authorization;
mod bad_input;
mod doors;
mod flows;
mod metrics;
mod openapi;
mod prices;
mod reservations;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use synthorg_api::ApiSettings;
use synthorg_core::Role;
use synthorg_store::testing::PgSchema;
use synthorg_store::{SqliteOptions, SqliteStore, Store, now};
use tower::ServiceExt;
use uuid::Uuid;

/// Wraps an async test so that it runs twice: on SQLite, and on PostgreSQL when a test
/// database is configured (the test's `TestApp`s then open PostgreSQL schemas).
#[macro_export]
macro_rules! on_both_stores {
    (async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn sqlite() $body
            #[tokio::test]
            #[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
            async fn postgres() {
                assert!($crate::Backend::Postgres.select(), "SYNTHORG_TEST_PG_URL names the test database");
                $body
            }
        }
    };
}

/// Which store the `TestApp`s of the current test thread open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Sqlite) };
}

impl Backend {
    /// Makes this the backend of the thread's next apps; false when PostgreSQL is asked for
    /// and no test database is configured.
    pub fn select(self) -> bool {
        if self == Backend::Postgres && synthorg_store::testing::pg_url().is_none() {
            return false;
        }
        BACKEND.with(|b| b.set(self));
        true
    }
}

/// Runs a blocking store call off the async test thread (a PostgreSQL client blocks on a
/// runtime of its own, which may not run inside the test's).
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

/// What keeps a test store alive.
#[derive(Debug)]
pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

/// A running app on a fresh store, with an admin key.
#[derive(Debug)]
pub struct TestApp {
    pub backing: Backing,
    pub store: Arc<dyn Store>,
    pub router: Router,
    /// The engine behind the router: the door-agnostic operations another door would call.
    pub engine: synthorg_engine::Engine,
    pub admin: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error message of an error reply.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::with_settings(ApiSettings::default())
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::default()
    }

    /// An app on the store of the thread's backend (SQLite unless `on_both_stores!` chose).
    pub fn with_settings(settings: ApiSettings) -> Self {
        let (backing, store): (Backing, Arc<dyn Store>) = match BACKEND.with(|b| b.get()) {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = Arc::new(SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap());
                (Backing::Sqlite(dir), store)
            }
            Backend::Postgres => {
                let schema = PgSchema::new().unwrap();
                let store = blocking(|| Arc::new(schema.open().unwrap()));
                (Backing::Postgres(schema), store)
            }
        };
        let admin = Self::key_in(store.as_ref(), Role::Admin, None);
        let (router, engine) = synthorg_api::app_and_engine(store.clone(), settings);
        Self { backing, store, router, engine, admin }
    }

    /// The SQLite file of an app on SQLite (for tests that break it on purpose).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        match &self.backing {
            Backing::Sqlite(dir) => dir.path().join(synthorg_store::sqlite::DB_FILE),
            Backing::Postgres(_) => panic!("this test runs on SQLite only"),
        }
    }

    pub fn key_in(store: &dyn Store, role: Role, agent: Option<Uuid>) -> String {
        let new = synthorg_api::auth::generate_key(role, agent, "test".into(), now()).unwrap();
        blocking(|| store.create_api_key(&new.record, &synthorg_core::audit::AuditContext::system()).unwrap());
        new.key
    }

    pub fn key(&self, role: Role, agent: Option<Uuid>) -> String {
        Self::key_in(self.store.as_ref(), role, agent)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, key, bytes, "application/json").await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", content_type).body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&self.admin), Some(body)).await
    }

    /// Registers an agent and returns its id.
    pub async fn agent(&self, name: &str) -> Uuid {
        let r = self.post("/api/v1/agents", json!({"name": name, "role": "developer"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        id(&r.body)
    }

    /// Creates a task and returns its id.
    pub async fn task(&self, title: &str) -> Uuid {
        let r = self.post("/api/v1/tasks", json!({"title": title})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        id(&r.body)
    }

    pub async fn transition(&self, task: Uuid, body: Value) -> Reply {
        self.post(&format!("/api/v1/tasks/{task}/transitions"), body).await
    }

    /// Number of items of a list endpoint (first page of up to 1000).
    pub async fn count(&self, path: &str) -> usize {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = self.get(&format!("{path}{sep}limit=1000")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["items"].as_array().unwrap().len()
    }
}

pub fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}
