//! Test support: a PostgreSQL schema of its own for each test, so that the store and API
//! suites run against PostgreSQL in parallel whenever `SYNTHORG_TEST_PG_URL` names a
//! database. Not used by the server.

use crate::{PostgresOptions, PostgresStore, StoreError};

/// The variable naming the tests' PostgreSQL database, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const PG_URL_VAR: &str = "SYNTHORG_TEST_PG_URL";

/// The tests' PostgreSQL database; `None` (and a note on stderr) when not configured.
pub fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped on PostgreSQL: {PG_URL_VAR} is not set");
            None
        }
    }
}

/// A schema of its own in the test database, dropped with everything in it at the end.
#[derive(Debug)]
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    /// A new, empty schema; `None` when no test database is configured.
    pub fn new() -> Option<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let url = pg_url()?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut name = format!("test_{}_{n}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        name.truncate(63);
        Some(Self { url, name })
    }

    /// The options of a store on this schema.
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions { schema: Some(self.name.clone()), pool_size: 8, ..Default::default() }
    }

    /// A store on this schema; a second one is what another replica sees.
    pub fn open(&self) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect(&self.url, &self.options())
    }

    /// Runs SQL on the schema directly (to break things on purpose).
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls)?;
        client.batch_execute(&format!("SET search_path TO {}; {sql}", self.name))?;
        Ok(())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // On a thread of its own: the client blocks on its own runtime, and a test may drop
        // this inside an async one.
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        });
        let _ = dropper.join();
    }
}
