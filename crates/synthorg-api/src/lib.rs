//! HTTP API of synthorg: the axum router under `/api/v1`, its handlers, authentication and
//! the wire types (DTOs).
//!
//! Handlers are thin: extract, call the domain or the store, map to a response. The store is
//! synchronous: reads run on tokio's blocking pool ([`AppState::blocking`]), writes on the
//! store's writer thread when it has one ([`AppState::write`]).

pub mod auth;
pub mod console;
pub mod dto;
pub mod effects;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
mod openapi;
pub mod ratelimit;
mod routes;
mod sweep;
pub use sweep::log_audit_head;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use synthorg_core::budget::BudgetConfig;
use synthorg_core::price::Catalogue;
use synthorg_core::security::{RuleEngine, SecurityPolicy};
use synthorg_store::{Done, Effects, Job, Store, StoreError};
use synthorg_telemetry::otlp::SpanKind;

pub use auth::ExcludePaths;
pub use effects::ApiEffects;
pub use error::ApiError;
pub use extract::BODY_LIMIT;
pub use metrics::{MetricsCollector, MetricsSettings};

/// What the API needs from the configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub exclude_paths: ExcludePaths,
    /// A request that takes longer is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// The budget in force until one is set through `PUT /api/v1/budget/config`.
    pub budget_defaults: BudgetConfig,
    pub security_policy: SecurityPolicy,
    /// Whether the rules' verdicts are enforced (`security.mode`).
    pub security_mode: synthorg_core::security::SecurityMode,
    /// The prices cost reports without `cost` are computed with.
    pub prices: Arc<Catalogue>,
    /// How long after a call its cost may be reported (`budget.max_report_delay`).
    pub max_report_delay: time::Duration,
    /// Requests per second and burst per key, by role.
    pub rate_limits: ratelimit::RateLimits,
    /// `None`: the metrics endpoint answers 503 (no collector wired).
    pub metrics: Option<MetricsSettings>,
    /// The running OTLP exporters (one per signal): their counters are exposed with the
    /// metrics.
    pub otlp: Vec<synthorg_telemetry::otlp::ExporterHandle>,
    /// The trace exporter's intake, when traces are exported: one SERVER span per request.
    pub tracer: Option<synthorg_telemetry::otlp::Tracer>,
    /// The metric exporter's reader, when metrics are pushed: it reads the `/metrics`
    /// catalogue on its interval.
    pub meter: Option<synthorg_telemetry::otlp::Meter>,
    /// Request lines below 5xx at debug instead of info (`serve --demo`, whose simulation
    /// would otherwise fill the console with them).
    pub quiet_requests: bool,
    /// The one-time console sign-in `serve --demo` prints, when there is one.
    pub console_sign_in: Option<Arc<console::OneTimeSignIn>>,
    /// How often expired reservations are closed (and counted, and logged). Admission
    /// ignores an expired hold at once; the sweep only closes its record.
    pub sweep_interval: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            exclude_paths: ExcludePaths::default(),
            request_timeout: Duration::from_secs(30),
            budget_defaults: BudgetConfig::default(),
            security_policy: SecurityPolicy::default(),
            security_mode: synthorg_core::security::SecurityMode::Enforce,
            prices: Arc::new(Catalogue::builtin()),
            max_report_delay: synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY,
            rate_limits: ratelimit::RateLimits::default(),
            metrics: Some(MetricsSettings::default()),
            otlp: Vec::new(),
            tracer: None,
            meter: None,
            quiet_requests: false,
            console_sign_in: None,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    engine: RuleEngine,
    settings: ApiSettings,
    openapi_json: String,
    metrics: Option<Arc<MetricsCollector>>,
    effects: Arc<ApiEffects>,
    limiter: ratelimit::Limiter,
    /// The budget in force as last read, and when: see [`AppState::budget`].
    budget: std::sync::Mutex<Option<(std::time::Instant, BudgetConfig)>>,
}

/// How long a budget read from the store is used before it is read again. A change through
/// this process applies at once; one through another replica within this.
const BUDGET_FRESH: Duration = Duration::from_secs(1);

impl AppState {
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    /// The budget in force: the one set through the API, else the configuration file's.
    /// Every admission and evaluation needs it, so it is kept for [`BUDGET_FRESH`] instead
    /// of being read and parsed per request. Blocking on a cache miss (reads the store).
    pub fn budget(&self) -> Result<BudgetConfig, StoreError> {
        let cached = self.inner.budget.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((at, config)) = cached
            && at.elapsed() < BUDGET_FRESH
        {
            return Ok(config);
        }
        let config = self.store().budget_config()?.unwrap_or_else(|| self.settings().budget_defaults.clone());
        self.budget_changed(config.clone());
        Ok(config)
    }

    /// The burn rates over the last hour and 24 hours as this process measures them (for
    /// `/metrics` too); `None` without a metrics collector or without enough history.
    /// Blocking: reads the ledger's total.
    pub fn burn_rates(&self, at: time::OffsetDateTime) -> Result<(Option<f64>, Option<f64>), StoreError> {
        match self.metrics() {
            Some(metrics) => Ok(metrics.burn_rates(at, self.store().total_cost()?)),
            None => Ok((None, None)),
        }
    }

    /// Records the budget just committed through this process.
    pub(crate) fn budget_changed(&self, config: BudgetConfig) {
        *self.inner.budget.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), config));
    }

    pub fn engine(&self) -> &RuleEngine {
        &self.inner.engine
    }

    /// Every key's request-rate bucket.
    pub fn limiter(&self) -> &ratelimit::Limiter {
        &self.inner.limiter
    }

    /// The metrics collector, when wired.
    pub fn metrics(&self) -> Option<&Arc<MetricsCollector>> {
        self.inner.metrics.as_ref()
    }

    /// Runs `f` (store calls, rule evaluation) on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        // The blocking thread continues the request's span, so its events keep their ids.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&state))).await.map_err(ApiError::internal)?
    }

    /// Runs `work`, a request's writes with the reads they depend on, where the store writes
    /// best: on SQLite's writer thread, which commits it with the writes queued beside it
    /// ([`synthorg_store::Execution::submit`]); elsewhere on the blocking pool. Either way the answer comes only
    /// once the writes are durable, and the events `work` returns are logged and counted only
    /// then: a write whose commit fails answers its error and leaves no trace.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<Done<T>, ApiError> + Send + 'static,
    {
        let started = std::time::SystemTime::now();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let state = self.clone();
        let effects: Arc<dyn Effects> = self.inner.effects.clone();
        let job = Job::new(
            move || work(&state),
            effects,
            move |result| {
                let _ = answer.send(result);
            },
        );
        if let Err(job) = self.store().submit(job) {
            tokio::task::spawn_blocking(move || job.run_here());
        }
        let result = answered.await.map_err(|_| ApiError::internal("the write ended without an answer"))?;
        // The request's wait for its writes, committed: a CLIENT span of the database's. A
        // refusal by the domain (a 4xx) is an answer, not a failed write.
        if let Some(tracer) = &self.settings().tracer {
            let system = self.store().db_system();
            let failed = result.as_ref().err().filter(|e| e.status.is_server_error());
            let mut attributes = vec![("db.system.name", system.into())];
            if let Some(e) = failed {
                attributes.push(("error.type", e.code.into()));
            }
            let name = format!("write {system}");
            tracer.record_child(name, SpanKind::Client, started, attributes, failed.map(|e| e.message.clone()));
        }
        result
    }

    /// Logs and counts events of something that changed nothing stored (an output scan).
    /// Runs a short read: on the async worker when the store answers in-process in
    /// microseconds (cheaper than two thread wake-ups), else on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        match self.store().reads_in_process() {
            true => f(self),
            false => self.blocking(f).await,
        }
    }

    pub fn record(&self, events: Vec<synthorg_core::event::Event>) {
        self.inner.effects.apply(events);
    }
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::served(routes::api_router().split_for_parts().1)
}

/// Builds the complete application: routes, authentication, body limit, timeouts, JSON
/// fallbacks; and, inside a tokio runtime, starts the reservation sweep on it.
pub fn app(store: Arc<dyn Store>, settings: ApiSettings) -> Router {
    let (router, doc) = routes::api_router().split_for_parts();
    let openapi_json = serde_json::to_string_pretty(&openapi::served(doc)).unwrap_or_default();
    let engine = RuleEngine::new(settings.security_policy.clone()).with_mode(settings.security_mode);
    let metrics = settings.metrics.clone().map(|m| {
        Arc::new(MetricsCollector::new(store.clone(), m, settings.budget_defaults.clone(), settings.otlp.clone()))
    });
    if let (Some(meter), Some(metrics)) = (&settings.meter, &metrics) {
        let metrics = Arc::clone(metrics);
        meter.register(Arc::new(move || metrics.points()));
    }
    let effects = Arc::new(ApiEffects::new(metrics.clone()));
    let limiter = ratelimit::Limiter::new(settings.rate_limits.clone());
    let state = AppState {
        inner: Arc::new(Inner {
            store,
            engine,
            settings,
            openapi_json,
            metrics,
            effects,
            limiter,
            budget: std::sync::Mutex::new(None),
        }),
    };
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(sweep::run(state.clone()));
    }
    router
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(console::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::timeout_and_log))
        .with_state(state)
}
