use super::*;
use synthorg_core::price::Catalogue;

fn load_yaml(yaml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthorg.yaml");
    std::fs::write(&path, yaml).unwrap();
    let vars = |prefix: &str| {
        env.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    load(&Sources { file: Some(path), env: vars(ENV_PREFIX), otel: vars(otlp::OTEL_PREFIX), flags: vec![] })
}

fn fields(result: Result<Settings, ConfigErrors>) -> Vec<String> {
    result.unwrap_err().0.into_iter().map(|e| e.field).collect()
}

#[test]
fn the_default_file_is_the_default_config() {
    let settings = load_yaml(DEFAULT_YAML, &[]).unwrap();
    assert_eq!(settings.config, Config::default());
    assert_eq!(settings.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(settings.api.request_timeout, Duration::from_secs(30));
    assert!(load_yaml("", &[]).is_ok(), "an empty file is all defaults");
}

#[test]
fn every_unknown_key_is_reported() {
    let yaml = "server:\n  bnd: x\n  port: 3\nbudget:\n  alerts:\n    warning: 5\nextra: 1\n";
    let mut got = fields(load_yaml(yaml, &[]));
    got.sort();
    assert_eq!(got, ["budget.alerts.warning", "extra", "server.bnd", "server.port"]);
}

#[test]
fn structural_and_semantic_errors_are_reported_together() {
    let yaml = r#"
server:
  bind: "not an address"
  request_timeout: 5
budget:
  reset_day: 29
  total_monthly: "abc"
  alerts: {warn: 90, critical: 80, hard_stop: 100}
auth:
  exclude_paths: ["^/ok$", "("]
logging:
  format: xml
"#;
    let errors = load_yaml(yaml, &[]).unwrap_err();
    let text = errors.to_string();
    let mut got: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "auth.exclude_paths[1]",
            "budget.alerts",
            "budget.reset_day",
            "budget.total_monthly",
            "logging.format",
            "server.bind",
            "server.request_timeout",
        ],
        "{text}"
    );
    assert!(text.contains("must be between 1 and 28, got 29"), "{text}");
    assert!(text.contains("strictly increasing"), "{text}");
}

#[test]
fn environment_overrides_the_file() {
    let s = load_yaml(
        "server:\n  bind: 127.0.0.1:1\n",
        &[("SYNTHORG_SERVER__BIND", "127.0.0.1:9"), ("SYNTHORG_BUDGET__TOTAL_MONTHLY", "250.5")],
    )
    .unwrap();
    assert_eq!(s.bind.port(), 9);
    assert_eq!(s.config.budget.total_monthly.to_string(), "250.5");
    let errors = fields(load_yaml("", &[("SYNTHORG_BUDGET__RESET_DAY", "0"), ("SYNTHORG_NOPE__X", "1")]));
    assert_eq!(errors, ["nope", "budget.reset_day"]);
}

#[test]
fn exclude_paths_always_keep_metrics() {
    let s = load_yaml("auth:\n  exclude_paths: ['^/status$']\n", &[]).unwrap();
    assert_eq!(s.api.exclude_paths.patterns(), ["^/status$", "^/api/v1/metrics$"]);
}

#[test]
fn bootstrap_key_file_stays_inside_the_data_dir() {
    assert_eq!(fields(load_yaml("auth:\n  bootstrap_key_file: ../x\n", &[])), ["auth.bootstrap_key_file"]);
    assert_eq!(fields(load_yaml("auth:\n  bootstrap_key_file: /etc/x\n", &[])), ["auth.bootstrap_key_file"]);
}

#[test]
fn invalid_yaml_and_missing_files_are_errors() {
    assert_eq!(fields(load_yaml("server: [", &[])).len(), 1);
    assert_eq!(fields(load_yaml("- a list", &[])).len(), 1);
    let missing = load(&Sources { file: Some("/nonexistent/synthorg.yaml".into()), ..Default::default() });
    assert!(missing.unwrap_err().to_string().contains("cannot read"));
}

#[test]
fn printing_redacts_secret_named_values() {
    let mut config = Config::default();
    config.security.policies.insert(TrustLevel::Custom, LevelPolicy::default());
    let printed = redacted_json(&config);
    assert!(printed.contains("\"bind\""));
    let mut v: Value = serde_json::from_str(&printed).unwrap();
    v["server"]["api_token"] = Value::String("x".into());
    synthorg_core::security::redact_json(&mut v);
    assert_eq!(v["server"]["api_token"], "**REDACTED**");
}

#[test]
fn metrics_settings_are_checked() {
    let errors = fields(load_yaml("metrics:\n  prefix: 1bad-name\n  max_agent_series: 0\n", &[]));
    assert_eq!(errors, ["metrics.prefix", "metrics.max_agent_series"]);
    let s = load_yaml("metrics:\n  enabled: false\n", &[]).unwrap();
    assert!(s.api.metrics.is_none());
    let s = load_yaml("metrics:\n  prefix: acme_org\n", &[]).unwrap();
    assert_eq!(s.api.metrics.unwrap().prefix, "acme_org");
}

#[test]
fn log_sinks_are_checked() {
    let yaml = r#"
logging:
  sinks:
    - {type: file, path: ok.log}
    - {type: file, path: ../escape.log}
    - {type: file, path: /var/log/abs.log}
    - {type: file, path: ok.log}
    - {type: file, path: small.log, max_bytes: 10, level: "nope=="}
    - {type: prometheus}
"#;
    let got = fields(load_yaml(yaml, &[]));
    assert_eq!(
        got,
        [
            "logging.sinks[1].path",
            "logging.sinks[2].path",
            "logging.sinks[3].path",
            "logging.sinks[4].level",
            "logging.sinks[4].max_bytes"
        ]
    );
    let unknown = fields(load_yaml("logging:\n  sinks:\n    - {type: syslog, endpoint: x}\n", &[]));
    assert_eq!(unknown, ["logging.sinks[0].type"]);
    let s = load_yaml(
        "logging:\n  sinks:\n    - {type: file, path: audit/audit.log, targets: [synthorg::audit], gzip: true}\n",
        &[],
    )
    .unwrap();
    assert!(matches!(&s.config.logging.sinks[0], SinkConfig::File { gzip: true, max_files: 5, .. }));
}

#[test]
fn an_otlp_sink_is_checked_like_every_other_setting() {
    let yaml = r#"
logging:
  sinks:
    - type: otlp
      endpoint: "http://0x7f.2:4318"
      protocol: grpc
      headers: {"x-token": "abc\r\nInjected: 1", "bad name": "v"}
      compression: brotli
      batch_size: 0
      timeout: soon
      allowed_private_cidrs: ["10.0.0.0/8", "ten"]
      level: loud
    - type: otlp
"#;
    let errors = load_yaml(yaml, &[]).unwrap_err();
    let text = errors.to_string();
    let mut got: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "logging.sinks[0].allowed_private_cidrs[1]",
            "logging.sinks[0].batch_size",
            "logging.sinks[0].compression",
            "logging.sinks[0].endpoint",
            "logging.sinks[0].headers.bad name",
            "logging.sinks[0].headers.x-token",
            "logging.sinks[0].level",
            "logging.sinks[0].protocol",
            "logging.sinks[0].timeout",
            "logging.sinks[1]",
        ],
        "{text}"
    );
    assert!(text.contains("grpc is not supported; use http/protobuf or http/json"), "{text}");
    assert!(text.contains("loopback"), "0x7f.2 is 127.0.0.2 spelled otherwise: {text}");
    assert!(text.contains("header injection"), "{text}");
    assert!(!text.contains("Injected"), "header values never appear in errors: {text}");
}

#[test]
fn otlp_endpoints_are_hardened_at_load() {
    let endpoint = |e: &str, extra: &str| {
        let yaml = format!("logging:\n  sinks:\n    - {{type: otlp, endpoint: \"{e}\"{extra}}}\n");
        load_yaml(&yaml, &[]).map(|s| s.otlp.unwrap().endpoint.logs_url.to_string()).map_err(|e| e.to_string())
    };
    assert_eq!(endpoint("http://localhost:4318", "").unwrap(), "http://localhost:4318/v1/logs");
    assert_eq!(endpoint("http://127.0.0.1:4318/v1/logs", "").unwrap(), "http://127.0.0.1:4318/v1/logs");
    assert_eq!(endpoint("http://[::1]:4318/otlp", "").unwrap(), "http://[::1]:4318/otlp/v1/logs");
    for refused in ["http://169.254.169.254", "http://10.1.2.3:4318", "http://user:pw@127.0.0.1", "ftp://127.0.0.1"] {
        assert!(endpoint(refused, "").unwrap_err().contains("logging.sinks[0].endpoint"), "{refused}");
    }
    // The hint names a key that exists, in the sink the error is reported under.
    let private = endpoint("http://10.1.2.3:4318", "").unwrap_err();
    assert!(private.contains("with this sink's allowed_private_cidrs") && !private.contains("otlp."), "{private}");
    assert!(endpoint("http://10.1.2.3:4318", ", allowed_private_cidrs: [10.0.0.0/8]").is_ok());
    let metadata = endpoint("http://169.254.169.254", ", allowed_private_cidrs: [169.254.0.0/16]").unwrap_err();
    assert!(metadata.contains("metadata"), "{metadata}");
}

#[test]
fn headers_over_plain_http_warn_or_fail() {
    let yaml = |require: bool| {
        format!(
            "logging:\n  sinks:\n    - {{type: otlp, endpoint: \"http://10.0.0.5:4318\", allowed_private_cidrs: [10.0.0.0/8], headers: {{authorization: \"Bearer s3cret\"}}, require_tls_for_headers: {require}}}\n"
        )
    };
    let settings = load_yaml(&yaml(false), &[]).unwrap();
    assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
    assert!(settings.warnings[0].contains("plain http"));
    let errors = load_yaml(&yaml(true), &[]).unwrap_err().to_string();
    assert!(errors.contains("logging.sinks[0].endpoint") && errors.contains("require_tls_for_headers"), "{errors}");
    assert!(!errors.contains("s3cret"));
    // No warning for loopback collectors, nor without headers.
    let local = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:4318\", headers: {a: b}}\n";
    assert!(load_yaml(local, &[]).unwrap().warnings.is_empty());
    // Header values are never printed.
    let settings = load_yaml(&yaml(false), &[]).unwrap();
    assert!(!format!("{settings:?}").contains("s3cret"));
    assert!(!redacted_json(&settings.config).contains("s3cret"));
}

/// Traces go where logs go unless told otherwise: `{endpoint}/v1/traces`, the per-signal
/// variable as is, or nowhere with `OTEL_TRACES_EXPORTER=none`; the log exporter's other
/// settings carry over.
#[test]
fn the_trace_exporter_follows_the_otel_variables() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let settings = load_yaml("", &[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap();
    let traces = settings.otlp_traces.unwrap();
    assert_eq!(traces.endpoint.logs_url.as_str(), "http://127.0.0.1:4318/v1/traces");
    assert_eq!(traces.protocol, synthorg_telemetry::otlp::Protocol::HttpJson, "shared with the logs");
    let own = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9999/spans");
    let settings = load_yaml("", &[base, ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:1/l"), own]).unwrap();
    assert_eq!(settings.otlp_traces.unwrap().endpoint.logs_url.as_str(), "http://127.0.0.1:9999/spans", "as is");
    assert_eq!(settings.otlp.unwrap().endpoint.logs_url.as_str(), "http://127.0.0.1:1/l");
    let settings = load_yaml("", &[base, ("OTEL_TRACES_EXPORTER", "none")]).unwrap();
    assert!(settings.otlp_traces.is_none() && settings.otlp.is_some(), "logs only");
    let settings = load_yaml("", &[base, ("OTEL_LOGS_EXPORTER", "none")]).unwrap();
    assert!(settings.otlp_traces.is_some() && settings.otlp.is_none(), "traces only");
    assert!(load_yaml("", &[]).unwrap().otlp_traces.is_none(), "no otlp sink, no traces");
    let yaml = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:4318\", traces: none}\n";
    assert!(load_yaml(yaml, &[]).unwrap().otlp_traces.is_none(), "traces: none in the file");
    for (name, value, said) in [
        ("OTEL_TRACES_EXPORTER", "zipkin", "supported: otlp, none"),
        ("OTEL_LOGS_EXPORTER", "console", "supported: otlp, none"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/x?y=1", "query string"),
    ] {
        let errors = load_yaml("", &[base, (name, value)]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        assert_eq!(errors[0].field, format!("env {name}"), "{errors:?}");
        assert!(errors[0].message.contains(said), "{errors:?}");
    }
}

/// Without the general endpoint, each signal's own endpoint enables that signal only: the
/// others are not sent to the default `localhost:4318` nobody named.
#[test]
fn a_signals_own_endpoint_alone_enables_that_signal_only() {
    let logs = ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:9001/v1/logs");
    let traces = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9002/v1/traces");
    let metrics = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:9003/v1/metrics");
    let url = |e: &synthorg_telemetry::otlp::ExporterConfig| e.endpoint.logs_url.to_string();
    let s = load_yaml("", &[traces]).unwrap();
    assert_eq!(s.otlp_traces.as_ref().map(url).as_deref(), Some(traces.1));
    assert!(s.otlp.is_none() && s.otlp_metrics.is_none(), "traces only");
    let s = load_yaml("", &[metrics]).unwrap();
    assert_eq!(s.otlp_metrics.as_ref().map(|(m, _)| url(m)).as_deref(), Some(metrics.1));
    assert!(s.otlp.is_none() && s.otlp_traces.is_none(), "metrics only");
    let s = load_yaml("", &[logs]).unwrap();
    assert_eq!(s.otlp.as_ref().map(url).as_deref(), Some(logs.1));
    assert!(s.otlp_traces.is_none() && s.otlp_metrics.is_none(), "logs only");
    let s = load_yaml("", &[logs, metrics]).unwrap();
    assert!(s.otlp.is_some() && s.otlp_metrics.is_some() && s.otlp_traces.is_none(), "the two named");
    // A signal's exporter variable still asks for it (to the specification's default address).
    let s = load_yaml("", &[traces, ("OTEL_LOGS_EXPORTER", "otlp")]).unwrap();
    assert!(s.otlp.is_some() && s.otlp_traces.is_some() && s.otlp_metrics.is_none());
    // With the general endpoint, every signal is sent; one's own endpoint moves that one.
    let s = load_yaml("", &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), traces]).unwrap();
    assert!(s.otlp.is_some() && s.otlp_metrics.is_some());
    assert_eq!(s.otlp_traces.as_ref().map(url).as_deref(), Some(traces.1));
}

/// `OTEL_SDK_DISABLED=true` turns every OTLP export off, whether the endpoint comes from the
/// environment or the file; a value that is not a boolean is read as false, with a warning.
#[test]
fn otel_sdk_disabled_turns_every_export_off() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let off = |s: &Settings| s.otlp.is_none() && s.otlp_traces.is_none() && s.otlp_metrics.is_none();
    for value in ["true", "TRUE", " True "] {
        let s = load_yaml("", &[base, ("OTEL_SDK_DISABLED", value)]).unwrap();
        assert!(off(&s) && s.warnings.is_empty(), "{value:?}");
    }
    let yaml = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:4318\"}\n";
    assert!(!off(&load_yaml(yaml, &[]).unwrap()), "the file's sink exports");
    assert!(off(&load_yaml(yaml, &[("OTEL_SDK_DISABLED", "true")]).unwrap()), "and is turned off");
    for value in ["false", ""] {
        let s = load_yaml("", &[base, ("OTEL_SDK_DISABLED", value)]).unwrap();
        assert!(!off(&s) && s.warnings.is_empty(), "{value:?}");
    }
    let s = load_yaml("", &[base, ("OTEL_SDK_DISABLED", "yes")]).unwrap();
    assert!(!off(&s), "not a true value");
    assert!(
        s.warnings.iter().any(|w| w.starts_with("OTEL_SDK_DISABLED is neither true nor false")),
        "{:?}",
        s.warnings
    );
}

/// The batch processors' variables set their own signal's batching only: `OTEL_BLRP_*` the
/// log records', `OTEL_BSP_*` the spans'; the metric push keeps the sink's queue.
#[test]
fn batch_processor_variables_apply_to_their_own_signal() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "250"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "3000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "2048"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ("OTEL_BSP_SCHEDULE_DELAY", "5000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "4000"),
    ];
    let s = load_yaml("", &env).unwrap();
    let logs = s.otlp.unwrap();
    let traces = s.otlp_traces.unwrap();
    let (metrics, _) = s.otlp_metrics.unwrap();
    let batching =
        |c: &synthorg_telemetry::otlp::ExporterConfig| (c.queue_capacity, c.batch_size, c.export_interval, c.timeout);
    let ms = Duration::from_millis;
    assert_eq!(batching(&logs), (100, 50, ms(250), ms(3000)));
    assert_eq!(batching(&traces), (2048, 256, ms(5000), ms(4000)));
    assert_eq!(batching(&metrics), (65_536, 512, ms(1000), ms(10_000)), "the sink's own");
    // The exporter's own timeout wins over the processor's.
    let s = load_yaml("", &[env[0], env[8], ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500")]).unwrap();
    assert_eq!(s.otlp_traces.unwrap().timeout, ms(1500));
    for (name, value, said) in [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots", "whole number"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon", "milliseconds"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", "between 1 and"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "10", "at least batch_size"),
    ] {
        let errors = load_yaml("", &[env[0], (name, value)]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        assert_eq!(errors[0].field, format!("env {name}"), "{errors:?}");
        assert!(errors[0].message.contains(said), "{errors:?}");
    }
}

/// `OTEL_TRACES_SAMPLER` (+ `_ARG`) and `OTEL_PROPAGATORS` choose the trace policy; values
/// synthorg does not have are named in a warning and the default is kept.
#[test]
fn the_sampler_and_propagators_follow_the_otel_variables() {
    use synthorg_telemetry::context::{Sampler, TracePolicy};
    let policy = |env: &[(&str, &str)]| {
        let s = load_yaml("", env).unwrap();
        (s.api.trace_policy, s.warnings)
    };
    let default = TracePolicy::default();
    assert_eq!(policy(&[]), (default, vec![]));
    let cases = [
        ("always_on", None, Sampler::AlwaysOn, false),
        ("ALWAYS_OFF", None, Sampler::AlwaysOff, false),
        ("traceidratio", Some("0"), Sampler::TraceIdRatio(0.0), false),
        ("traceidratio", None, Sampler::TraceIdRatio(1.0), false),
        ("parentbased_always_off", None, Sampler::AlwaysOff, true),
        ("parentbased_traceidratio", Some("0.25"), Sampler::TraceIdRatio(0.25), true),
    ];
    for (sampler, arg, expected, parent_based) in cases {
        let mut env = vec![("OTEL_TRACES_SAMPLER", sampler)];
        env.extend(arg.map(|a| ("OTEL_TRACES_SAMPLER_ARG", a)));
        let (got, warnings) = policy(&env);
        assert_eq!((got.sampler, got.parent_based, warnings.len()), (expected, parent_based, 0), "{sampler}");
    }
    let ratio_one = TracePolicy { sampler: Sampler::TraceIdRatio(1.0), parent_based: false, ..default };
    for (env, said, expected) in [
        (&[("OTEL_TRACES_SAMPLER", "bogus")][..], "OTEL_TRACES_SAMPLER names a sampler", default),
        (&[("OTEL_TRACES_SAMPLER", "jaeger_remote")][..], "OTEL_TRACES_SAMPLER names a sampler", default),
        (
            &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")][..],
            "OTEL_TRACES_SAMPLER_ARG",
            ratio_one,
        ),
        (&[("OTEL_PROPAGATORS", "tracecontext,b3")][..], "OTEL_PROPAGATORS names propagators", default),
    ] {
        let (got, warnings) = policy(env);
        assert_eq!(got, expected, "{env:?}");
        assert!(warnings.len() == 1 && warnings[0].starts_with(said), "{warnings:?}");
    }
    assert!(!policy(&[("OTEL_PROPAGATORS", "none")]).0.tracecontext);
    assert!(!policy(&[("OTEL_PROPAGATORS", "baggage")]).0.tracecontext);
    assert_eq!(policy(&[("OTEL_PROPAGATORS", "baggage, TraceContext")]), (default, vec![]));
}

/// Metrics are pushed where logs go unless told otherwise: `{endpoint}/v1/metrics`, the
/// per-signal variable as is, every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (default 60 s),
/// or not at all with `OTEL_METRICS_EXPORTER=none`.
#[test]
fn the_metric_exporter_follows_the_otel_variables() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let settings = load_yaml("", &[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap();
    let (metrics, interval) = settings.otlp_metrics.unwrap();
    assert_eq!(metrics.endpoint.logs_url.as_str(), "http://127.0.0.1:4318/v1/metrics");
    assert_eq!(metrics.protocol, synthorg_telemetry::otlp::Protocol::HttpJson, "shared with the logs");
    assert_eq!(interval, Duration::from_secs(60), "the specification's default");
    let own = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:9999/points");
    let settings = load_yaml("", &[base, own, ("OTEL_METRIC_EXPORT_INTERVAL", "15000")]).unwrap();
    let (metrics, interval) = settings.otlp_metrics.unwrap();
    assert_eq!(metrics.endpoint.logs_url.as_str(), "http://127.0.0.1:9999/points", "as is");
    assert_eq!(interval, Duration::from_secs(15));
    let settings = load_yaml("", &[base, ("OTEL_METRICS_EXPORTER", "none")]).unwrap();
    assert!(settings.otlp_metrics.is_none() && settings.otlp_traces.is_some() && settings.otlp.is_some());
    let yaml = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:4318\", metrics: none}\n";
    assert!(load_yaml(yaml, &[]).unwrap().otlp_metrics.is_none(), "metrics: none in the file");
    assert!(load_yaml("", &[]).unwrap().otlp_metrics.is_none(), "no otlp sink, no push");
    for (name, value, said) in [
        ("OTEL_METRICS_EXPORTER", "prometheus", "supported: otlp, none"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "milliseconds"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5", "between 100ms and 24h"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://169.254.169.254/v1/metrics", "cloud metadata"),
    ] {
        let errors = load_yaml("", &[base, (name, value)]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        assert_eq!(errors[0].field, format!("env {name}"), "{errors:?}");
        assert!(errors[0].message.contains(said), "{errors:?}");
    }
}

/// A signal's own variables (`OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_*`) set that signal
/// only, over the general ones; so does `per_signal` in the file.
#[test]
fn per_signal_variables_set_their_signal_only() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1500"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=all,authorization=a"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-tenant=logs"),
    ];
    let settings = load_yaml("", &env).unwrap();
    let (logs, traces, (metrics, _)) =
        (settings.otlp.unwrap(), settings.otlp_traces.unwrap(), settings.otlp_metrics.unwrap());
    use synthorg_telemetry::otlp::Protocol;
    assert_eq!(
        (logs.protocol, traces.protocol, metrics.protocol),
        (Protocol::HttpJson, Protocol::HttpProtobuf, Protocol::HttpJson)
    );
    assert_eq!((logs.timeout, metrics.timeout), (Duration::from_secs(10), Duration::from_millis(1500)));
    assert_eq!((logs.gzip, traces.gzip, metrics.gzip), (false, true, false));
    let headers = |c: &synthorg_telemetry::otlp::ExporterConfig| -> BTreeMap<String, String> {
        c.headers.iter().cloned().collect()
    };
    assert_eq!(headers(&logs).get("x-tenant").map(String::as_str), Some("logs"), "the logs variable wins for logs");
    assert_eq!(headers(&logs).get("authorization").map(String::as_str), Some("a"), "the general ones stay");
    assert_eq!(headers(&traces).get("x-tenant").map(String::as_str), Some("all"), "not for traces");
    let yaml = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:4318\", per_signal: {metrics: {protocol: http/json}}}\n";
    let settings = load_yaml(yaml, &[]).unwrap();
    assert_eq!(settings.otlp_metrics.unwrap().0.protocol, Protocol::HttpJson);
    assert_eq!(settings.otlp.unwrap().protocol, Protocol::HttpProtobuf);
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    // The metric reader's own timeout variable, and the temporality the push has.
    let env = [
        base,
        ("OTEL_METRIC_EXPORT_TIMEOUT", "30000"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Cumulative"),
    ];
    assert_eq!(load_yaml("", &env).unwrap().otlp_metrics.unwrap().0.timeout, Duration::from_secs(30));
    for (name, value, said) in [
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", "grpc is not supported"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon", "milliseconds"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "zstd", "gzip or none"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-bad=a\nb", "header"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta", "cumulative metrics only"),
    ] {
        let errors = load_yaml("", &[base, (name, value)]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        assert_eq!(errors[0].field, format!("env {name}"), "{errors:?}");
        assert!(errors[0].message.contains(said), "{errors:?}");
    }
}

#[test]
fn standard_otel_variables_configure_the_exporter() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:9999"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-tenant=t1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_SERVICE_NAME", "billing-agents"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"),
    ];
    let settings = load_yaml("", &env).unwrap();
    let otlp = settings.otlp.unwrap();
    // The per-signal variable wins, and is used as is (no path: the root), as the
    // OpenTelemetry specification requires; the general one gets /v1/logs appended.
    assert_eq!(otlp.endpoint.logs_url.as_str(), "http://127.0.0.1:9999/", "the logs variable wins, as is");
    assert_eq!(otlp.protocol, synthorg_telemetry::otlp::Protocol::HttpJson);
    assert_eq!(otlp.timeout, Duration::from_millis(2500));
    assert_eq!(otlp.queue_capacity, 4096);
    assert!(otlp.gzip);
    let headers: BTreeMap<_, _> = otlp.headers.iter().cloned().collect();
    assert_eq!(headers.get("authorization").map(String::as_str), Some("Bearer abc"));
    assert_eq!(headers.get("x-tenant").map(String::as_str), Some("t1"));
    let resource: BTreeMap<_, _> = otlp.resource.iter().cloned().collect();
    assert_eq!(resource["service.name"], "billing-agents");
    assert_eq!(resource["deployment.environment"], "prod");
    assert_eq!(resource["service.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(resource["service.instance.id"].len(), 36);
    // A malformed OTEL_RESOURCE_ATTRIBUTES is discarded whole, with a warning naming it.
    let mut malformed = env.to_vec();
    malformed[8] = ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,oops,team=x");
    let settings = load_yaml("", &malformed).expect("starts");
    let resource: BTreeMap<_, _> = settings.otlp.unwrap().resource.into_iter().collect();
    assert!(!resource.contains_key("deployment.environment") && !resource.contains_key("team"), "{resource:?}");
    assert_eq!(resource["service.name"], "billing-agents");
    assert!(
        settings.warnings.iter().any(|w| w.starts_with("OTEL_RESOURCE_ATTRIBUTES is malformed")),
        "{:?}",
        settings.warnings
    );
    // A configured sink keeps its other settings; SYNTHORG_ variables are not about lists.
    let yaml = "logging:\n  sinks:\n    - {type: otlp, endpoint: \"http://127.0.0.1:1\", batch_size: 64}\n";
    let otlp = load_yaml(yaml, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:4318")]).unwrap().otlp.unwrap();
    assert_eq!((otlp.endpoint.logs_url.as_str(), otlp.batch_size), ("http://[::1]:4318/v1/logs", 64));
    let custom = [("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318/ingest/logs")];
    let otlp = load_yaml(yaml, &custom).unwrap().otlp.unwrap();
    assert_eq!((otlp.endpoint.logs_url.as_str(), otlp.batch_size), ("http://127.0.0.1:4318/ingest/logs", 64));
    // A bad value from a variable is reported under the variable's name.
    for (name, value, said) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://127.0.0.1:4318", "scheme"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:4318/x?y=1", "query string"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "grpc is not supported"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip or none"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "0", "between 1 and"),
    ] {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let env: Vec<_> = [base, (name, value)].into_iter().filter(|(n, v)| *n != name || *v == value).collect();
        let errors = load_yaml("", &env).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        assert_eq!(errors[0].field, format!("env {name}"), "{errors:?}");
        assert!(errors[0].message.contains(said) && errors[0].message.contains("(as logging.sinks[0]."), "{errors:?}");
    }
    // A CA file must be readable PEM with a certificate.
    let dir = tempfile::tempdir().unwrap();
    let bad_pem = dir.path().join("ca.pem");
    std::fs::write(&bad_pem, "not a certificate").unwrap();
    for path in [bad_pem.display().to_string(), "/nonexistent/ca.pem".to_owned()] {
        let yaml = format!(
            "logging:\n  sinks:\n    - {{type: otlp, endpoint: \"https://localhost:4318\", ca_file: \"{path}\"}}\n"
        );
        assert_eq!(fields(load_yaml(&yaml, &[])), ["logging.sinks[0].ca_file"], "{path}");
    }
    // Bad values name the variable.
    let bad = fields(load_yaml(
        "",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
    ));
    assert_eq!(bad, ["env OTEL_EXPORTER_OTLP_TIMEOUT"]);
    // Without an endpoint variable and without a sink, no exporter.
    assert!(load_yaml("", &[("OTEL_SERVICE_NAME", "x")]).unwrap().otlp.is_none());
}

#[test]
fn the_database_section_selects_and_checks_the_store() {
    let settings = load_yaml("", &[]).unwrap();
    assert!(matches!(settings.store, StoreLocation::Sqlite(ref dir) if dir == Path::new("./data")));

    let url = "postgres://app:pa55word@db.internal:5432/synthorg";
    let yaml = "database:\n  pool_size: 4\n  schema: org_a\n  statement_timeout: 2s\n";
    let settings = load_yaml(yaml, &[("SYNTHORG_DATABASE__URL", url)]).unwrap();
    let StoreLocation::Postgres { url: ref got, ref options } = settings.store else { panic!("{:?}", settings.store) };
    assert_eq!(got.0, url);
    assert_eq!((options.pool_size, options.schema.as_deref()), (4, Some("org_a")));
    assert_eq!(options.statement_timeout, Duration::from_secs(2));
    // The password shows nowhere: not in Debug, Display, nor the printed configuration.
    for shown in [format!("{settings:?}"), settings.store.to_string(), redacted_json(&settings.config)] {
        assert!(!shown.contains("pa55word") && shown.contains("db.internal"), "{shown}");
    }

    let yaml = "database:\n  url: mysql://db/x\n  pool_size: 0\n  schema: Bad-Name\n  connect_timeout: soon\n";
    let mut got = fields(load_yaml(yaml, &[]));
    got.sort();
    assert_eq!(got, ["database.connect_timeout", "database.pool_size", "database.schema", "database.url"]);
    let tls = load_yaml("database:\n  url: postgres://db/x?sslmode=require\n  ca_file: /nonexistent/ca.pem\n", &[]);
    assert!(tls.unwrap_err().to_string().contains("database.ca_file: cannot read /nonexistent/ca.pem"));
}

#[test]
fn a_prices_file_extends_or_replaces_the_builtin_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let litellm = dir.path().join("model_prices_and_context_window.json");
    std::fs::write(
        &litellm,
        r#"{"sample_spec": {"litellm_provider": "x"},
            "claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05},
            "gemini/gemini-9-pro": {"litellm_provider": "gemini", "input_cost_per_token": 1e-06,
              "input_cost_per_token_above_200k_tokens": 2e-06, "output_cost_per_token": 5e-06,
              "cache_read_input_token_cost": 1e-07, "output_cost_per_reasoning_token": 6e-06}}"#,
    )
    .unwrap();
    let yaml = dir.path().join("prices.yaml");
    std::fs::write(
        &yaml,
        "version: \"2026-12-01\"\nmodels:\n  - {provider: acme, model: m1, input: 1, output: 2, source: contract 42}\n",
    )
    .unwrap();
    let builtin = Catalogue::builtin();

    let extended = load_yaml(&format!("budget:\n  prices_file: {}\n", litellm.display()), &[]).unwrap().api.prices;
    assert!(
        extended.version().starts_with(&format!("{}+litellm-sha256:", builtin.version())),
        "{}",
        extended.version()
    );
    assert_eq!(extended.models().len(), builtin.models().len() + 1, "one replaced, one added");
    assert_eq!(extended.lookup("anthropic", "claude-sonnet-4-5").unwrap().input.to_string(), "2");
    let nine = extended.lookup("gemini", "gemini-9-pro").unwrap();
    assert_eq!((nine.tiers.len(), nine.reasoning_output.unwrap().to_string()), (1, "6".to_owned()));
    assert!(extended.lookup("openai", "gpt-4.1").is_some(), "the rest of the built-in catalogue stays");

    let replaced = load_yaml(&format!("budget:\n  prices_file: {}\n  prices_mode: replace\n", yaml.display()), &[])
        .unwrap()
        .api
        .prices;
    assert_eq!((replaced.version(), replaced.models().len()), ("2026-12-01", 1));
    assert!(replaced.lookup("openai", "gpt-4.1").is_none());

    // Problems name the setting and the file.
    std::fs::write(
        &yaml,
        "version: \"2026-12-01\"\nmodels:\n  - {provider: acme, model: m1, input: -1, output: 2, source: s}\n",
    )
    .unwrap();
    for config in [
        format!("budget:\n  prices_file: {}\n", yaml.display()),
        format!("budget:\n  prices_file: {}\n", dir.path().join("missing.yaml").display()),
        "budget:\n  prices_mode: replace\n".to_owned(),
    ] {
        let errors = load_yaml(&config, &[]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].field.starts_with("budget.prices_"), "{errors:?}");
    }
    let errors = load_yaml(&format!("budget:\n  prices_file: {}\n", yaml.display()), &[]).unwrap_err().0;
    assert!(errors[0].message.ends_with("line 3 column 40: must not be negative"), "{errors:?}");
}

#[test]
fn rate_limits_are_configured_and_checked() {
    let s = load_yaml("auth:\n  rate_limits:\n    agent: {per_second: 5, burst: 10}\n", &[]).unwrap();
    assert_eq!((s.api.rate_limits.agent.per_second, s.api.rate_limits.agent.burst), (5.0, 10));
    assert_eq!(s.api.rate_limits.admin, synthorg_api::ratelimit::RateLimits::default().admin);
    let off = load_yaml("", &[("SYNTHORG_AUTH__RATE_LIMITS__ENABLED", "false")]).unwrap();
    assert!(!off.api.rate_limits.enabled);
    let errors = fields(load_yaml("auth:\n  rate_limits:\n    viewer: {per_second: -1, burst: 0}\n", &[]));
    assert_eq!(errors, ["auth.rate_limits.viewer.per_second", "auth.rate_limits.viewer.burst"]);
}

#[test]
fn connection_limits_are_configured_and_checked() {
    let s = load_yaml("server:\n  header_read_timeout: 2s\n  idle_timeout: 5s\n  max_connections: 64\n", &[]).unwrap();
    assert_eq!(
        (s.connections.header_read_timeout, s.connections.idle_timeout, s.connections.max_connections),
        (Duration::from_secs(2), Duration::from_secs(5), 64)
    );
    let errors =
        fields(load_yaml("server:\n  header_read_timeout: 0s\n  idle_timeout: soon\n  max_connections: 0\n", &[]));
    assert_eq!(errors, ["server.header_read_timeout", "server.idle_timeout", "server.max_connections"]);
}

#[test]
fn max_report_delay_is_configured_and_checked() {
    assert_eq!(load_yaml("", &[]).unwrap().api.max_report_delay, time::Duration::hours(24));
    let s = load_yaml("budget:\n  max_report_delay: 90m\n", &[]).unwrap();
    assert_eq!(s.api.max_report_delay, time::Duration::minutes(90));
    for bad in ["0s", "a day", "400days"] {
        let errors = load_yaml(&format!("budget:\n  max_report_delay: {bad}\n"), &[]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].field, "budget.max_report_delay", "{bad}: {errors:?}");
    }
}

#[test]
fn gateway_providers_and_routes_are_checked_together() {
    let yaml = r#"
gateway:
  default_max_output_tokens: 0
  timeout: soon
  providers:
    open:
      kind: openai
      base_url: http://169.254.169.254/v1
      api_key_env: SYNTHORG_TEST_NO_SUCH_VARIABLE
    Bad-Name:
      kind: openai
    sim:
      kind: simulated
      base_url: http://127.0.0.1:9/v1
      api_key_env: PATH
    local:
      kind: openai
      base_url: http://127.0.0.1:9/v1
      api_key_env: PATH
      headers_env:
        Authorization: PATH
      allowed_private_cidrs: ["10.0.0.0/8", "ten"]
  routes:
    - model: gpt-4.1*
      provider: nowhere
    - model: "g*pt"
      provider: local
    - model: gpt-4.1-mini
      provider: local
"#;
    let mut got = fields(load_yaml(yaml, &[]));
    got.sort();
    assert_eq!(
        got,
        [
            "gateway.default_max_output_tokens",
            "gateway.providers.Bad-Name",
            "gateway.providers.Bad-Name.base_url",
            "gateway.providers.local.allowed_private_cidrs[1]",
            "gateway.providers.local.headers_env.Authorization",
            "gateway.providers.open.api_key_env",
            "gateway.providers.open.base_url",
            "gateway.providers.sim.api_key_env",
            "gateway.providers.sim.base_url",
            "gateway.routes[0].provider",
            "gateway.routes[1].model",
            "gateway.timeout",
        ]
    );
    // A good one: the key is read from the environment and never printed.
    let yaml = "gateway:\n  providers:\n    local:\n      kind: openai\n      base_url: http://127.0.0.1:9/v1\n      \
                api_key_env: PATH\n  routes:\n    - model: gpt-4.1-mini\n      provider: local\n";
    let settings = load_yaml(yaml, &[]).unwrap();
    let path = std::env::var("PATH").unwrap();
    assert_eq!(settings.gateway.providers[0].api_key.as_ref().map(|k| k.expose()), Some(path.as_str()));
    assert!(!format!("{settings:?}").contains(&path), "the key is in no Debug output");
    assert!(settings.gateway.routes.resolve("gpt-4.1-mini").is_some());
}

#[test]
fn mcp_servers_are_checked_with_every_problem_named() {
    let yaml = r#"
gateway:
  mcp:
    approval_wait: 2h
    idle_timeout: later
    max_processes: 0
    servers:
      both:
        url: http://127.0.0.1:9/mcp
        command: python3
      neither: {}
      meta:
        url: http://169.254.169.254/mcp
      web:
        url: http://127.0.0.1:9/mcp
        args: ["-v"]
        headers_env:
          Mcp-Session-Id: PATH
          X-Token: SYNTHORG_TEST_NO_SUCH_VARIABLE
        allowed_private_cidrs: ["ten"]
      local:
        command: python3
        headers_env:
          X-Token: PATH
        env:
          "1BAD": x
        env_from:
          TOKEN: SYNTHORG_TEST_NO_SUCH_VARIABLE
        action_types:
          read_file: "\u200bread"
      Bad_Name:
        command: x
"#;
    let mut got = fields(load_yaml(yaml, &[]));
    got.sort();
    assert_eq!(
        got,
        [
            "gateway.mcp.approval_wait",
            "gateway.mcp.idle_timeout",
            "gateway.mcp.max_processes",
            "gateway.mcp.servers.Bad_Name",
            "gateway.mcp.servers.both",
            "gateway.mcp.servers.local.action_types.read_file",
            "gateway.mcp.servers.local.env.1BAD",
            "gateway.mcp.servers.local.env_from.TOKEN",
            "gateway.mcp.servers.local.headers_env",
            "gateway.mcp.servers.meta.url",
            "gateway.mcp.servers.neither",
            "gateway.mcp.servers.web.allowed_private_cidrs[0]",
            "gateway.mcp.servers.web.args",
            "gateway.mcp.servers.web.headers_env.Mcp-Session-Id",
            "gateway.mcp.servers.web.headers_env.X-Token",
        ]
    );
    // A good one: secret values come from the environment and print nowhere.
    let yaml = "gateway:\n  mcp:\n    servers:\n      files:\n        command: python3\n        env_from:\n          \
                TOKEN: PATH\n      web:\n        url: http://127.0.0.1:9/mcp\n        headers_env:\n          \
                X-Token: PATH\n";
    let settings = load_yaml(yaml, &[]).unwrap();
    assert_eq!(settings.gateway.mcp.servers.len(), 2);
    let path = std::env::var("PATH").unwrap();
    assert!(!format!("{settings:?}").contains(&path), "no secret is in a Debug output");
}
