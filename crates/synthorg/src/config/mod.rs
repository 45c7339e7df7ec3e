//! Configuration: one YAML file, overridden by `SYNTHORG_*` environment variables and
//! command-line flags, validated into a [`Settings`] with **every** problem reported at once,
//! each with its path.
//!
//! Loading works on a JSON value tree: the file is parsed, overrides are written into the
//! tree, then the tree is deserialized into [`Config`]. A structural error (unknown key,
//! wrong type) removes the offending key and deserialization is retried, so one bad key never
//! hides another. Semantic checks (ranges, regexes, addresses) then run on what remains.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use synthorg_api::ratelimit::{RateLimit, RateLimits};
use synthorg_api::{ApiSettings, ExcludePaths, MetricsSettings};
use synthorg_core::FieldError;
use synthorg_core::Usd;
use synthorg_core::agent::TrustLevel;
use synthorg_core::budget::{AlertThresholds, BudgetConfig};
use synthorg_core::security::{LevelPolicy, SecurityPolicy};
use synthorg_telemetry::otlp::ExporterConfig;

mod database;
mod otlp;
mod prices;
pub(crate) use database::{DatabaseConfig, StoreLocation};
pub(crate) use otlp::OtlpSinkConfig;

/// The configuration file as written (after overrides).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub server: ServerConfig,
    /// Where the state lives: the embedded SQLite file, or PostgreSQL for several replicas.
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// The budget in force until one is set through the API, and the price catalogue.
    pub budget: BudgetSection,
    pub security: SecurityConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    /// The model gateway: providers (whose keys come from the environment) and model routes.
    pub gateway: synthorg_gateway::GatewayConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Directory of the SQLite database (when `database.url` is empty) and the bootstrap key file.
    pub data_dir: PathBuf,
    /// Longest a request may run before it is answered 503 (e.g. `30s`, `500ms`).
    pub request_timeout: String,
    /// Longest the server waits for in-flight requests on shutdown.
    pub shutdown_timeout: String,
    /// Longest a request head may take to arrive once its first byte has.
    pub header_read_timeout: String,
    /// Longest a connection may wait for the first byte of a request (fresh or kept alive).
    pub idle_timeout: String,
    /// Most connections open at once; past it new ones wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./data"),
            request_timeout: "30s".into(),
            shutdown_timeout: "10s".into(),
            header_read_timeout: "10s".into(),
            idle_timeout: "60s".into(),
            max_connections: 1000,
        }
    }
}

/// The `budget` section: [`BudgetConfig`]'s limits (the API's budget document) and the
/// prices, which only the configuration may set (a file path is not for API clients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BudgetSection {
    pub total_monthly: Usd,
    pub per_task_limit: Usd,
    pub per_agent_daily_limit: Usd,
    pub per_agent_daily_tokens: u64,
    pub alerts: AlertThresholds,
    pub reset_day: u8,
    pub currency: String,
    /// A price catalogue in synthorg's YAML format or LiteLLM's JSON format.
    pub prices_file: Option<PathBuf>,
    /// Whether `prices_file` extends the built-in catalogue or replaces it.
    pub prices_mode: prices::PricesMode,
    /// How long after a call its cost may be reported; an older `occurred_at` is refused.
    pub max_report_delay: String,
}

impl Default for BudgetSection {
    fn default() -> Self {
        let BudgetConfig {
            total_monthly,
            per_task_limit,
            per_agent_daily_limit,
            per_agent_daily_tokens,
            alerts,
            reset_day,
            currency,
        } = BudgetConfig::default();
        Self {
            total_monthly,
            per_task_limit,
            per_agent_daily_limit,
            per_agent_daily_tokens,
            alerts,
            reset_day,
            currency,
            prices_file: None,
            prices_mode: prices::PricesMode::Extend,
            max_report_delay: "24h".into(),
        }
    }
}

impl BudgetSection {
    /// The limits, as the API's budget document.
    pub(crate) fn limits(&self) -> BudgetConfig {
        BudgetConfig {
            total_monthly: self.total_monthly,
            per_task_limit: self.per_task_limit,
            per_agent_daily_limit: self.per_agent_daily_limit,
            per_agent_daily_tokens: self.per_agent_daily_tokens,
            alerts: self.alerts,
            reset_day: self.reset_day,
            currency: self.currency.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthConfig {
    /// Regexes over the request path that need no key. Absent: the defaults (health,
    /// OpenAPI, metrics). The metrics path is always added.
    pub exclude_paths: Option<Vec<String>>,
    /// Where the first start writes the admin key it creates, relative to `data_dir`.
    pub bootstrap_key_file: String,
    /// Requests per second and burst of each key, by role (429 past them).
    pub rate_limits: RateLimitsConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { exclude_paths: None, bootstrap_key_file: "admin.key".into(), rate_limits: RateLimitsConfig::default() }
    }
}

/// `auth.rate_limits`: a token bucket per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimitsConfig {
    /// Off: no key is ever answered 429.
    pub enabled: bool,
    pub admin: RateLimitConfig,
    pub agent: RateLimitConfig,
    pub viewer: RateLimitConfig,
}

/// One role's bucket: it refills at `per_second` (0: unlimited) and holds `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitConfig {
    pub per_second: f64,
    pub burst: u32,
}

impl From<RateLimit> for RateLimitConfig {
    fn from(l: RateLimit) -> Self {
        Self { per_second: l.per_second, burst: l.burst }
    }
}

impl From<RateLimitConfig> for RateLimit {
    fn from(l: RateLimitConfig) -> Self {
        Self { per_second: l.per_second, burst: l.burst }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let d = RateLimits::default();
        Self { enabled: d.enabled, admin: d.admin.into(), agent: d.agent.into(), viewer: d.viewer.into() }
    }
}

impl RateLimitsConfig {
    fn limits(&self) -> RateLimits {
        RateLimits {
            enabled: self.enabled,
            admin: self.admin.into(),
            agent: self.agent.into(),
            viewer: self.viewer.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SecurityConfig {
    /// `enforce` (default), or `shadow`: deny and escalate verdicts of the rules are recorded
    /// and counted with the action `allow`, and the answer allows (to trial new rules).
    pub mode: synthorg_core::security::SecurityMode,
    /// Policy per trust level; levels not listed keep their defaults.
    pub policies: BTreeMap<TrustLevel, LevelPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LoggingConfig {
    /// Minimum level (or filter such as `info,synthorg::access=warn`) of the console sink.
    pub level: String,
    /// Format of the console sink.
    pub format: LogFormat,
    /// Directory of the file sinks' files.
    pub dir: PathBuf,
    /// Further sinks: `file` (JSON lines), `otlp` (export to a collector) and `prometheus`
    /// (accepted, no output).
    pub sinks: Vec<SinkConfig>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text, dir: PathBuf::from("./logs"), sinks: Vec::new() }
    }
}

/// One log sink besides the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum SinkConfig {
    /// JSON lines in a size-rotated file under `logging.dir`.
    File {
        /// Relative to `logging.dir`; no `..`.
        path: PathBuf,
        /// Minimum level: trace, debug, info, warn, error or off.
        #[serde(default = "default_level")]
        level: String,
        /// Only events whose target starts with one of these (empty: all).
        #[serde(default)]
        targets: Vec<String>,
        /// Size at which the file rotates.
        #[serde(default = "default_max_bytes")]
        max_bytes: u64,
        /// Rotated files kept.
        #[serde(default = "default_max_files")]
        max_files: usize,
        /// Gzip rotated files.
        #[serde(default)]
        gzip: bool,
    },
    /// Accepted for compatibility: metrics are pulled from `/api/v1/metrics`, so this sink
    /// writes nothing.
    Prometheus {},
    /// OTLP/HTTP log export to an OpenTelemetry collector.
    Otlp(Box<OtlpSinkConfig>),
}

fn default_level() -> String {
    "info".into()
}
fn default_max_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_max_files() -> usize {
    5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MetricsConfig {
    /// Serve `GET /api/v1/metrics`; when false it answers 503.
    pub enabled: bool,
    /// Prefix of every synthorg family.
    pub prefix: String,
    /// Most distinct agent label values; the rest fold into `__other__`.
    pub max_agent_series: usize,
    /// Most distinct (provider, model) label pairs; the rest fold into `__other__`.
    pub max_model_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        let d = MetricsSettings::default();
        Self {
            enabled: true,
            prefix: d.prefix,
            max_agent_series: d.max_agent_series,
            max_model_series: d.max_model_series,
        }
    }
}

/// The checked configuration the program runs with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub config: Config,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// The store to open.
    pub store: StoreLocation,
    pub shutdown_timeout: Duration,
    pub connections: crate::connections::ConnectionLimits,
    pub api: ApiSettings,
    /// The checked OTLP sink, when one is configured: its log exporter, and its trace
    /// exporter unless `traces: none`.
    pub otlp: Option<ExporterConfig>,
    pub otlp_traces: Option<ExporterConfig>,
    /// The metric exporter and its reading interval, when the `otlp` sink pushes metrics
    /// (unless `metrics: none`).
    pub otlp_metrics: Option<(ExporterConfig, std::time::Duration)>,
    /// The model gateway's providers (keys read from the environment) and routes.
    pub gateway: synthorg_gateway::GatewaySettings,
    /// Problems that do not stop the program (e.g. headers over plain http).
    pub warnings: Vec<String>,
}

/// Every problem found, each with its path.
#[derive(Debug)]
pub(crate) struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem{}):", self.0.len(), if self.0.len() == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where configuration comes from, in increasing precedence.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub file: Option<PathBuf>,
    /// `(name, value)` of the environment; only `SYNTHORG_<SECTION>__<KEY>` names are used.
    pub env: Vec<(String, String)>,
    /// The standard `OTEL_*` variables (exporter endpoint, headers, service name, …); they
    /// override the file and are overridden by `SYNTHORG_*` variables.
    pub otel: Vec<(String, String)>,
    /// Command-line overrides as `(path, value)`, e.g. `("server.bind", "0.0.0.0:80")`.
    pub flags: Vec<(&'static str, String)>,
}

/// Prefix of override variables; `__` separates path segments.
pub(crate) const ENV_PREFIX: &str = "SYNTHORG_";

impl Sources {
    /// The process environment's override variables.
    pub(crate) fn with_process_env(mut self) -> Self {
        self.env = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__")).collect();
        self.otel = std::env::vars().filter(|(k, _)| k.starts_with(otlp::OTEL_PREFIX)).collect();
        self
    }
}

/// Loads and checks the configuration.
pub(crate) fn load(sources: &Sources) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut tree = match &sources.file {
        Some(path) => read_file(path, &mut errors),
        None => Value::Object(Map::new()),
    };
    let mut warnings = Vec::new();
    let origins = otlp::apply_otel_env(&mut tree, &sources.otel, &mut errors, &mut warnings);
    for (name, raw) in &sources.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            errors.push(FieldError::new(format!("env {name}"), "empty path segment"));
            continue;
        }
        set_path(&mut tree, &path, scalar(raw));
    }
    for (path, value) in &sources.flags {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        set_path(&mut tree, &segments, Value::String(value.clone()));
    }
    let config = deserialize_all(tree, &mut errors);
    let resource = otlp::resource(&sources.otel, &mut warnings);
    let trace_policy = otlp::trace_policy(&sources.otel, &mut warnings);
    let mut settings = check(config, resource, warnings, &mut errors);
    settings.api.trace_policy = trace_policy;
    otlp::name_env_origins(&mut errors, &origins);
    if errors.is_empty() { Ok(settings) } else { Err(ConfigErrors(errors)) }
}

fn read_file(path: &Path, errors: &mut Vec<FieldError>) -> Value {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            errors.push(FieldError::new(path.display().to_string(), format!("cannot read: {e}")));
            return Value::Object(Map::new());
        }
    };
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            errors.push(FieldError::new(path.display().to_string(), "the top level must be a mapping"));
            Value::Object(Map::new())
        }
        Err(e) => {
            errors.push(FieldError::new(path.display().to_string(), format!("not valid YAML: {e}")));
            Value::Object(Map::new())
        }
    }
}

/// An environment value read as a YAML scalar or flow collection (`100`, `true`, `[a, b]`),
/// else as a string.
fn scalar(raw: &str) -> Value {
    match serde_saphyr::from_str::<Value>(raw) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_) | Value::Null)) => v,
        _ => Value::String(raw.to_owned()),
    }
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for (i, key) in path.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        if i == path.len() - 1 {
            map.insert(key.clone(), value);
            return;
        }
        node = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Deserializes, and on each structural error records it, removes the offending key and
/// tries again, so every such error is reported.
fn deserialize_all(mut tree: Value, errors: &mut Vec<FieldError>) -> Config {
    for _ in 0..256 {
        let error = match serde_path_to_error::deserialize::<_, Config>(&tree) {
            Ok(config) => return config,
            Err(e) => e,
        };
        let mut path: Vec<String> = error
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(format!("[{index}]")),
                _ => None,
            })
            .collect();
        let message = error.into_inner().to_string();
        // serde names an unknown key only in the message: "unknown field `x`, expected …".
        if let Some(name) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
            && path.last().map(String::as_str) != Some(name)
        {
            path.push(name.to_owned());
        }
        let shown = display_path(&path);
        errors.push(FieldError::new(if shown.is_empty() { "config".into() } else { shown }, message));
        // Inside a list, drop the whole list: removing a key of one element (say its `type`
        // tag) would only produce a second, confusing error about the same element.
        let removal = path.iter().position(|seg| seg.starts_with('[')).map_or(&path[..], |i| &path[..i]);
        if !remove_path(&mut tree, removal) {
            return Config::default();
        }
    }
    Config::default()
}

fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

/// Removes the deepest mapping key on `path`. `false` when nothing could be removed.
fn remove_path(tree: &mut Value, path: &[String]) -> bool {
    let Some(last_key) = path.iter().rposition(|s| !s.starts_with('[')) else {
        return false;
    };
    let mut node = tree;
    for seg in &path[..last_key] {
        node = match (node, seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
            (Value::Array(items), Some(i)) => match i.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return false,
            },
            (Value::Object(map), None) => match map.get_mut(seg) {
                Some(item) => item,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Object(map) => map.remove(&path[last_key]).is_some(),
        _ => false,
    }
}

fn duration(errors: &mut Vec<FieldError>, field: &str, text: &str) -> Duration {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errors.push(FieldError::new(field, "must be longer than 0"));
            Duration::from_secs(1)
        }
        Err(e) => {
            errors.push(FieldError::new(field, format!("not a duration such as 30s or 500ms: {e}")));
            Duration::from_secs(1)
        }
    }
}

/// Semantic checks of a structurally valid configuration.
fn check(
    config: Config,
    resource: Vec<(String, String)>,
    mut warnings: Vec<String>,
    errors: &mut Vec<FieldError>,
) -> Settings {
    let bind = config.server.bind.parse::<SocketAddr>().unwrap_or_else(|e| {
        errors.push(FieldError::new("server.bind", format!("not an address such as 127.0.0.1:8000: {e}")));
        SocketAddr::from(([127, 0, 0, 1], 8000))
    });
    if config.server.data_dir.as_os_str().is_empty() {
        errors.push(FieldError::new("server.data_dir", "must not be empty"));
    }
    let request_timeout = duration(errors, "server.request_timeout", &config.server.request_timeout);
    let store = database::check(&config.database, config.server.data_dir.clone(), duration, errors);
    let shutdown_timeout = duration(errors, "server.shutdown_timeout", &config.server.shutdown_timeout);
    let connections = crate::connections::ConnectionLimits {
        header_read_timeout: duration(errors, "server.header_read_timeout", &config.server.header_read_timeout),
        idle_timeout: duration(errors, "server.idle_timeout", &config.server.idle_timeout),
        max_connections: config.server.max_connections,
    };
    if !(1..=1_000_000).contains(&connections.max_connections) {
        errors.push(FieldError::new("server.max_connections", "must be between 1 and 1000000"));
    }
    let key_file = Path::new(&config.auth.bootstrap_key_file);
    if config.auth.bootstrap_key_file.is_empty()
        || key_file.is_absolute()
        || key_file.components().any(|c| matches!(c, std::path::Component::ParentDir))
    {
        errors.push(FieldError::new("auth.bootstrap_key_file", "must be a relative path inside data_dir, without .."));
    }
    let exclude_paths = ExcludePaths::new(config.auth.exclude_paths.as_deref()).unwrap_or_else(|(i, e)| {
        errors.push(FieldError::new(format!("auth.exclude_paths[{i}]"), format!("not a valid regex: {e}")));
        ExcludePaths::default()
    });
    let rate_limits = config.auth.rate_limits.limits();
    errors.extend(rate_limits.validate().into_iter().map(|e| e.within("auth.rate_limits")));
    let budget = config.budget.limits();
    errors.extend(budget.validate().into_iter().map(|e| e.within("budget")));
    let prices = prices::load(&config.budget, errors);
    let max_report_delay = duration(errors, "budget.max_report_delay", &config.budget.max_report_delay);
    let max_report_delay = time::Duration::try_from(max_report_delay)
        .ok()
        .filter(|d| *d <= time::Duration::days(366))
        .unwrap_or_else(|| {
            errors.push(FieldError::new("budget.max_report_delay", "must be at most 366 days"));
            synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY
        });
    let mut policy = SecurityPolicy::default();
    policy.levels.extend(config.security.policies.clone());
    errors.extend(policy.validate().into_iter().map(|e| e.within("security.policies")));
    let (otlp, otlp_traces, otlp_metrics) = check_sinks(&config.logging, resource, errors, &mut warnings);
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.logging.level) {
        errors.push(FieldError::new("logging.level", format!("not a level or filter: {e}")));
    }
    let metrics = MetricsSettings {
        prefix: config.metrics.prefix.clone(),
        max_agent_series: config.metrics.max_agent_series,
        max_model_series: config.metrics.max_model_series,
    };
    errors.extend(metrics.validate().into_iter().map(|e| e.within("metrics")));
    let env = |name: &str| std::env::var(name).ok();
    let resolver = synthorg_telemetry::otlp::endpoint::SystemResolver;
    let gateway = config.gateway.check(&env, &resolver, errors, &mut warnings);
    let api = ApiSettings {
        exclude_paths,
        request_timeout,
        budget_defaults: budget,
        prices: std::sync::Arc::new(prices),
        max_report_delay,
        rate_limits,
        security_policy: policy,
        security_mode: config.security.mode,
        metrics: config.metrics.enabled.then_some(metrics),
        otlp: Vec::new(),
        ..ApiSettings::default()
    };
    Settings {
        bind,
        data_dir: config.server.data_dir.clone(),
        store,
        shutdown_timeout,
        connections,
        api,
        otlp,
        otlp_traces,
        otlp_metrics,
        gateway,
        warnings,
        config,
    }
}

fn check_sinks(
    logging: &LoggingConfig,
    resource: Vec<(String, String)>,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> (Option<ExporterConfig>, Option<ExporterConfig>, Option<(ExporterConfig, std::time::Duration)>) {
    let mut paths = std::collections::BTreeSet::new();
    let mut exporter = None;
    let mut traces = None;
    let mut metrics = None;
    let mut otlp_sinks = 0;
    for (i, sink) in logging.sinks.iter().enumerate() {
        let at = |field: &str| format!("logging.sinks[{i}].{field}");
        if let SinkConfig::Otlp(otlp) = sink {
            otlp_sinks += 1;
            if otlp_sinks > 1 {
                errors.push(FieldError::new(format!("logging.sinks[{i}]"), "only one otlp sink is supported"));
                continue;
            }
            // The sink's settings, then each signal's own options over them.
            let base = otlp::check(&at, otlp, resource.clone(), errors, warnings);
            let logs = base
                .clone()
                .and_then(|b| otlp::for_signal(&at, "logs", &otlp.per_signal.logs, otlp, b, errors, warnings));
            traces = base.as_ref().and_then(|b| otlp::check_traces(&at, otlp, b, errors, warnings));
            metrics = base.as_ref().and_then(|b| otlp::check_metrics(&at, otlp, b, errors, warnings));
            exporter = logs.filter(|_| otlp::exports_logs(&at, otlp, errors));
            continue;
        }
        let SinkConfig::File { path, level, max_bytes, max_files, .. } = sink else { continue };
        if path.as_os_str().is_empty()
            || path.is_absolute()
            || path.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            errors.push(FieldError::new(at("path"), "must be a relative path inside logging.dir, without .."));
        } else if !paths.insert(path.clone()) {
            errors.push(FieldError::new(at("path"), "another file sink writes to the same file"));
        }
        if level.parse::<tracing_subscriber::filter::LevelFilter>().is_err() {
            errors.push(FieldError::new(at("level"), "must be one of trace, debug, info, warn, error, off"));
        }
        if *max_bytes < 4096 {
            errors.push(FieldError::new(at("max_bytes"), "must be at least 4096"));
        }
        if *max_files > 1000 {
            errors.push(FieldError::new(at("max_files"), "must be at most 1000"));
        }
    }
    (exporter, traces, metrics)
}

/// Settings whose names look secret to the generic redaction (`token`, `api_key`) but hold
/// token counts, or the name of the environment variable a secret is read from (the secret
/// itself is never in the configuration).
const NOT_SECRETS: &[&str] = &[
    "per_agent_daily_tokens",
    "default_max_output_tokens",
    "min_output_tokens",
    "max_output_tokens",
    "per_agent_tokens_per_minute",
    "api_key_env",
    "max_sessions",
    "max_sessions_per_key",
];

/// The configuration as YAML-compatible JSON with secret-named values redacted.
pub(crate) fn redacted_json(config: &Config) -> String {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    redact(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if NOT_SECRETS.contains(&key.as_str()) {
                    continue;
                }
                if synthorg_core::security::is_secret_name(key) {
                    *item = Value::String(synthorg_core::security::REDACTED.to_owned());
                } else {
                    redact(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The commented default configuration printed by `synthorg config default`.
pub(crate) const DEFAULT_YAML: &str = include_str!("default_config.yaml");

#[cfg(test)]
mod tests;
