//! The engine of synthorg: every use case is one operation (SPEC §16).
//!
//! An operation takes the caller ([`synthorg_core::Actor`]) and a request in domain types,
//! decides whether the caller may do it ([`authorize`], the one place), runs its reads and
//! writes as one unit of work on the store, builds the events of what it changed next to
//! the change, and returns its answer. The events reach the [`Effects`] (logs, audit lines,
//! metrics) only once the commit that holds the change succeeded.
//!
//! The doors — the REST API, the model gateway, the tool gateway — only translate their wire
//! format to an operation and back, so the same request through two doors gives the same
//! verdict, records, audit events, metrics and spans.

pub mod authorize;
mod credentials;
mod error;
mod ops;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synthorg_core::budget::BudgetConfig;
use synthorg_core::event::Event;
use synthorg_core::price::Catalogue;
use synthorg_core::security::{RuleEngine, SecurityMode, SecurityPolicy};
use synthorg_store::{Done, Effects, Job, Store};
use synthorg_telemetry::otlp::{SpanKind, Tracer};

pub use credentials::KEY_FRESH;
pub use error::{EngineError, Failure};
pub use ops::budget::Reserved;
pub use ops::costs::CostReported;
pub use ops::gateway::{CallUsage, HeldCall, ModelCall, OnBudgetShort};
pub use ops::keys::{NewKey, generate_key};
pub use ops::security::Evaluated;
pub use ops::tools::ListedTool;
/// The store's error, for doors that map an operation's failure to their wire format.
pub use synthorg_store::StoreError;

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The budget in force until one is set through the API.
    pub budget_defaults: BudgetConfig,
    pub security_policy: SecurityPolicy,
    /// Whether the rules' verdicts are enforced (`security.mode`).
    pub security_mode: SecurityMode,
    /// The prices cost reports without a cost, and holds without an amount, are priced with.
    pub prices: Arc<Catalogue>,
    /// How long after a call its cost may be reported (`budget.max_report_delay`).
    pub max_report_delay: time::Duration,
    /// The trace exporter's intake, when traces are exported: the operations' spans.
    pub tracer: Option<Tracer>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            budget_defaults: BudgetConfig::default(),
            security_policy: SecurityPolicy::default(),
            security_mode: SecurityMode::Enforce,
            prices: Arc::new(Catalogue::builtin()),
            max_report_delay: synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY,
            tracer: None,
        }
    }
}

/// The engine: the store, the rules and the budget in force, shared by every door.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    rules: RuleEngine,
    settings: EngineSettings,
    effects: Arc<dyn Effects>,
    /// The budget in force as last read, and when: see [`Engine::budget`].
    budget: Mutex<Option<(Instant, BudgetConfig)>>,
    /// Keys that authenticated lately: see [`credentials`].
    credentials: credentials::Credentials,
    /// Woken when an approval's decision is committed: calls waiting on one read it again.
    decided: tokio::sync::Notify,
}

/// The most rows a read runs in place on an in-process store (SQLite). A primary-key read or
/// a page of up to this many rows takes tens to hundreds of microseconds, less than the two
/// thread wake-ups (a futex each way) of a hop to the blocking pool, which dominated the
/// authenticated read path; a larger page (up to 1,000 rows, about a millisecond) would hold
/// up the async worker and every request queued on it, so it takes the hop.
pub const IN_PLACE_ROWS: u32 = 100;

/// How long a budget read from the store is used before it is read again. A change through
/// this process applies at once; one through another replica within this.
const BUDGET_FRESH: Duration = Duration::from_secs(1);

impl Engine {
    /// An engine on `store`, handing the events of committed changes to `effects`.
    pub fn new(store: Arc<dyn Store>, settings: EngineSettings, effects: Arc<dyn Effects>) -> Self {
        let rules = RuleEngine::new(settings.security_policy.clone()).with_mode(settings.security_mode);
        Self {
            inner: Arc::new(Inner {
                store,
                rules,
                settings,
                effects,
                budget: Mutex::new(None),
                credentials: Default::default(),
                decided: tokio::sync::Notify::new(),
            }),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The security rules and their mode.
    pub fn rules(&self) -> &RuleEngine {
        &self.inner.rules
    }

    /// The budget in force: the one set through the API, else the configuration's. Every
    /// admission and evaluation needs it, so it is kept for [`BUDGET_FRESH`] instead of
    /// being read and parsed per request. Blocking on a miss (reads the store).
    pub fn budget(&self) -> Result<BudgetConfig, StoreError> {
        let cached = self.inner.budget.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((at, config)) = cached
            && at.elapsed() < BUDGET_FRESH
        {
            return Ok(config);
        }
        let config = self.store().budget_in_force(&self.settings().budget_defaults)?;
        self.budget_changed(config.clone());
        Ok(config)
    }

    /// Records the budget just committed through this process.
    pub fn budget_changed(&self, config: BudgetConfig) {
        *self.inner.budget.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), config));
    }

    /// Hands events of something that changed nothing stored (an output scan) to the effects.
    pub fn record(&self, events: Vec<Event>) {
        self.inner.effects.apply(events);
    }

    /// Runs `work`, a unit's writes with the reads they depend on, where the store writes
    /// best: on SQLite's writer thread, which commits it with the writes queued beside it
    /// ([`synthorg_store::Execution::submit`]); elsewhere on the blocking pool. Either way the
    /// answer comes only once the writes are durable, and the events `work` returns reach the
    /// effects only then: a write whose commit fails answers its error and leaves no trace.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Failure + Send + 'static,
        F: FnOnce(&Engine) -> Result<Done<T>, E> + Send + 'static,
    {
        let started = std::time::SystemTime::now();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let engine = self.clone();
        let job = Job::new(
            move || work(&engine),
            self.inner.effects.clone(),
            move |result| {
                let _ = answer.send(result);
            },
        );
        if let Err(job) = self.store().submit(job) {
            tokio::task::spawn_blocking(move || job.run_here());
        }
        let result = answered.await.map_err(|_| StoreError::Internal("the write ended without an answer".into()))?;
        // The unit's wait for its writes, committed: a CLIENT span of the database's. A
        // refusal by the domain is an answer, not a failed write. A unit is several
        // statements in one transaction, so it has no one `db.operation.name` or collection:
        // the database conventions then name the span after `db.system.name` alone.
        if let Some(tracer) = &self.settings().tracer {
            let system = self.store().db_system();
            let failed = result.as_ref().err().and_then(Failure::server_failure);
            let mut attributes = vec![("db.system.name", system.into())];
            if let Some((code, _)) = &failed {
                attributes.push(("error.type", (*code).into()));
            }
            let name = system.to_owned();
            tracer.record_child(name, SpanKind::Client, started, attributes, failed.map(|(_, message)| message));
        }
        result
    }

    /// Runs `f` (store calls, rule evaluation) on the blocking pool, in the caller's span.
    pub async fn blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, E> + Send + 'static,
    {
        let engine = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&engine)))
            .await
            .map_err(|e| StoreError::Internal(format!("a blocking read failed: {e}")))?
    }

    /// Runs a read of up to `rows` rows: in place when the store answers in process and the
    /// read is short ([`IN_PLACE_ROWS`]), else on the blocking pool (see [`Engine::read`]).
    pub async fn read_rows<T, E, F>(&self, rows: u32, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, E> + Send + 'static,
    {
        match rows <= IN_PLACE_ROWS {
            true => self.read(f).await,
            false => self.blocking(f).await,
        }
    }

    /// Runs a short read: in place when the store answers in-process in microseconds
    /// (cheaper than two thread wake-ups), else on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, E> + Send + 'static,
    {
        match self.store().reads_in_process() {
            true => f(self),
            false => self.blocking(f).await,
        }
    }
}
