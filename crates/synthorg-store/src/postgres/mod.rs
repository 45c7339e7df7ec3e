//! The PostgreSQL store: the shared database behind several synthorg replicas.
//!
//! It implements the same [`crate::Store`] contract as the SQLite store with PostgreSQL's own
//! guarantees: each write is one transaction at READ COMMITTED, optimistic versions are
//! guarded in the `UPDATE` itself, idempotency keys are `UNIQUE`, and the aggregates the
//! metrics read are kept by triggers (see `migrations/postgres/`).
//!
//! Connections come from a small pool of synchronous clients. The pool fails fast: when the
//! database cannot be reached a call answers [`StoreError::Unavailable`] at once instead of
//! waiting for a connection that will not come, and a broken connection empties the pool so
//! that the stale connections of a restarted server are not tried one request at a time.
//! A write that loses a deadlock or a serialization check is retried from the start.

mod agents;
mod aggregates;
mod audit;
mod keys;
mod ledger;
mod pool;
mod reservations;
mod security;
mod tasks;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{GenericClient, Row, Statement};
use synthorg_core::DomainError;

use crate::schema::{Cell, Insert, InsertStatement, Kind, Param, Where, pg_type};
use crate::{Page, PageRequest, StoreError};
use pool::{Pool, Pooled};

/// Migrations in order; `synthorg_migrations` records which are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_prices.sql"),
    include_str!("../../migrations/postgres/0003_agent_name_key.sql"),
    include_str!("../../migrations/postgres/0004_reservations.sql"),
    include_str!("../../migrations/postgres/0005_audit.sql"),
    include_str!("../../migrations/postgres/0006_day_totals.sql"),
    include_str!("../../migrations/postgres/0007_verdict_counts.sql"),
    include_str!("../../migrations/postgres/0008_metered_costs.sql"),
    include_str!("../../migrations/postgres/0009_call_rates.sql"),
];

/// How often a write that lost a deadlock or serialization check is tried again.
const MAX_RETRIES: u32 = 8;

/// Settings of the PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Most connections this process opens.
    pub pool_size: usize,
    /// Longest wait for a new connection.
    pub connect_timeout: Duration,
    /// Longest a request waits for a free connection when all are in use.
    pub acquire_timeout: Duration,
    /// Server-side limit of one statement.
    pub statement_timeout: Duration,
    /// Schema of synthorg's tables (created when missing); `None`: the server's search path.
    pub schema: Option<String>,
    /// Extra CA certificates (PEM) trusted for `sslmode=require`, besides the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            schema: None,
            ca_pem: None,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("schema", &self.schema)
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| format!("{} bytes", pem.len())))
            .finish()
    }
}

/// True when `name` can be a schema name without quoting troubles: lower-case letters,
/// digits and `_`, not starting with a digit, at most 63 bytes.
pub fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

/// Why a database URL is refused. The message never repeats the URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid PostgreSQL URL: {0}")]
    Invalid(String),
    #[error("names no host")]
    NoHost,
}

/// Checks a database URL without connecting.
pub fn check_url(url: &str) -> Result<(), UrlError> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<postgres::Config, UrlError> {
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| UrlError::Invalid(e.to_string()))?;
    if config.get_hosts().is_empty() {
        return Err(UrlError::NoHost);
    }
    Ok(config)
}

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db?…`), creates
    /// the schema when one is named, and applies pending migrations (one replica at a time).
    pub fn connect(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut config = parse_url(url).map_err(|e| StoreError::Unavailable(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("synthorg");
        }
        let mut setup = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = 60000;",
            options.statement_timeout.as_millis().max(1)
        );
        if let Some(schema) = &options.schema {
            if !valid_schema_name(schema) {
                return Err(StoreError::Unavailable(format!(
                    "invalid schema name {schema:?}: use lower-case letters, digits and _"
                )));
            }
            setup.push_str(&format!(" SET search_path TO {schema};"));
        }
        // TLS only when asked for: `prefer` (the default) would otherwise fail against the
        // self-signed certificates many servers ship with, since rustls always verifies.
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Require => Some(
                tls::MakeRustls::new(options.ca_pem.as_deref())
                    .map_err(|e| StoreError::Unavailable(format!("database TLS: {e}")))?,
            ),
            _ => None,
        };
        let pool = Pool::new(config, tls, setup, options.pool_size.max(1), options.acquire_timeout);
        let store = Self { pool };
        if let Some(schema) = &options.schema {
            // Under a lock: two replicas' first starts must not race to create it.
            store.write(|db| {
                Ok(db.client.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock(hashtext('synthorg-schema')); CREATE SCHEMA IF NOT EXISTS {schema}"
                ))?)
            })?;
        }
        store.migrate()?;
        Ok(store)
    }

    /// Applies pending migrations in one transaction, under an advisory lock of the schema so
    /// that replicas starting together do not race.
    fn migrate(&self) -> Result<(), StoreError> {
        let applied = self.write(|db| {
            db.client.batch_execute(
                "SELECT pg_advisory_xact_lock(hashtext('synthorg-migrate:' || current_schema())); \
                 CREATE TABLE IF NOT EXISTS synthorg_migrations \
                 (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )?;
            let current: i32 =
                db.client.query_one("SELECT COALESCE(MAX(version), 0) FROM synthorg_migrations", &[])?.try_get(0)?;
            let current = current.max(0) as usize;
            if current > MIGRATIONS.len() {
                return Err(StoreError::Unavailable(format!(
                    "the database is at schema version {current}, newer than this synthorg ({}); upgrade synthorg",
                    MIGRATIONS.len()
                )));
            }
            let mut applied = Vec::new();
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                let version = (i + 1) as i32;
                db.client
                    .batch_execute(sql)
                    .map_err(|e| StoreError::Internal(format!("migration {version} failed: {e}")))?;
                db.client.execute("INSERT INTO synthorg_migrations (version) VALUES ($1)", &[&version])?;
                applied.push(version);
            }
            Ok(applied)
        })?;
        for version in applied {
            tracing::info!(version, "applied store migration");
        }
        self.fill_name_keys()
    }

    /// Gives agents written before name keys existed their key (schema version 3); an agent
    /// whose key another already holds keeps none and is named in a warning.
    fn fill_name_keys(&self) -> Result<(), StoreError> {
        let missing: Vec<(uuid::Uuid, String)> = self.read(|db| {
            db.query("SELECT id, name FROM agents WHERE name_key IS NULL ORDER BY seq", &[])?
                .iter()
                .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
                .collect()
        })?;
        for (id, name) in missing {
            let key = crate::agents::name_key(&name);
            let filled = self.write(|db| {
                db.execute(
                    "UPDATE agents SET name_key = $1 WHERE id = $2 AND name_key IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM agents WHERE name_key = $1)",
                    &[&key, &id],
                )
            })?;
            if filled == 0 {
                tracing::warn!(agent_id = %id, name = %name,
                    "agent name differs only in case or width from another's; new agents cannot take either");
            }
        }
        Ok(())
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction: for reads.
    fn read<T>(&self, f: impl FnMut(&mut Db<'_, postgres::Client>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.autocommit(f)
    }

    /// Runs `f` outside any explicit transaction, each statement committing on its own: for
    /// reads, and for writes that are one statement (the statement is the transaction, which
    /// saves the round trips of BEGIN and COMMIT). Retried like [`Self::write`].
    fn autocommit<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_, postgres::Client>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.retrying(|conn, outcome| {
            let (client, statements) = conn.parts();
            f(&mut Db { client, statements, outcome })
        })
    }

    /// Runs `f` in one transaction and commits it. When the database chose this transaction
    /// as the victim of a deadlock or serialization conflict, it is rolled back and `f` runs
    /// again from the start (it reads the state it changes anew each time).
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut Db<'_, postgres::Transaction<'_>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.retrying(|conn, outcome| {
            let (client, statements) = conn.parts();
            let mut tx = client.transaction().map_err(|e| outcome.classify(e))?;
            // On an error, dropping the transaction rolls it back.
            let value = f(&mut Db { client: &mut tx, statements, outcome })?;
            tx.commit().map_err(|e| outcome.classify(e))?;
            Ok(value)
        })
    }

    /// Runs `attempt` on a pooled connection, again (on a new connection) while the database
    /// reports a deadlock or serialization conflict, at most [`MAX_RETRIES`] times.
    fn retrying<T>(
        &self,
        mut attempt: impl FnMut(&mut Pooled<'_>, &mut Outcome) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut retries = 0;
        loop {
            let mut conn = self.pool.get()?;
            let mut outcome = Outcome::default();
            let result = attempt(&mut conn, &mut outcome);
            self.settle(&mut conn, &outcome);
            match result {
                Err(_) if outcome.retry && retries < MAX_RETRIES => {
                    retries += 1;
                    // A short random pause lets the winner of the conflict commit first.
                    std::thread::sleep(Duration::from_micros(200 * u64::from(retries) + random_micros(500)));
                }
                result => return result,
            }
        }
    }

    /// Returns the connection to the pool, or throws it and the idle ones away when the
    /// server closed it (a restart closes them all).
    fn settle(&self, conn: &mut Pooled<'_>, outcome: &Outcome) {
        if outcome.broken || conn.is_closed() {
            conn.discard();
            self.pool.discard_idle();
        }
    }
}

/// What went wrong on a connection during one call.
#[derive(Debug, Default)]
struct Outcome {
    /// The database rolled the transaction back to break a deadlock or a serialization
    /// conflict: trying again may succeed.
    retry: bool,
    /// The connection is gone (server restarted, network cut).
    broken: bool,
}

impl Outcome {
    /// Maps a client error to a store error and notes whether it calls for a retry or a
    /// new connection.
    fn classify(&mut self, error: postgres::Error) -> StoreError {
        let Some(db) = error.as_db_error() else {
            // No answer from the server: the connection is closed or the network failed.
            self.broken = true;
            return StoreError::Unavailable(format!("database connection failed: {error}"));
        };
        let code = db.code().code();
        match code {
            // serialization_failure, deadlock_detected
            "40001" | "40P01" => {
                self.retry = true;
                StoreError::Unavailable(format!("database conflict persisted after retries: {}", db.message()))
            }
            // unique_violation: a concurrent writer took the name or key first.
            "23505" => StoreError::Domain(DomainError::Conflict(db.detail().unwrap_or(db.message()).to_owned())),
            // foreign_key_violation: a referenced row is gone.
            "23503" => StoreError::Domain(DomainError::Conflict(db.detail().unwrap_or(db.message()).to_owned())),
            _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") => {
                // Connection exceptions, insufficient resources, shutdown or start-up.
                if code.starts_with("08") || code.starts_with("57P") {
                    self.broken = true;
                }
                StoreError::Unavailable(format!("database unavailable: {}", db.message()))
            }
            // query_canceled (statement_timeout), lock_not_available
            "57014" | "55P03" => StoreError::Unavailable(format!("database busy: {}", db.message())),
            _ => StoreError::Internal(format!("database error {code}: {}", db.message())),
        }
    }
}

fn random_micros(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(max);
    h.finish() % max.max(1)
}

/// A connection (or a transaction on it) with the connection's prepared statements: each
/// distinct SQL text is parsed once per connection, so a query is one round trip.
pub(crate) struct Db<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
    outcome: &'a mut Outcome,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

/// Most statements kept per connection; past it the cache starts again.
const STATEMENT_CACHE: usize = 256;

impl<C: GenericClient> Db<'_, C> {
    fn prepared(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(|e| self.outcome.classify(e))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, params).map_err(|e| self.outcome.classify(e))
    }

    pub(crate) fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, params).map_err(|e| self.outcome.classify(e))
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row, StoreError> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, params).map_err(|e| self.outcome.classify(e))
    }

    pub(crate) fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, params).map_err(|e| self.outcome.classify(e))
    }

    /// Runs `sql` (one of `statement`'s forms, with any clause after it) with its values.
    pub(crate) fn execute_statement(
        &mut self,
        sql: &str,
        statement: &InsertStatement<Box<dyn ToSql + Sync>>,
    ) -> Result<u64, StoreError> {
        let params: Vec<&(dyn ToSql + Sync)> = statement.values.iter().map(|p| p.as_ref()).collect();
        self.execute(sql, &params)
    }

    /// Inserts `row`.
    pub(crate) fn insert(&mut self, row: Insert) -> Result<u64, StoreError> {
        let statement = statement(row)?;
        self.execute_statement(&statement.values_sql(), &statement)
    }
}

impl From<postgres::Error> for StoreError {
    /// Errors outside a [`Db`] call (migrations, schema set-up).
    fn from(error: postgres::Error) -> Self {
        Outcome::default().classify(error)
    }
}

// Conversions between columns and domain values.

/// Reads column `i`; a column of an unexpected type is an internal error, never a panic.
pub(crate) fn col<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(|e| StoreError::Internal(format!("stored column {i}: {e}")))
}

/// Parses a stored enum spelling in column `i`.
pub(crate) fn enum_col<T>(row: &Row, i: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    let text: &str = col(row, i)?;
    parse(text).ok_or_else(|| StoreError::Internal(format!("unknown stored value {text:?}")))
}

/// A JSON column in `i`.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &Row, i: usize) -> Result<T, StoreError> {
    let postgres::types::Json(value) = col::<postgres::types::Json<T>>(row, i)?;
    Ok(value)
}

/// A non-negative count in column `i`.
pub(crate) fn count_col(row: &Row, i: usize) -> Result<u64, StoreError> {
    Ok(col::<i64>(row, i)?.max(0) as u64)
}

/// A column value as PostgreSQL binds it; a NULL typed as its column is.
fn pg_value(kind: Kind, cell: Cell) -> Box<dyn ToSql + Sync> {
    match cell {
        Cell::Null => match kind {
            Kind::Text => Box::new(None::<String>),
            Kind::Uuid => Box::new(None::<uuid::Uuid>),
            Kind::Micros => Box::new(None::<time::OffsetDateTime>),
            Kind::Int => Box::new(None::<i64>),
            Kind::Bool => Box::new(None::<bool>),
            Kind::Real => Box::new(None::<f64>),
            Kind::Json => Box::new(None::<postgres::types::Json<serde_json::Value>>),
            Kind::Blob => Box::new(None::<Vec<u8>>),
        },
        Cell::Text(text) => Box::new(text),
        Cell::Uuid(id) => Box::new(id),
        Cell::Time(at) => Box::new(at),
        Cell::Int(n) => Box::new(n),
        Cell::Bool(b) => Box::new(b),
        Cell::Real(x) => Box::new(x),
        Cell::Json(json) => Box::new(postgres::types::Json(json)),
        Cell::Blob(bytes) => Box::new(bytes),
    }
}

/// `row` (one of [`crate::rows`]) as a statement whose parameters carry their declared types
/// (`$2::UUID`), so that it serves the `VALUES` form and the `SELECT … WHERE` form alike.
pub(crate) fn statement(row: Insert) -> Result<InsertStatement<Box<dyn ToSql + Sync>>, StoreError> {
    row.build(|n, kind| format!("${n}::{}", pg_type(kind)), pg_value)
}

/// The lists' WHERE clauses, with `$n` parameters.
pub(crate) type Filter = Where<Box<dyn ToSql + Sync>>;

impl<T: ToSql + Sync + 'static> Param<Box<dyn ToSql + Sync>> for T {
    fn into_param(self) -> Box<dyn ToSql + Sync> {
        Box::new(self)
    }
}

impl Default for Filter {
    fn default() -> Self {
        Where::new(|n| format!("${n}"))
    }
}

impl Filter {
    /// Runs the page query (see [`Where::page_query`]) and maps its rows.
    pub(crate) fn page<T, C: GenericClient>(
        &mut self,
        db: &mut Db<'_, C>,
        table: &str,
        columns: &str,
        page: &PageRequest,
        map: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let (sql, params) = self.page_query(table, columns, page);
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = db
            .query(&sql, &params)?
            .iter()
            .map(|row| Ok((col::<i64>(row, 0)?, map(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(crate::page::page_of(rows, page))
    }
}

impl crate::Store for PostgresStore {}

impl crate::Execution for PostgresStore {
    /// The ping of readiness: a round trip to the database.
    fn ping(&self) -> Result<(), StoreError> {
        self.read(|db| db.query_one("SELECT 1", &[]).map(|_| ()))
    }

    fn reads_in_process(&self) -> bool {
        false
    }

    fn db_system(&self) -> &'static str {
        "postgresql"
    }

    /// No writer thread: every write is a transaction (mostly one statement) of its own on a
    /// pooled connection, and replicas write side by side.
    fn submit(&self, job: crate::Job) -> Result<(), crate::Job> {
        Err(job)
    }

    fn writer_stats(&self) -> Option<crate::WriterStats> {
        None
    }
}
