use super::*;

fn load_yaml(yaml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthorg.yaml");
    std::fs::write(&path, yaml).unwrap();
    load(&Sources {
        file: Some(path),
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        flags: vec![],
    })
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
    let unknown = fields(load_yaml("logging:\n  sinks:\n    - {type: otlp, endpoint: x}\n", &[]));
    assert_eq!(unknown, ["logging.sinks[0].type"]);
    let s = load_yaml(
        "logging:\n  sinks:\n    - {type: file, path: audit/audit.log, targets: [synthorg::audit], gzip: true}\n",
        &[],
    )
    .unwrap();
    assert!(matches!(&s.config.logging.sinks[0], SinkConfig::File { gzip: true, max_files: 5, .. }));
}
