use std::process::{Command, Output};

use crate::{BIN, Client, Server, temp_dir};

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SYNTHORG_CONFIG").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn keys_create_list_revoke() {
    let (_tmp, data) = temp_dir();
    let dir = data.to_str().unwrap();
    let out = run(&["keys", "create", "--role", "admin", "--label", "ops", "--data-dir", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the key on stdout: {stdout:?}");
    let key = lines[0];
    let re = regex::Regex::new("^sk_[0-9a-f]{16}_[0-9a-f]{64}$").unwrap();
    assert!(re.is_match(key), "{key}");
    let id = &key[3..19];

    // The key works against a server on the same data dir (no bootstrap key: one exists).
    let server = Server::start(&data, &[]);
    assert!(!data.join("admin.key").exists());
    assert_eq!(Client::new(&server.base, key).get("/agents").0, 200);

    let list = text(&run(&["keys", "list", "--data-dir", dir]).stdout);
    assert!(list.contains(id) && list.contains("admin") && list.contains("ops"), "{list}");
    assert!(!list.contains(&key[20..]), "list never shows secrets");
    let revoked = std::time::Instant::now();
    let out = run(&["keys", "revoke", id, "--data-dir", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The running server remembers a key that authenticated for up to a second
    // (synthorg_engine::KEY_FRESH): a revocation by another process holds within that.
    let refused = loop {
        let status = Client::new(&server.base, key).get("/agents").0;
        if status != 200 || revoked.elapsed() > std::time::Duration::from_secs(3) {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(refused, 401, "revocation is seen by the running server within the bound");
    let _ = server.signal("TERM");

    let out = run(&["keys", "revoke", "0000000000000000", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(65));
    let out = run(&["keys", "create", "--role", "agent", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stderr).contains("agent_id"), "{}", text(&out.stderr));
    let out = run(&[
        "keys",
        "create",
        "--role",
        "agent",
        "--agent-id",
        "01a212b3-7180-75ad-b531-a0cc2baf8102",
        "--data-dir",
        dir,
    ]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn config_check_default_and_version() {
    let (tmp, _) = temp_dir();
    let default = run(&["config", "default"]);
    assert!(default.status.success());
    let path = tmp.path().join("synthorg.yaml");
    std::fs::write(&path, &default.stdout).unwrap();
    let out = run(&["config", "check", "--config", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "server:\n  bind: nowhere\n  colour: red\nbudget:\n  reset_day: 0\n  alerts: {warn: 95, critical: 90}\n",
    )
    .unwrap();
    let out = run(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    for field in ["server.bind", "server.colour", "budget.reset_day", "budget.alerts"] {
        assert!(stderr.contains(field), "{field} missing from: {stderr}");
    }
    let out = Command::new(BIN).args(["config", "check"]).env("SYNTHORG_BUDGET__RESET_DAY", "29").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out.stderr).contains("budget.reset_day"));

    let out = run(&["version"]);
    assert_eq!(text(&out.stdout).trim(), format!("synthorg {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    let serve_bad = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(serve_bad.status.code(), Some(78));
}

#[test]
fn config_check_reports_exporter_hardening_like_any_error() {
    let (tmp, _) = temp_dir();
    let bad = tmp.path().join("otlp.yaml");
    std::fs::write(
        &bad,
        "logging:\n  sinks:\n    - type: otlp\n      endpoint: \"http://2852039166/\"\n      protocol: grpc\n      \
         headers: {\"x-key\": \"s3cr3t\\r\\nX-Evil: 1\", Transfer-Encoding: chunked}\nserver:\n  colour: red\n",
    )
    .unwrap();
    let out = run(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    for expected in [
        "server.colour",
        "logging.sinks[0].endpoint: the cloud metadata address is never allowed",
        "logging.sinks[0].protocol: grpc is not supported; use http/protobuf or http/json",
        "logging.sinks[0].headers.x-key: the header value contains CR, LF or NUL (header injection)",
        "logging.sinks[0].headers.Transfer-Encoding: transfer-encoding is a hop-by-hop or framing header the exporter \
         sets itself; it cannot be configured",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("s3cr3t"), "{stderr}");

    // Headers over plain http to a non-loopback collector: a warning, and still valid.
    let warn = tmp.path().join("warn.yaml");
    std::fs::write(
        &warn,
        "logging:\n  sinks:\n    - type: otlp\n      endpoint: \"http://10.0.0.7:4318\"\n      \
         allowed_private_cidrs: [10.0.0.0/8]\n      headers: {authorization: \"Bearer s3cr3t\"}\n",
    )
    .unwrap();
    let out = run(&["config", "check", "--config", warn.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: logging.sinks[0].endpoint: headers are sent to 10.0.0.7 over plain http"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t") && !text(&out.stdout).contains("s3cr3t"));
    let shown = run(&["config", "show", "--config", warn.to_str().unwrap()]);
    assert!(!text(&shown.stdout).contains("s3cr3t") && text(&shown.stdout).contains("**REDACTED**"));
}
