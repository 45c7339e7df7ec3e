//! The state every handler shares: the engine, and what only the REST door needs.

use std::sync::Arc;

use synthorg_core::budget::BudgetConfig;
use synthorg_engine::Engine;
use synthorg_store::{Done, Store, StoreError};

use crate::{ApiError, ApiSettings, MetricsCollector, ratelimit};

/// Shared state of every handler: the engine every operation runs on, and what only the
/// REST door needs.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    settings: ApiSettings,
    openapi_json: String,
    metrics: Option<Arc<MetricsCollector>>,
    limiter: ratelimit::Limiter,
}

impl AppState {
    pub(crate) fn new(
        engine: Engine,
        settings: ApiSettings,
        openapi_json: String,
        metrics: Option<Arc<MetricsCollector>>,
        limiter: ratelimit::Limiter,
    ) -> Self {
        Self { inner: Arc::new(Inner { engine, settings, openapi_json, metrics, limiter }) }
    }

    /// The OpenAPI document as served.
    pub(crate) fn openapi_json(&self) -> &str {
        &self.inner.openapi_json
    }

    /// The engine: every operation, authorized once.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine().store()
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    /// The budget in force (see [`Engine::budget`]).
    pub fn budget(&self) -> Result<BudgetConfig, StoreError> {
        self.engine().budget()
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

    /// Every key's request-rate bucket.
    pub fn limiter(&self) -> &ratelimit::Limiter {
        &self.inner.limiter
    }

    /// The metrics collector, when wired.
    pub fn metrics(&self) -> Option<&Arc<MetricsCollector>> {
        self.inner.metrics.as_ref()
    }

    /// Runs `f` (store calls) on the blocking pool ([`Engine::blocking`]).
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        self.engine().blocking(move |_| f(&state)).await
    }

    /// Runs `work`, a request's writes with the reads they depend on, as one unit of work
    /// ([`Engine::write`]): answered once durable, its events applied only then. For the
    /// routes whose use case is not yet an operation of the engine.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<Done<T>, ApiError> + Send + 'static,
    {
        let state = self.clone();
        self.engine().write(move |_| work(&state)).await
    }

    /// Runs a read of one page ([`Engine::read_rows`]): in place on an in-process store when the
    /// page is short, else on the blocking pool.
    pub async fn page<T, F>(&self, rows: u32, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        self.engine().read_rows(rows, move |_| f(&state)).await
    }

    /// Runs a short read in place or on the blocking pool ([`Engine::read`]).
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        self.engine().read(move |_| f(&state)).await
    }
}
