//! HTTP API of synthorg: the axum router under `/api/v1`, its handlers, authentication and
//! the wire types (DTOs).
//!
//! Handlers are thin: extract, call one operation of the engine ([`synthorg_engine::Engine`]),
//! map its answer to a response. The engine runs reads on tokio's blocking pool (or in place
//! on an in-process store) and writes on the store's writer thread when it has one.

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
mod state;
mod sweep;
pub use state::AppState;
pub use sweep::log_audit_head;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use synthorg_core::budget::BudgetConfig;
use synthorg_core::price::Catalogue;
use synthorg_core::security::SecurityPolicy;
use synthorg_engine::{Engine, EngineSettings};
use synthorg_store::Store;

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
    /// Which incoming trace context is read and which traces are sampled
    /// (`OTEL_PROPAGATORS`, `OTEL_TRACES_SAMPLER`).
    pub trace_policy: synthorg_telemetry::context::TracePolicy,
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

impl ApiSettings {
    /// What of these the engine needs.
    pub fn engine(&self) -> EngineSettings {
        EngineSettings {
            budget_defaults: self.budget_defaults.clone(),
            security_policy: self.security_policy.clone(),
            security_mode: self.security_mode,
            prices: self.prices.clone(),
            max_report_delay: self.max_report_delay,
            tracer: self.tracer.clone(),
        }
    }
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
            trace_policy: synthorg_telemetry::context::TracePolicy::default(),
            meter: None,
            quiet_requests: false,
            console_sign_in: None,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::served(routes::api_router().split_for_parts().1)
}

/// Builds the complete application: routes, authentication, body limit, timeouts, JSON
/// fallbacks; and, inside a tokio runtime, starts the reservation sweep on it.
pub fn app(store: Arc<dyn Store>, settings: ApiSettings) -> Router {
    app_and_engine(store, settings).0
}

/// [`app`], and the engine behind it: another door (a gateway) built on this engine shares
/// its store, budget, rules and effects (logs, audit lines, metrics) with the REST door.
pub fn app_and_engine(store: Arc<dyn Store>, settings: ApiSettings) -> (Router, Engine) {
    app_with_doors(store, settings, |_| Router::new())
}

/// [`app_and_engine`] with further doors on the same engine (the model gateway): `doors`
/// builds their routes from the engine, and they are served beside the API's, behind the
/// same request logging, tracing, metrics and timeout. A door authenticates its own callers
/// (its clients send keys their own way); it must not set a fallback.
pub fn app_with_doors(
    store: Arc<dyn Store>,
    settings: ApiSettings,
    doors: impl FnOnce(&Engine) -> Router,
) -> (Router, Engine) {
    let (router, doc) = routes::api_router().split_for_parts();
    let openapi_json = serde_json::to_string_pretty(&openapi::served(doc)).unwrap_or_default();
    let metrics = settings.metrics.clone().map(|m| {
        Arc::new(MetricsCollector::new(store.clone(), m, settings.budget_defaults.clone(), settings.otlp.clone()))
    });
    if let (Some(meter), Some(metrics)) = (&settings.meter, &metrics) {
        let metrics = Arc::clone(metrics);
        meter.register(Arc::new(move || metrics.points()));
    }
    let effects = Arc::new(ApiEffects::new(metrics.clone()));
    let engine = Engine::new(store, settings.engine(), effects);
    let limiter = ratelimit::Limiter::new(settings.rate_limits.clone());
    let state = AppState::new(engine, settings, openapi_json, metrics, limiter);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(sweep::run(state.clone()));
    }
    let engine = state.engine().clone();
    let router = router
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(console::router())
        .with_state(state.clone())
        .merge(doors(&engine))
        .layer(axum::middleware::from_fn_with_state(state, middleware::timeout_and_log));
    (router, engine)
}
