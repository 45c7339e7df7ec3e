//! What `GET /api/v1/metrics` exposes. Each component owns its families (names, help, typed
//! label values) and writes them itself; the collector registers each component once and
//! asks them in order at every scrape:
//!
//! - [`OrganizationMetrics`]: the organization, from the store's aggregates (pull);
//! - [`EventMetrics`]: what committed changes moved (verdicts, coordination), counted by the
//!   API's effects;
//! - [`HttpMetrics`]: requests and latency, counted by the request middleware;
//! - the OTLP exporter's accounting ([`synthorg_telemetry::otlp::ExporterMetrics`]);
//! - the SQLite writer ([`synthorg_store::metrics::WriterMetrics`]);
//! - the process ([`synthorg_telemetry::metrics::process::ProcessMetrics`]).

mod events;
mod gateway;
mod http;
mod organization;
mod tools;

use std::sync::Arc;

use synthorg_core::FieldError;
use synthorg_core::budget::BudgetConfig;
use synthorg_store::Store;
use synthorg_store::metrics::WriterMetrics;
use synthorg_telemetry::metrics::process::ProcessMetrics;
use synthorg_telemetry::metrics::{
    Collect, Counter, Exposition, Family, Format, Kind, MetricPoint, is_valid_metric_name,
};
use synthorg_telemetry::otlp::{ExporterHandle, ExporterMetrics};

pub use events::EventMetrics;
pub use gateway::{Call, GatewayMetrics};
pub use http::{HttpMetrics, Method, StatusClass};
pub use organization::{Folded, OTHER, OrganizationMetrics, Source, UNASSIGNED};
pub use tools::{ToolMetrics, ToolRequest};

/// Settings of the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Prefix of every synthorg family (`synthorg` → `synthorg_agents_total`).
    pub prefix: String,
    /// Most distinct values of the `agent` / `agent_id` labels; the rest fold into `__other__`.
    pub max_agent_series: usize,
    /// Most distinct (provider, model) label pairs; the models used first keep their own
    /// series, the rest fold into `__other__`.
    pub max_model_series: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { prefix: "synthorg".into(), max_agent_series: 1000, max_model_series: 200 }
    }
}

impl MetricsSettings {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_valid_metric_name(&self.prefix) {
            errors.push(FieldError::new("prefix", "must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
        }
        if self.max_agent_series == 0 || self.max_agent_series > 100_000 {
            errors.push(FieldError::new("max_agent_series", "must be between 1 and 100000"));
        }
        if self.max_model_series == 0 || self.max_model_series > 100_000 {
            errors.push(FieldError::new("max_model_series", "must be between 1 and 100000"));
        }
        errors
    }
}

/// Every component's families, in one exposition.
#[derive(Debug)]
pub struct MetricsCollector {
    app: Family<1>,
    scrapes_family: Family,
    scrapes: Counter,
    events: Arc<EventMetrics>,
    gateway: Arc<GatewayMetrics>,
    tools: Arc<ToolMetrics>,
    http: Arc<HttpMetrics>,
    organization: Arc<OrganizationMetrics>,
    /// In exposition order.
    components: Vec<Arc<dyn Collect>>,
}

impl MetricsCollector {
    /// The collector of every component; with `otlp`, the running exporter's families too.
    pub fn new(
        store: Arc<dyn Store>,
        settings: MetricsSettings,
        budget_defaults: BudgetConfig,
        otlp: Vec<ExporterHandle>,
    ) -> Self {
        let p = settings.prefix.as_str();
        let events = Arc::new(EventMetrics::new(p, settings.max_model_series));
        let http = Arc::new(HttpMetrics::new(p));
        let organization =
            Arc::new(OrganizationMetrics::new(&settings, store.clone(), budget_defaults, events.cost_exemplar()));
        let gateway = Arc::new(GatewayMetrics::new(p, settings.max_model_series));
        let tools = Arc::new(ToolMetrics::new(p, settings.max_model_series));
        let mut components: Vec<Arc<dyn Collect>> =
            vec![organization.clone(), events.clone(), gateway.clone(), tools.clone(), http.clone()];
        if !otlp.is_empty() {
            components.push(Arc::new(ExporterMetrics::new(p, otlp)));
        }
        components.push(Arc::new(WriterMetrics::new(p, store)));
        components.push(Arc::new(ProcessMetrics::default()));
        Self {
            app: Family::new(p, "app", Kind::Info, "Build information of this synthorg process.").labelled(["version"]),
            scrapes_family: Family::new(
                p,
                "scrapes",
                Kind::Counter,
                "Scrapes of this endpoint served by this process.",
            ),
            scrapes: Counter::default(),
            events,
            gateway,
            tools,
            http,
            organization,
            components,
        }
    }

    /// Samples the ledger's total for the burn rates (the periodic chores call it every
    /// minute, so the history grows between scrapes too). Blocking: reads the store.
    pub fn sample_spend(&self) -> Result<(), synthorg_store::StoreError> {
        self.organization.sample_spend()
    }

    /// The burn rates over the last hour and 24 hours, as the metrics show them.
    pub fn burn_rates(&self, at: time::OffsetDateTime, total: synthorg_core::Usd) -> (Option<f64>, Option<f64>) {
        self.organization.burn_rates(at, total)
    }

    /// The families the events of committed changes move.
    pub fn events(&self) -> &EventMetrics {
        &self.events
    }

    /// The model gateway's families.
    pub fn gateway(&self) -> &GatewayMetrics {
        &self.gateway
    }

    /// The tool gateway's families.
    pub fn tools(&self) -> &ToolMetrics {
        &self.tools
    }

    /// The HTTP layer's families.
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// One scrape: every component, in order. Blocking (the organization reads the store):
    /// run it off the async threads.
    pub fn scrape(&self, format: Format) -> Vec<u8> {
        self.scrapes.inc();
        let mut e = Exposition::new(format);
        self.write(&mut e);
        e.finish()
    }

    /// The same catalogue as data points, for the OTLP push (which is not a scrape: the
    /// scrape counter is read, not moved). Blocking, like a scrape.
    pub fn points(&self) -> Vec<MetricPoint> {
        let mut e = Exposition::points();
        self.write(&mut e);
        e.into_points()
    }

    fn write(&self, e: &mut Exposition) {
        self.app.header(e);
        self.app.info(e, [env!("CARGO_PKG_VERSION")]);
        self.scrapes_family.header(e);
        self.scrapes_family.counter(e, [], self.scrapes.get() as f64);
        for component in &self.components {
            component.collect(e);
        }
    }
}

/// Observes `seconds` in `key`'s histogram of `series` (made with `buckets` on first use),
/// with the current request's trace as the exemplar.
fn observe_keyed<K: Ord>(
    series: &std::sync::Mutex<std::collections::BTreeMap<K, synthorg_telemetry::metrics::Histogram>>,
    key: K,
    buckets: &'static [f64],
    seconds: f64,
) {
    series
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert_with(|| synthorg_telemetry::metrics::Histogram::new(buckets))
        .observe_with(seconds, synthorg_telemetry::metrics::Exemplar::in_current_trace(seconds));
}
