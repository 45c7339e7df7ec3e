//! `synthorg simulate` against the real server: a clean run whose tally matches what the
//! server reports, and a non-zero exit when the server goes away.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{BIN, Server, temp_dir};

/// The sum of a family's samples in a text scrape.
fn family_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn a_simulation_runs_clean_and_the_server_agrees_with_its_tally() {
    let (dir, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let summary_path = dir.path().join("summary.json");
    let url = server.base.trim_end_matches("/api/v1").to_owned();
    let out = Command::new(BIN)
        .args(["simulate", "--url", &url, "--agents", "10", "--concurrency", "4", "--rate", "0"])
        .args(["--duration", "4s", "--seed", "7", "--key-file"])
        .arg(data.join("admin.key"))
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("POST /tasks/{id}/transitions") && stdout.contains("p99"), "{stdout}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!((summary["server_errors"].as_u64(), summary["transport_errors"].as_u64()), (Some(0), Some(0)));
    assert_eq!(summary["client_errors"].as_u64(), Some(0), "the simulator follows the API's rules: {stdout}");
    assert!(summary["requests"].as_u64().unwrap() > 200, "{summary}");
    let tally = &summary["tally"];
    for key in ["tasks_completed", "cost_records", "verdicts_allow", "coordination_runs"] {
        assert!(tally[key].as_u64().unwrap() > 0, "{key}: {tally}");
    }

    let metrics = ureq::get(format!("{}/metrics", server.base)).call().unwrap().body_mut().read_to_string().unwrap();
    let n = |key: &str| tally[key].as_u64().unwrap() as f64;
    assert_eq!(family_sum(&metrics, "synthorg_agents_total"), n("agents"));
    assert_eq!(family_sum(&metrics, "synthorg_tasks_total"), n("tasks_created"));
    assert_eq!(family_sum(&metrics, "synthorg_task_transitions_total"), n("transitions"));
    let cost = family_sum(&metrics, "synthorg_cost_total");
    assert!((cost - n("cost_nanos") / 1e9).abs() < 1e-6, "{cost} vs {}", n("cost_nanos") / 1e9);
    let verdicts = family_sum(&metrics, "synthorg_security_evaluations_total");
    assert_eq!(verdicts, n("verdicts_allow") + n("verdicts_deny") + n("verdicts_escalate"));
    // The keys it made for its agents are revoked at the end.
    let keys: Value = ureq::get(format!("{}/keys", server.base))
        .header("authorization", &format!("Bearer {}", Server::bootstrap_key(&data)))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 11);
    assert_eq!(items.iter().filter(|k| k["revoked_at"].is_null()).count(), 1, "{keys}");

    // The run's audit chain verifies against the head the API serves, and holds one
    // security.verdict event per verdict and one key event per key created and revoked.
    let admin = crate::Client::new(&server.base, &Server::bootstrap_key(&data));
    let head = crate::audit::served_head(&admin);
    let out = Command::new(BIN).args(["audit", "verify", "--head", &head, "--data-dir"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let events = |action: &str| -> f64 {
        let (mut n, mut cursor) = (0, String::new());
        loop {
            let (status, page) = admin.get(&format!("/audit?action={action}&limit=1000{cursor}"));
            assert_eq!(status, 200, "{page}");
            n += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return n as f64,
            }
        }
    };
    assert_eq!(events("security.verdict"), verdicts);
    assert_eq!((events("key.created"), events("key.revoked")), (11.0, 10.0));
    assert_eq!(events("agent.registered"), n("agents"));
    drop(server);
}

#[test]
fn a_simulation_that_loses_its_server_exits_non_zero() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let url = server.base.trim_end_matches("/api/v1").to_owned();
    let child = Command::new(BIN)
        .args(["simulate", "--url", &url, "--agents", "4", "--concurrency", "2", "--rate", "200", "--duration", "4s"])
        .arg("--key-file")
        .arg(data.join("admin.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = server.signal("KILL");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("transport errors"));

    // No server at all: nothing can be registered.
    let out =
        Command::new(BIN).args(["simulate", "--url", &url, "--key", "sk_x", "--duration", "1s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn demo_mode_shows_a_living_organization_and_cleans_up_its_key() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &["--demo"]);
    let scrape = || ureq::get(format!("{}/metrics", server.base)).call().unwrap().body_mut().read_to_string().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let metrics = scrape();
        if family_sum(&metrics, "synthorg_task_transitions_total") >= 5.0 || std::time::Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(family_sum(&metrics, "synthorg_agents_total"), 12.0);
    assert!(family_sum(&metrics, "synthorg_task_transitions_total") >= 5.0, "{metrics}");
    assert_eq!(family_sum(&metrics, "synthorg_budget_monthly_usd"), 200.0);
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("demo mode")), "{logs:?}");
    // Its requests are real (the scrape counted transitions) but their lines are at debug: the
    // console stays readable.
    let requests: Vec<&String> = logs.iter().filter(|l| l.contains("synthorg::access")).collect();
    assert!(requests.is_empty(), "request lines at info in demo mode: {:?}", &requests[..requests.len().min(3)]);
    // The demo's keys are revoked; only the bootstrap key stays active.
    let out = Command::new(BIN).args(["keys", "list", "--data-dir"]).arg(&data).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let active: Vec<&str> = listing.lines().skip(1).filter(|l| l.ends_with("\t-")).collect();
    assert_eq!(active.len(), 1, "{listing}");
    assert!(active[0].contains("bootstrap"), "{listing}");
    assert_eq!(
        listing.lines().count(),
        1 + 1 + 1 + 1 + 12,
        "bootstrap, demo admin, demo console sign-in, 12 agents: {listing}"
    );
}

/// A demo that was killed without its clean-up (`kill -9`) leaves its keys active; the next
/// demo start revokes them, so they never outlive the demo by more than one start.
#[test]
fn a_killed_demos_keys_are_revoked_at_the_next_start() {
    let (_dir, data) = temp_dir();
    let active_keys = || {
        let out = Command::new(BIN).args(["keys", "list", "--data-dir"]).arg(&data).output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let active: Vec<String> = listing.lines().skip(1).filter(|l| l.ends_with("\t-")).map(str::to_owned).collect();
        (active, listing)
    };
    let server = Server::start(&data, &["--demo"]);
    // Wait until the simulated agents hold their keys.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while active_keys().0.len() < 1 + 2 + 12 {
        assert!(std::time::Instant::now() < deadline, "{}", active_keys().1);
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, _) = server.signal("KILL");
    assert!(!status.success());
    let (left, listing) = active_keys();
    assert_eq!(left.len(), 1 + 2 + 12, "the killed demo's keys are still active: {listing}");
    let server = Server::start(&data, &["--demo"]);
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
    assert!(
        logs.iter().any(|l| l.contains("revoked the keys an earlier demo left active") && l.contains("keys=14")),
        "{logs:?}"
    );
    let (active, listing) = active_keys();
    assert_eq!(active.len(), 1, "{listing}");
    assert!(active[0].contains("bootstrap"), "{listing}");
}
