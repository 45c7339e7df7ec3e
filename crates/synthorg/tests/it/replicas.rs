//! Several real `synthorg serve` processes on one PostgreSQL database (a schema of their own),
//! as behind a load balancer: writes racing through both stay correct, both report the same
//! organization, and the simulator driving both round robin finds the database agreeing with
//! its tally. Run whenever `SYNTHORG_TEST_PG_URL` names a database.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Barrier;

use serde_json::{Value, json};
use synthorg_store::testing::PgSchema;

use crate::{BIN, Client, Server, temp_dir};

/// Two replicas on `schema`; the first start writes the admin key into the first data dir.
struct Replicas {
    _dirs: [tempfile::TempDir; 2],
    servers: [Server; 2],
    key: String,
}

impl Replicas {
    fn start(schema: &PgSchema) -> Self {
        let env =
            [("SYNTHORG_DATABASE__URL", schema.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str())];
        let (dir_a, data_a) = temp_dir();
        let a = Server::start_with_env(&data_a, &[], &env);
        let key = Server::bootstrap_key(&data_a);
        let (dir_b, data_b) = temp_dir();
        let b = Server::start_with_env(&data_b, &[], &env);
        assert!(!data_b.join("admin.key").exists(), "the second replica finds the key and makes none");
        Self { _dirs: [dir_a, dir_b], servers: [a, b], key }
    }

    fn client(&self, i: usize) -> Client {
        Client::new(&self.servers[i % 2].base, &self.key)
    }
}

/// Runs `f(client, i)` on 8 threads released together, alternating between the replicas.
fn race<T: Send>(replicas: &Replicas, f: impl Fn(&Client, usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(8);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, f, client) = (&barrier, &f, replicas.client(i));
                scope.spawn(move || {
                    barrier.wait();
                    f(&client, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The organization-wide (pulled from the store) samples of a scrape.
fn organization_samples(base: &str) -> BTreeSet<String> {
    let text = ureq::get(format!("{base}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    const PULLED: &[&str] = &[
        "synthorg_agents_total",
        "synthorg_agent_info",
        "synthorg_tasks_total",
        "synthorg_task_transitions_total",
        "synthorg_cost_total",
        "synthorg_agent_cost_total",
        "synthorg_budget_",
        "synthorg_agent_budget_used_percent",
        "synthorg_approvals_pending",
    ];
    // Counted by the process that handled the request, not read from the store; or moving
    // with the clock (and each process's own spend samples) between two scrapes.
    const PUSHED: &[&str] = &[
        "synthorg_budget_reservations_total",
        "synthorg_budget_overshoot_usd_total",
        "synthorg_budget_period_remaining_seconds",
        "synthorg_budget_forecast_period_usd",
        "synthorg_budget_burn_rate_usd_per_hour",
        "synthorg_budget_exhaustion_seconds",
    ];
    text.lines()
        .filter(|l| !l.starts_with('#') && PULLED.iter().any(|f| l.starts_with(f)))
        .filter(|l| !PUSHED.iter().any(|f| l.starts_with(f)))
        .map(str::to_owned)
        .collect()
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn two_replicas_on_one_database_stay_correct_and_agree() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let replicas = Replicas::start(&schema);
    let (a, b) = (replicas.client(0), replicas.client(1));
    let (status, agent) = a.post("/agents", &json!({"name": "ada", "role": "developer"}));
    assert_eq!(status, 201, "{agent}");
    let agent = agent["id"].as_str().unwrap().to_owned();
    let (status, _) = b.send("PUT", "/budget/config", &json!({"total_monthly": 100}));
    assert_eq!(status, 200);

    // The same transition through both replicas at once: one wins, the others get 409.
    for round in 0..4 {
        let (status, task) = b.post("/tasks", &json!({"title": format!("contested {round}")}));
        assert_eq!(status, 201);
        let task = task["id"].as_str().unwrap().to_owned();
        let (status, _) =
            a.post(&format!("/tasks/{task}/transitions"), &json!({"to": "assigned", "assigned_to": agent}));
        assert_eq!(status, 200);
        let statuses =
            race(&replicas, |c, _| c.post(&format!("/tasks/{task}/transitions"), &json!({"to": "in_progress"})).0);
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "round {round}: {statuses:?}");
        let (_, history) = b.get(&format!("/tasks/{task}/transitions"));
        let moves: Vec<_> =
            history["items"].as_array().unwrap().iter().map(|h| (h["to"].clone(), h["version"].clone())).collect();
        assert_eq!(moves, [(json!("assigned"), json!(2)), (json!("in_progress"), json!(3))], "{history}");
    }

    // One cost report, retried through both replicas at once, is recorded once.
    let report = json!({"agent_id": agent, "provider": "anthropic", "model": "m", "input_tokens": 10,
        "output_tokens": 5, "cost": "0.25", "idempotency_key": "call-1"});
    let answers = race(&replicas, |c, _| c.post("/costs", &report));
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 201), "{answers:?}");
    let ids: BTreeSet<_> = answers.iter().map(|(_, r)| r["id"].clone().to_string()).collect();
    assert_eq!(ids.len(), 1, "every answer names the one record: {answers:?}");
    let (_, costs) = a.get("/costs?limit=1000");
    assert_eq!(costs["items"].as_array().unwrap().len(), 1);

    // A burst of writes through either replica; then both report the same organization.
    race(&replicas, |c, i| {
        for n in 0..6 {
            let (status, task) = c.post("/tasks", &json!({"title": format!("burst {i}-{n}")}));
            assert_eq!(status, 201);
            let task = task["id"].as_str().unwrap();
            let (status, _) =
                c.post(&format!("/tasks/{task}/transitions"), &json!({"to": "assigned", "assigned_to": agent}));
            assert_eq!(status, 200);
            let cost = json!({"agent_id": agent, "task_id": task, "provider": "p", "model": "m",
                "input_tokens": 1, "output_tokens": 1, "cost": "0.01"});
            assert_eq!(c.post("/costs", &cost).0, 201);
        }
    });
    let (first, second) =
        (organization_samples(&replicas.servers[0].base), organization_samples(&replicas.servers[1].base));
    assert!(first.iter().any(|l| l.starts_with("synthorg_cost_total 0.73")), "{first:?}");
    assert!(
        first.iter().any(|l| l.contains(&format!("status=\"assigned\",agent=\"{agent}\"")) && l.ends_with(" 48")),
        "{first:?}"
    );
    assert_eq!(first, second, "both replicas report the same organization");
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn a_simulation_over_two_replicas_runs_clean_and_the_database_matches_its_tally() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let replicas = Replicas::start(&schema);
    let (dir, _) = temp_dir();
    let summary_path = dir.path().join("summary.json");
    let urls: Vec<String> = replicas.servers.iter().map(|s| s.base.trim_end_matches("/api/v1").to_owned()).collect();
    let out = Command::new(BIN)
        .args(["simulate", "--url", &urls[0], "--url", &urls[1], "--agents", "8", "--concurrency", "4"])
        .args(["--rate", "0", "--duration", "4s", "--seed", "11", "--key", &replicas.key, "--summary-json"])
        .arg(&summary_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!((summary["server_errors"].as_u64(), summary["transport_errors"].as_u64()), (Some(0), Some(0)));
    assert_eq!(summary["client_errors"].as_u64(), Some(0), "{stdout}");
    assert!(summary["requests"].as_u64().unwrap() > 100, "{summary}");
    // Both replicas served: each logged requests.
    for server in &replicas.servers {
        let served = server.logs.lock().unwrap().iter().filter(|l| l.contains("route=/api/v1/costs ")).count();
        assert!(served > 0, "every replica took a share of the load");
    }

    let tally = &summary["tally"];
    let n = |key: &str| tally[key].as_i64().unwrap();
    let mut db = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    db.batch_execute(&format!("SET search_path TO {}", schema.name)).unwrap();
    let mut count = |sql: &str| -> i64 { db.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(count("SELECT COUNT(*) FROM agents"), n("agents"));
    assert_eq!(count("SELECT COUNT(*) FROM tasks"), n("tasks_created"));
    assert_eq!(count("SELECT COUNT(*) FROM task_transitions"), n("transitions"));
    assert_eq!(count("SELECT COUNT(*) FROM cost_records"), n("cost_records"));
    assert_eq!(count("SELECT COALESCE(SUM(cost_nanos), 0)::BIGINT FROM cost_records"), n("cost_nanos"));
    assert_eq!(count("SELECT COUNT(*) FROM coordination_runs"), n("coordination_runs"));
    let verdicts = n("verdicts_allow") + n("verdicts_deny") + n("verdicts_escalate");
    assert_eq!(count("SELECT COUNT(*) FROM security_evaluations"), verdicts);
    assert_eq!(count("SELECT COUNT(*) FROM tasks WHERE status = 'completed'"), n("tasks_completed"));
    assert_eq!(organization_samples(&replicas.servers[0].base), organization_samples(&replicas.servers[1].base));

    // Both replicas appended to one chain: gap-free, verifying against the served head, one
    // verdict event per verdict.
    assert_eq!(count("SELECT COUNT(*) FROM audit_events WHERE action = 'security.verdict'"), verdicts);
    assert_eq!(count("SELECT MAX(seq) - MIN(seq) + 1 - COUNT(*) FROM audit_events"), 0);
    let head = crate::audit::served_head(&replicas.client(1));
    let env = [("SYNTHORG_DATABASE__URL", schema.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str())];
    let out = Command::new(BIN).args(["audit", "verify", "--head", &head]).envs(env).output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && printed.contains("audit chain ok"), "{printed}");
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn an_embedded_store_moves_to_postgres_and_reports_the_same_organization() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let key = Server::bootstrap_key(&data);
    let url = server.base.trim_end_matches("/api/v1").to_owned();
    let out = Command::new(BIN)
        .args(["simulate", "--url", &url, "--agents", "6", "--concurrency", "2", "--rate", "0"])
        .args(["--duration", "2s", "--seed", "5", "--key", &key])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let client = Client::new(&server.base, &key);
    assert_eq!(client.send("PUT", "/budget/config", &json!({"total_monthly": 50})).0, 200);
    let before = organization_samples(&server.base);
    let head_before = crate::audit::served_head(&client);
    drop(server);

    let migrate = |extra: &[&str]| {
        Command::new(BIN)
            .args(["store", "migrate", "--schema", &schema.name, "--data-dir"])
            .arg(&data)
            .args(extra)
            .env("SYNTHORG_DATABASE__URL", &schema.url)
            .output()
            .unwrap()
    };
    let out = migrate(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("copied and verified") && stdout.contains("task_transitions"), "{stdout}");

    // The same organization, served from PostgreSQL, with the same keys.
    let env = [("SYNTHORG_DATABASE__URL", schema.url.as_str()), ("SYNTHORG_DATABASE__SCHEMA", schema.name.as_str())];
    let (_dir2, data2) = temp_dir();
    let moved = Server::start_with_env(&data2, &[], &env);
    assert!(!data2.join("admin.key").exists(), "the keys came along: no new bootstrap key");
    assert_eq!(organization_samples(&moved.base), before);
    // The audit chain came along unchanged: it verifies on PostgreSQL against SQLite's head.
    let out = Command::new(BIN).args(["audit", "verify", "--head", &head_before]).envs(env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, tasks) = Client::new(&moved.base, &key).get("/tasks?limit=5");
    assert_eq!(status, 200, "the old admin key works: {tasks}");
    // The key commands work on the PostgreSQL store too, from the same variables.
    let keys = |args: &[&str]| Command::new(BIN).arg("keys").args(args).envs(env).output().unwrap();
    let created = keys(&["create", "--role", "viewer", "--label", "from the cli"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let viewer = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert_eq!(Client::new(&moved.base, &viewer).get("/agents").0, 200, "a key made on the store works at once");
    let listed = String::from_utf8_lossy(&keys(&["list"]).stdout).into_owned();
    assert!(listed.contains("from the cli") && listed.contains(&key[3..19]), "{listed}");

    // A second run would duplicate everything: it is refused and changes nothing.
    let again = migrate(&[]);
    assert_eq!(again.status.code(), Some(65), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds synthorg data"));
    assert_eq!(organization_samples(&moved.base), before);
    // The password of a URL never reaches the output.
    let secret = migrate(&["--to", "postgres://postgres:s3cret-pw@127.0.0.1:1/none"]);
    assert_ne!(secret.status.code(), Some(0));
    let printed = format!("{}{}", String::from_utf8_lossy(&secret.stdout), String::from_utf8_lossy(&secret.stderr));
    assert!(!printed.contains("s3cret-pw"), "{printed}");
}

/// The sample deployment of docs/scaling.md: its replica configuration passes `config check`
/// (never printing the password), its Prometheus configuration passes `promtool`, and a real
/// Prometheus scraping two replicas sees why organization-wide families aggregate with `max`.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn the_sample_deployment_checks_and_prometheus_aggregates_two_replicas() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let out = Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(docs.join("deploy/synthorg.yaml"))
        .env("SYNTHORG_DATABASE__URL", "postgres://synthorg:pw-4711@127.0.0.1:5432/synthorg")
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && printed.contains("schema synthorg"), "{printed}");
    assert!(!printed.contains("pw-4711"), "{printed}");
    let (tmp, _) = temp_dir();
    std::fs::copy(docs.join("deploy/prometheus.yml"), tmp.path().join("prometheus.yml")).unwrap();
    std::fs::copy(docs.join("prometheus/synthorg-alerts.yml"), tmp.path().join("synthorg-alerts.yml")).unwrap();
    let check = Command::new("promtool").arg("check").arg("config").arg(tmp.path().join("prometheus.yml")).output();
    let check = check.unwrap_or_else(|e| panic!("promtool is needed (scripts/install-peers): {e}"));
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let replicas = Replicas::start(&schema);
    let client = replicas.client(0);
    let (_, agent) = client.post("/agents", &json!({"name": "ada", "role": "developer"}));
    let cost = json!({"agent_id": agent["id"], "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": "0.5"});
    assert_eq!(client.post("/costs", &cost).0, 201);
    let targets: Vec<String> = replicas
        .servers
        .iter()
        .map(|s| s.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned())
        .collect();
    let prometheus = crate::prometheus::Prometheus::start(tmp.path(), &[&targets[0], &targets[1]]);
    prometheus.wait_for("sum(up{job=\"synthorg\"})", |v| v == 2.0);
    prometheus.wait_for("count(synthorg_cost_total)", |v| v == 2.0);
    assert_eq!(prometheus.query("max(synthorg_cost_total)"), Some(0.5), "the organization's spend");
    assert_eq!(prometheus.query("sum(synthorg_cost_total)"), Some(1.0), "what sum would wrongly report");
    assert_eq!(prometheus.query("sum(max by (status, trust_level) (synthorg_agents_total))"), Some(1.0));
}
