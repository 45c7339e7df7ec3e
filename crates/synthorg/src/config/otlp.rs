//! The `otlp` log sink: its configuration, the standard `OTEL_*` environment variables, and
//! the checks of SPEC §5 (endpoint, headers, TLS) reported like every other config error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use synthorg_core::FieldError;
use synthorg_telemetry::context::{Sampler, TracePolicy};
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver, check_header, tls_problem};
use synthorg_telemetry::otlp::{ExporterConfig, Protocol, validate_ca_pem};

use super::duration;

/// Header values are credentials: they are deserialized, never serialized or printed.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, synthorg_core::security::REDACTED))).finish()
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.keys().map(|k| (k, synthorg_core::security::REDACTED)))
    }
}

/// `type: otlp` in `logging.sinks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OtlpSinkConfig {
    /// Collector base URL; logs go to `{endpoint}/v1/logs` (used as is when it ends so).
    pub endpoint: String,
    /// The URL logs are POSTed to, used exactly as written (the OpenTelemetry per-signal
    /// endpoint, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`); when set, `endpoint` is not used.
    pub logs_endpoint: String,
    /// `otlp` (the default) exports the log events at or above `level`
    /// (`OTEL_LOGS_EXPORTER`); `none` exports traces only.
    pub logs: String,
    /// `otlp` (the default) also exports one span per HTTP request to the same collector
    /// (`OTEL_TRACES_EXPORTER`); `none` exports logs only.
    pub traces: String,
    /// The URL spans are POSTed to, used exactly as written
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); when empty, `{endpoint}/v1/traces`.
    pub traces_endpoint: String,
    /// `otlp` (the default) also pushes the `/api/v1/metrics` catalogue to the same
    /// collector every `metrics_interval` (`OTEL_METRICS_EXPORTER`); `none` does not.
    pub metrics: String,
    /// The URL metrics are POSTed to, used exactly as written
    /// (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`); when empty, `{endpoint}/v1/metrics`.
    pub metrics_endpoint: String,
    /// How often the catalogue is read and pushed (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub metrics_interval: String,
    /// `http/protobuf` or `http/json`.
    pub protocol: String,
    /// Sent with every export request (e.g. an authorization header).
    pub headers: Headers,
    /// Minimum level exported.
    pub level: String,
    /// Longest a record waits before its batch is sent.
    pub export_interval: String,
    /// Records per request.
    pub batch_size: usize,
    /// Longest one export request may take.
    pub timeout: String,
    /// Retries of a batch after 429/502/503/504 or a connection error.
    pub max_retries: u32,
    /// Longest one batch is retried, from its first attempt.
    pub retry_max_elapsed: String,
    /// Records waiting to be sent; when full, new records are dropped and counted.
    pub queue_capacity: usize,
    /// `gzip` or `none`.
    pub compression: String,
    /// Private ranges the endpoint may resolve to (in-cluster collectors).
    pub allowed_private_cidrs: Vec<String>,
    /// Refuse headers over plain http to a non-loopback host (instead of warning).
    pub require_tls_for_headers: bool,
    /// PEM file of CA certificates trusted for an https endpoint, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// One signal's own protocol, headers, timeout or compression, over the settings above
    /// (the `OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_*` variables).
    pub per_signal: PerSignal,
}

/// `per_signal` of the `otlp` sink.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PerSignal {
    pub logs: SignalOptions,
    pub traces: SignalOptions,
    pub metrics: SignalOptions,
}

/// What one signal may set apart from the others; unset keeps the sink's setting. Headers
/// are added to the sink's (a name set here wins).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SignalOptions {
    pub protocol: Option<String>,
    pub headers: Headers,
    pub timeout: Option<String>,
    pub compression: Option<String>,
    /// This signal's batching (`OTEL_BLRP_*` for logs, `OTEL_BSP_*` for spans).
    pub export_interval: Option<String>,
    pub batch_size: Option<usize>,
    pub queue_capacity: Option<usize>,
}

impl Default for OtlpSinkConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4318".into(),
            logs_endpoint: String::new(),
            logs: "otlp".into(),
            traces: "otlp".into(),
            traces_endpoint: String::new(),
            metrics: "otlp".into(),
            metrics_endpoint: String::new(),
            metrics_interval: "60s".into(),
            protocol: "http/protobuf".into(),
            headers: Headers::default(),
            level: "info".into(),
            export_interval: "1s".into(),
            batch_size: 512,
            timeout: "10s".into(),
            max_retries: 100,
            retry_max_elapsed: "5m".into(),
            queue_capacity: 65_536,
            compression: "none".into(),
            allowed_private_cidrs: Vec::new(),
            require_tls_for_headers: false,
            ca_file: None,
            per_signal: PerSignal::default(),
        }
    }
}

/// Each signal's own variables: protocol, compression, timeout, headers.
const SIGNAL_VARIABLES: [(&str, [&str; 4]); 3] = [
    (
        "logs",
        [
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ],
    ),
    (
        "traces",
        [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ],
    ),
    (
        "metrics",
        [
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        ],
    ),
];

/// The `OTEL_*` variables honoured.
pub(super) const OTEL_PREFIX: &str = "OTEL_";

fn otel<'a>(vars: &'a [(String, String)], names: &[&str]) -> Option<(&'a str, &'a str)> {
    names.iter().find_map(|name| vars.iter().find(|(k, _)| k == name).map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `k1=v1,k2=v2` with percent-encoded values (W3C baggage style), as the OTel spec writes
/// headers and resource attributes.
fn pairs(name: &str, raw: &str, errors: &mut Vec<FieldError>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy().into_owned();
                out.push((k.trim().to_owned(), v));
            }
            _ => errors.push(FieldError::new(format!("env {name}"), "each item must be key=value")),
        }
    }
    out
}

/// Where a setting of the configuration tree came from an OpenTelemetry variable: the
/// setting's path (`logging.sinks[0].timeout`) and the variable, so that a problem with the
/// value names the variable the operator set, not a file key they never wrote.
pub(super) type EnvOrigins = Vec<(String, &'static str)>;

/// `OTEL_SDK_DISABLED`: `true` (any case) turns every OTLP export off; `false` or empty
/// leaves it on; anything else is read as false with a warning (the specification's rule for
/// its boolean variables).
fn sdk_disabled(vars: &[(String, String)], warnings: &mut Vec<String>) -> bool {
    let Some((name, value)) = otel(vars, &["OTEL_SDK_DISABLED"]) else { return false };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => true,
        "false" | "" => false,
        _ => {
            warnings.push(format!(
                "{name} is neither true nor false: read as false, as the OpenTelemetry specification says"
            ));
            false
        }
    }
}

/// Sets every signal of the file's otlp sink (if any) to `none`, and adds no sink.
fn disable_export(tree: &mut Value) -> EnvOrigins {
    let mut origins = EnvOrigins::new();
    let sinks = tree.get_mut("logging").and_then(|l| l.get_mut("sinks")).and_then(Value::as_array_mut);
    for (index, sink) in sinks.into_iter().flatten().enumerate() {
        if sink.get("type").and_then(Value::as_str) != Some("otlp") {
            continue;
        }
        let Some(sink) = sink.as_object_mut() else { continue };
        for signal in ["logs", "traces", "metrics"] {
            sink.insert(signal.to_owned(), Value::String("none".into()));
            origins.push((format!("logging.sinks[{index}].{signal}"), "OTEL_SDK_DISABLED"));
        }
    }
    origins
}

/// Writes the standard variables into the configuration tree, over the file's values. When
/// no otlp sink is configured, an endpoint variable adds one. Returns where each came from.
pub(super) fn apply_otel_env(
    tree: &mut Value,
    vars: &[(String, String)],
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> EnvOrigins {
    if sdk_disabled(vars, warnings) {
        return disable_export(tree);
    }
    let mut set: Vec<(&str, Value, &'static str)> = Vec::new();
    let find = |names: &[&'static str]| names.iter().find_map(|name| otel(vars, &[name]).map(|(_, v)| (*name, v)));
    // The per-signal variable is a full URL, used as is; the general one is a base URL.
    // The per-signal one wins, so the base one is not applied beside it.
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"]) {
        set.push(("logs_endpoint", Value::String(v.to_owned()), name));
    } else if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_ENDPOINT"]) {
        set.push(("endpoint", Value::String(v.to_owned()), name));
        set.push(("logs_endpoint", Value::String(String::new()), name));
    }
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) {
        set.push(("traces_endpoint", Value::String(v.to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_TRACES_EXPORTER"]) {
        set.push(("traces", Value::String(v.trim().to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]) {
        set.push(("metrics_endpoint", Value::String(v.to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_METRICS_EXPORTER"]) {
        set.push(("metrics", Value::String(v.trim().to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_LOGS_EXPORTER"]) {
        set.push(("logs", Value::String(v.trim().to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_PROTOCOL"]) {
        set.push(("protocol", Value::String(v.to_owned()), name));
    }
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_COMPRESSION"]) {
        set.push(("compression", Value::String(v.to_owned()), name));
    }
    // A signal's own variables set that signal's options only (the specification's rule).
    let mut nested: Vec<(String, Value, &'static str)> = Vec::new();
    for (signal, names) in SIGNAL_VARIABLES {
        let [protocol, compression, timeout, headers] = names;
        if let Some((name, v)) = find(&[protocol]) {
            nested.push((format!("per_signal.{signal}.protocol"), Value::String(v.to_owned()), name));
        }
        if let Some((name, v)) = find(&[compression]) {
            nested.push((format!("per_signal.{signal}.compression"), Value::String(v.to_owned()), name));
        }
        // A processor's (or the metric reader's) export timeout is its exporter's, unless the
        // exporter's own is set.
        let timeouts: &[&'static str] = match signal {
            "logs" => &[timeout, "OTEL_BLRP_EXPORT_TIMEOUT"],
            "traces" => &[timeout, "OTEL_BSP_EXPORT_TIMEOUT"],
            _ => &[timeout, "OTEL_METRIC_EXPORT_TIMEOUT"],
        };
        // The batch processors' variables: the log records' for logs, the spans' for traces.
        let batching: &[(&'static str, &str)] = match signal {
            "logs" => &[
                ("OTEL_BLRP_SCHEDULE_DELAY", "export_interval"),
                ("OTEL_BLRP_MAX_QUEUE_SIZE", "queue_capacity"),
                ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "batch_size"),
            ],
            "traces" => &[
                ("OTEL_BSP_SCHEDULE_DELAY", "export_interval"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "queue_capacity"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "batch_size"),
            ],
            _ => &[],
        };
        for (variable, option) in batching {
            let Some((name, v)) = find(&[variable]) else { continue };
            let path = format!("per_signal.{signal}.{option}");
            match (*option, v.trim().parse::<u64>()) {
                ("export_interval", Ok(ms)) => nested.push((path, Value::String(format!("{ms}ms")), name)),
                (_, Ok(n)) => nested.push((path, Value::from(n), name)),
                ("export_interval", Err(_)) => {
                    errors.push(FieldError::new(format!("env {name}"), "must be a number of milliseconds"));
                }
                (_, Err(_)) => errors.push(FieldError::new(format!("env {name}"), "must be a whole number")),
            }
        }
        if let Some((name, v)) = find(timeouts) {
            match v.trim().parse::<u64>() {
                Ok(ms) => nested.push((format!("per_signal.{signal}.timeout"), Value::String(format!("{ms}ms")), name)),
                Err(_) => errors.push(FieldError::new(format!("env {name}"), "must be a number of milliseconds")),
            }
        }
        if let Some((name, v)) = otel(vars, &[headers]) {
            for (k, v) in pairs(name, v, errors) {
                let path = format!("per_signal.{signal}.headers.{}", k.escape_debug());
                nested.push((path, Value::String(v), headers));
            }
        }
    }
    // Only cumulative temporality is pushed (the catalogue's counters are cumulative); a
    // request for delta is refused rather than quietly not honoured.
    if let Some((name, v)) = find(&["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"])
        && !v.trim().eq_ignore_ascii_case("cumulative")
    {
        errors.push(FieldError::new(
            format!("env {name}"),
            format!("{:?} is not supported: synthorg pushes cumulative metrics only", v.trim()),
        ));
    }
    let millis =
        [(&["OTEL_EXPORTER_OTLP_TIMEOUT"][..], "timeout"), (&["OTEL_METRIC_EXPORT_INTERVAL"][..], "metrics_interval")];
    for (names, key) in millis {
        if let Some((name, v)) = find(names) {
            match v.trim().parse::<u64>() {
                Ok(ms) => set.push((key, Value::String(format!("{ms}ms")), name)),
                Err(_) => errors.push(FieldError::new(format!("env {name}"), "must be a number of milliseconds")),
            }
        }
    }
    let mut headers = Vec::new();
    if let Some((name, v)) = otel(vars, &["OTEL_EXPORTER_OTLP_HEADERS"]) {
        headers.extend(pairs(name, v, errors).into_iter().map(|(k, v)| (k, v, "OTEL_EXPORTER_OTLP_HEADERS")));
    }
    let mut origins = EnvOrigins::new();
    if set.is_empty() && headers.is_empty() && nested.is_empty() {
        return origins;
    }
    let Some(root) = tree.as_object_mut() else { return origins };
    let logging = root.entry("logging").or_insert_with(|| Value::Object(Map::new()));
    let Some(logging) = logging.as_object_mut() else { return origins };
    let sinks = logging.entry("sinks").or_insert_with(|| Value::Array(Vec::new()));
    let Some(sinks) = sinks.as_array_mut() else { return origins };
    let position = sinks.iter().position(|s| s.get("type").and_then(Value::as_str) == Some("otlp"));
    let named = |set: &[(&str, Value, &'static str)], key: &str| {
        set.iter().find(|(k, v, _)| *k == key && v != "").map(|(_, _, name)| *name)
    };
    let endpoints = ["endpoint", "logs_endpoint", "traces_endpoint", "metrics_endpoint"];
    let creator = endpoints.iter().find_map(|k| named(&set, k));
    let index = match (position, creator) {
        (Some(i), _) => i,
        (None, Some(creator)) => {
            sinks.push(serde_json::json!({ "type": "otlp" }));
            // Without the general endpoint, a signal's own endpoint enables that signal only:
            // the others are not sent to a default address nobody named (unless their
            // `OTEL_*_EXPORTER` asks for them).
            if named(&set, "endpoint").is_none() {
                for (signal, endpoint) in
                    [("logs", "logs_endpoint"), ("traces", "traces_endpoint"), ("metrics", "metrics_endpoint")]
                {
                    if named(&set, endpoint).is_none() && !set.iter().any(|(k, _, _)| *k == signal) {
                        set.push((signal, Value::String("none".into()), creator));
                    }
                }
            }
            sinks.len() - 1
        }
        (None, None) => return origins,
    };
    let Some(sink) = sinks[index].as_object_mut() else { return origins };
    for (key, value, name) in set {
        sink.insert(key.to_owned(), value);
        origins.push((format!("logging.sinks[{index}].{key}"), name));
    }
    for (path, value, name) in nested {
        // `per_signal.<signal>.<option>[.<header name>]`: the header name may hold dots, so
        // only the first three parts are split.
        let mut parts = path.splitn(4, '.');
        let (Some(_), Some(signal), Some(option)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let per_signal = sink.entry("per_signal").or_insert_with(|| Value::Object(Map::new()));
        let Some(per_signal) = per_signal.as_object_mut() else { continue };
        let options = per_signal.entry(signal.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        let Some(options) = options.as_object_mut() else { continue };
        match parts.next() {
            Some(header) => {
                let map = options.entry(option.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                if let Some(map) = map.as_object_mut() {
                    map.insert(header.to_owned(), value);
                }
            }
            None => {
                options.insert(option.to_owned(), value);
            }
        }
        origins.push((format!("logging.sinks[{index}].{path}"), name));
    }
    if !headers.is_empty() {
        let map = sink.entry("headers").or_insert_with(|| Value::Object(Map::new()));
        if let Some(map) = map.as_object_mut() {
            for (k, v, name) in headers {
                origins.push((format!("logging.sinks[{index}].headers.{}", k.escape_debug()), name));
                map.insert(k, Value::String(v));
            }
        }
    }
    origins
}

/// Renames the field of every error about a setting an OpenTelemetry variable set to that
/// variable (`env OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`), keeping the setting's path in the message.
pub(super) fn name_env_origins(errors: &mut [FieldError], origins: &EnvOrigins) {
    for error in errors {
        if let Some((path, name)) = origins.iter().find(|(path, _)| error.field == *path) {
            error.message = format!("{} (as {path})", error.message);
            error.field = format!("env {name}");
        }
    }
}

/// How traces are sampled and continued: `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`,
/// `traceidratio`, `parentbased_always_on` — the default —, `parentbased_always_off`,
/// `parentbased_traceidratio`) with `OTEL_TRACES_SAMPLER_ARG` (the ratio, 0 to 1, default 1),
/// and `OTEL_PROPAGATORS` (`tracecontext` — the default —, `baggage`, `none`). A value the
/// specification defines but synthorg does not implement, or one it does not define, is
/// named in a warning and the default is used, as the specification says.
pub(super) fn trace_policy(vars: &[(String, String)], warnings: &mut Vec<String>) -> TracePolicy {
    let mut policy = TracePolicy::default();
    if let Some((name, raw)) = otel(vars, &["OTEL_TRACES_SAMPLER"]) {
        let value = raw.trim().to_ascii_lowercase();
        let (parent_based, root) = match value.strip_prefix("parentbased_") {
            Some(root) => (true, root),
            None => (false, value.as_str()),
        };
        let mut ratio = || match otel(vars, &["OTEL_TRACES_SAMPLER_ARG"]) {
            None => 1.0,
            Some((arg, raw)) => match raw.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    warnings.push(format!("{arg} must be a number from 0 to 1 for traceidratio: 1 is used"));
                    1.0
                }
            },
        };
        let sampler = match root {
            "always_on" => Some(Sampler::AlwaysOn),
            "always_off" => Some(Sampler::AlwaysOff),
            "traceidratio" => Some(Sampler::TraceIdRatio(ratio())),
            _ => None,
        };
        match sampler {
            Some(sampler) => policy = TracePolicy { sampler, parent_based, ..policy },
            None => warnings.push(format!(
                "{name} names a sampler synthorg does not have (it has always_on, always_off, traceidratio and \
                 their parentbased_ forms): parentbased_always_on is used"
            )),
        }
    }
    if let Some((name, raw)) = otel(vars, &["OTEL_PROPAGATORS"]) {
        let names: Vec<String> =
            raw.split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect();
        let unknown: Vec<&str> =
            names.iter().map(String::as_str).filter(|p| !["tracecontext", "baggage", "none"].contains(p)).collect();
        match unknown.is_empty() {
            // `baggage` is accepted: synthorg makes no outgoing calls that would carry it on.
            true => policy.tracecontext = names.iter().any(|p| p == "tracecontext"),
            false => warnings.push(format!(
                "{name} names propagators synthorg does not have (it has tracecontext, baggage and none): \
                 tracecontext is used"
            )),
        }
    }
    policy
}

/// The resource: `service.name` (`OTEL_SERVICE_NAME`, else `synthorg`), `service.version`,
/// a fresh `service.instance.id` per process, and `OTEL_RESOURCE_ATTRIBUTES`. A malformed
/// `OTEL_RESOURCE_ATTRIBUTES` is discarded whole with a warning (the SDK specification's rule),
/// not a reason to refuse to start.
pub(super) fn resource(vars: &[(String, String)], warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut attributes = vec![
        ("service.name".to_owned(), "synthorg".to_owned()),
        ("service.version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ("service.instance.id".to_owned(), uuid::Uuid::new_v4().to_string()),
    ];
    let mut put = |k: String, v: String| match attributes.iter_mut().find(|(key, _)| *key == k) {
        Some(slot) => slot.1 = v,
        None => attributes.push((k, v)),
    };
    if let Some((name, raw)) = otel(vars, &["OTEL_RESOURCE_ATTRIBUTES"]) {
        let mut malformed = Vec::new();
        let parsed = pairs(name, raw, &mut malformed);
        match malformed.is_empty() {
            true => parsed.into_iter().for_each(|(k, v)| put(k, v)),
            false => warnings.push(format!(
                "{name} is malformed (each item must be key=value): all of it is ignored, as the \
                 OpenTelemetry specification says"
            )),
        }
    }
    if let Some((_, name)) = otel(vars, &["OTEL_SERVICE_NAME"]).filter(|(_, v)| !v.trim().is_empty()) {
        put("service.name".into(), name.trim().to_owned());
    }
    attributes
}

/// Checks one otlp sink; `None` when it has errors (all of them are reported).
pub(super) fn check(
    at: &dyn Fn(&str) -> String,
    sink: &OtlpSinkConfig,
    resource: Vec<(String, String)>,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> Option<ExporterConfig> {
    let before = errors.len();
    let protocol = parse_protocol(&at("protocol"), &sink.protocol, errors);
    let mut policy = EndpointPolicy { require_tls_for_headers: sink.require_tls_for_headers, ..Default::default() };
    for (j, cidr) in sink.allowed_private_cidrs.iter().enumerate() {
        match cidr.trim().parse::<ipnet::IpNet>() {
            Ok(net) => policy.allowed_private_cidrs.push(net),
            Err(_) => errors.push(FieldError::new(
                at(&format!("allowed_private_cidrs[{j}]")),
                "not a CIDR such as 10.0.0.0/8 or fd00::/8",
            )),
        }
    }
    for (name, value) in &sink.headers.0 {
        if let Err(e) = check_header(name, value) {
            // The value never appears in the message.
            errors.push(FieldError::new(at(&format!("headers.{}", name.escape_debug())), e.0));
        }
    }
    let (endpoint_field, checked) = if sink.logs_endpoint.is_empty() {
        ("endpoint", policy.check_endpoint(&sink.endpoint, &SystemResolver))
    } else {
        ("logs_endpoint", policy.check_logs_url(&sink.logs_endpoint, &SystemResolver))
    };
    let endpoint = match checked {
        Ok(endpoint) => Some(endpoint),
        Err(e) => {
            errors.push(FieldError::new(at(endpoint_field), e.0));
            None
        }
    };
    if let Some(problem) = endpoint.as_ref().and_then(|e| tls_problem(e, !sink.headers.0.is_empty())) {
        match sink.require_tls_for_headers {
            true => errors.push(FieldError::new(at(endpoint_field), format!("{problem} (require_tls_for_headers)"))),
            false => warnings.push(format!("{}: {problem}", at(endpoint_field))),
        }
    }
    if sink.level.parse::<tracing_subscriber::filter::LevelFilter>().is_err() {
        errors.push(FieldError::new(at("level"), "must be one of trace, debug, info, warn, error, off"));
    }
    let export_interval = duration(errors, &at("export_interval"), &sink.export_interval);
    let timeout = duration(errors, &at("timeout"), &sink.timeout);
    let retry_max_elapsed = duration(errors, &at("retry_max_elapsed"), &sink.retry_max_elapsed);
    if !(1..=100_000).contains(&sink.batch_size) {
        errors.push(FieldError::new(at("batch_size"), "must be between 1 and 100000"));
    }
    if sink.queue_capacity < sink.batch_size || sink.queue_capacity > 10_000_000 {
        errors.push(FieldError::new(at("queue_capacity"), "must be at least batch_size and at most 10000000"));
    }
    if sink.max_retries > 100 {
        errors.push(FieldError::new(at("max_retries"), "must be at most 100"));
    }
    let gzip = parse_compression(&at("compression"), &sink.compression, errors);
    let ca_pem = sink.ca_file.as_ref().and_then(|path| {
        let pem = std::fs::read(path)
            .map_err(|e| errors.push(FieldError::new(at("ca_file"), format!("cannot read {}: {e}", path.display()))))
            .ok()?;
        validate_ca_pem(&pem).map_err(|e| errors.push(FieldError::new(at("ca_file"), e.to_string()))).ok()?;
        Some(pem)
    });
    let endpoint = endpoint?;
    if errors.len() > before {
        return None;
    }
    let mut config = ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver));
    config.protocol = protocol;
    config.headers = sink.headers.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    config.export_interval = export_interval;
    config.batch_size = sink.batch_size;
    config.timeout = timeout;
    config.max_retries = sink.max_retries;
    config.max_elapsed = retry_max_elapsed;
    config.queue_capacity = sink.queue_capacity;
    config.gzip = gzip;
    config.resource = resource;
    config.initial_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(5);
    config.ca_pem = ca_pem;
    Some(config)
}

fn parse_protocol(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Protocol {
    match value {
        "http/protobuf" => Protocol::HttpProtobuf,
        "http/json" => Protocol::HttpJson,
        "grpc" => {
            errors.push(FieldError::new(field, "grpc is not supported; use http/protobuf or http/json"));
            Protocol::HttpProtobuf
        }
        other => {
            errors.push(FieldError::new(
                field,
                format!("unknown protocol {other:?}; supported: http/protobuf, http/json"),
            ));
            Protocol::HttpProtobuf
        }
    }
}

fn parse_compression(field: &str, value: &str, errors: &mut Vec<FieldError>) -> bool {
    match value {
        "gzip" => true,
        "none" => false,
        _ => {
            errors.push(FieldError::new(field, "must be gzip or none"));
            false
        }
    }
}

/// One signal's exporter: the sink's settings (`base`, already sent to the signal's
/// endpoint) with the signal's own options over them.
pub(super) fn for_signal(
    at: &dyn Fn(&str) -> String,
    signal: &str,
    options: &SignalOptions,
    sink: &OtlpSinkConfig,
    mut config: ExporterConfig,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> Option<ExporterConfig> {
    let before = errors.len();
    let field = |option: &str| at(&format!("per_signal.{signal}.{option}"));
    if let Some(protocol) = &options.protocol {
        config.protocol = parse_protocol(&field("protocol"), protocol, errors);
    }
    if let Some(compression) = &options.compression {
        config.gzip = parse_compression(&field("compression"), compression, errors);
    }
    if let Some(timeout) = &options.timeout {
        config.timeout = duration(errors, &field("timeout"), timeout);
    }
    if let Some(interval) = &options.export_interval {
        config.export_interval = duration(errors, &field("export_interval"), interval);
    }
    if let Some(n) = options.batch_size {
        if !(1..=100_000).contains(&n) {
            errors.push(FieldError::new(field("batch_size"), "must be between 1 and 100000"));
        }
        config.batch_size = n;
    }
    if let Some(n) = options.queue_capacity {
        config.queue_capacity = n;
    }
    if (options.batch_size.is_some() || options.queue_capacity.is_some())
        && (config.queue_capacity < config.batch_size || config.queue_capacity > 10_000_000)
    {
        errors.push(FieldError::new(field("queue_capacity"), "must be at least batch_size and at most 10000000"));
    }
    for (name, value) in &options.headers.0 {
        if let Err(e) = check_header(name, value) {
            errors.push(FieldError::new(field(&format!("headers.{}", name.escape_debug())), e.0));
        }
        config.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        config.headers.push((name.clone(), value.clone()));
    }
    if !options.headers.0.is_empty()
        && let Some(problem) = tls_problem(&config.endpoint, true)
    {
        match sink.require_tls_for_headers {
            true => errors.push(FieldError::new(field("headers"), format!("{problem} (require_tls_for_headers)"))),
            false => warnings.push(format!("{}: {problem}", field("headers"))),
        }
    }
    (errors.len() == before).then_some(config)
}

/// Whether the sink exports its log events (`logs: otlp`), or only spans (`logs: none`).
pub(super) fn exports_logs(at: &dyn Fn(&str) -> String, sink: &OtlpSinkConfig, errors: &mut Vec<FieldError>) -> bool {
    match sink.logs.as_str() {
        "otlp" => true,
        "none" => false,
        other => {
            errors.push(FieldError::new(at("logs"), format!("unknown exporter {other:?}; supported: otlp, none")));
            false
        }
    }
}

/// The trace exporter of the `otlp` sink: the log exporter's settings (headers, protocol,
/// TLS, batching, retries, policy) sent to the traces endpoint, unless `traces: none`.
pub(super) fn check_traces(
    at: &dyn Fn(&str) -> String,
    sink: &OtlpSinkConfig,
    base: &ExporterConfig,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> Option<ExporterConfig> {
    let config =
        check_signal(at, sink, base, errors, ("traces", &sink.traces), ("traces_endpoint", &sink.traces_endpoint))?;
    for_signal(at, "traces", &sink.per_signal.traces, sink, config, errors, warnings)
}

/// The metric exporter of the `otlp` sink and its reading interval: the log exporter's
/// settings sent to the metrics endpoint, unless `metrics: none`.
pub(super) fn check_metrics(
    at: &dyn Fn(&str) -> String,
    sink: &OtlpSinkConfig,
    base: &ExporterConfig,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> Option<(ExporterConfig, Duration)> {
    let interval = duration(errors, &at("metrics_interval"), &sink.metrics_interval);
    if !(Duration::from_millis(100)..=Duration::from_secs(86_400)).contains(&interval) {
        errors.push(FieldError::new(at("metrics_interval"), "must be between 100ms and 24h"));
        return None;
    }
    let config =
        check_signal(at, sink, base, errors, ("metrics", &sink.metrics), ("metrics_endpoint", &sink.metrics_endpoint))?;
    let config = for_signal(at, "metrics", &sink.per_signal.metrics, sink, config, errors, warnings)?;
    Some((config, interval))
}

/// One more signal's exporter: `exporter` is its `otlp` | `none` setting, `endpoint` its
/// per-signal URL setting (empty: `{endpoint}/v1/{signal}`).
fn check_signal(
    at: &dyn Fn(&str) -> String,
    sink: &OtlpSinkConfig,
    base: &ExporterConfig,
    errors: &mut Vec<FieldError>,
    exporter: (&str, &str),
    endpoint: (&str, &str),
) -> Option<ExporterConfig> {
    match exporter.1 {
        "otlp" => {}
        "none" => return None,
        other => {
            errors.push(FieldError::new(at(exporter.0), format!("unknown exporter {other:?}; supported: otlp, none")));
            return None;
        }
    }
    let (field, checked) = if endpoint.1.is_empty() {
        let path = format!("/v1/{}", exporter.0);
        ("endpoint", base.policy.check_signal_endpoint(&sink.endpoint, &path, &SystemResolver))
    } else {
        (endpoint.0, base.policy.check_logs_url(endpoint.1, &SystemResolver))
    };
    match checked {
        Ok(endpoint) => Some(ExporterConfig { endpoint, ..base.clone() }),
        Err(e) => {
            errors.push(FieldError::new(at(field), e.0));
            None
        }
    }
}
