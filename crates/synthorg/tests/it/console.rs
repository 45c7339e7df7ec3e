//! The operator console in a real headless Chromium (Debian `chromium` + `chromium-driver`,
//! installed by `scripts/install-peers`), driven over the W3C WebDriver protocol: sign in, see
//! the demo organization, approve an escalation and find it in the audit page, create and
//! revoke a key, a viewer who cannot act, an agent key refused, and hostile agent names that
//! stay text. With `SYNTHORG_CONSOLE_SCREENSHOTS=<dir>` the test saves its screenshots there
//! (docs/console.md shows them).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Client, Server, temp_dir};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session.
struct Browser {
    agent: ureq::Agent,
    session: String,
    driver: Child,
}

impl Browser {
    fn start() -> Self {
        assert!(
            std::path::Path::new("/usr/bin/chromedriver").exists(),
            "chromium-driver is not installed; run scripts/install-peers"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en-US"]}}}});
        let mut answer = agent.post(format!("{base}/session")).send_json(&capabilities).unwrap();
        let value: Value = answer.body_mut().read_json().unwrap();
        let session = value["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {value}")).to_owned();
        let mut browser = Self { agent, session: format!("{base}/session/{session}"), driver };
        browser.driver_ok();
        browser
    }

    fn driver_ok(&mut self) {
        assert!(self.driver.try_wait().unwrap().is_none(), "chromedriver exited");
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let mut answer = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap();
        let value: Value = answer.body_mut().read_json().unwrap_or(Value::Null);
        value["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url}));
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.command("POST", "/elements", json!({"using": "css selector", "value": css}));
        found.as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str().map(str::to_owned)).collect()
    }

    /// Waits (15 s at most) for an element; its id.
    fn wait(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(id) = self.find_all(css).into_iter().next() {
                return id;
            }
            assert!(Instant::now() < deadline, "no {css} in: {}", self.text("body"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (15 s at most) until no element matches.
    fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.find_all(css).is_empty() {
            assert!(Instant::now() < deadline, "{css} is still there: {}", self.text("body"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (15 s at most) until the element's text contains `text`.
    fn wait_text(&self, css: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.text(css);
            if now.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never said {text:?}: {now}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.script(script, json!([css])).as_str().unwrap_or_default().to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.wait(css);
        self.command("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.wait(css);
        self.command("POST", &format!("/element/{id}/clear"), json!({}));
        self.command("POST", &format!("/element/{id}/value"), json!({"text": text}));
    }

    fn script(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", json!({"script": script, "args": args}))
    }

    fn accept_alert(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = self.agent.post(format!("{}/alert/accept", self.session)).send_json(json!({})).unwrap();
            if answer.status().as_u16() == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "no confirmation dialog");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", json!({"width": width, "height": height}));
    }

    /// Saves a screenshot when `SYNTHORG_CONSOLE_SCREENSHOTS` names a directory.
    fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SYNTHORG_CONSOLE_SCREENSHOTS") else { return };
        use base64::Engine;
        let png = self.command("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), bytes).unwrap();
    }

    fn sign_in(&self, base: &str, key: &str) {
        self.goto(&format!("{base}/"));
        self.type_into("#key", key);
        self.click("#signin-form button");
    }

    /// The page shows values, not the script's internals.
    fn assert_readable(&self) {
        let text = self.text("#page");
        for leak in ["[object", "undefined", "NaN", "null"] {
            assert!(!text.contains(leak), "the page shows {leak:?}: {text}");
        }
    }

    /// Nothing injected ran: the payloads set `window.pwned` if they ever execute.
    fn assert_nothing_ran(&self) {
        assert_eq!(self.script("return window.pwned === undefined;", json!([])), Value::Bool(true), "a payload ran");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const PAYLOADS: [&str; 4] = [
    "<img src=x onerror=\"window.pwned=1\">",
    "\"><script>window.pwned=1</script>",
    "javascript:window.pwned=1",
    "' onmouseover='window.pwned=1' x='",
];

#[test]
fn the_console_in_a_real_browser() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &["--demo"]);
    let root = server.base.trim_end_matches("/api/v1").to_owned();
    let admin_key = Server::bootstrap_key(&data);
    let admin = Client::new(&server.base, &admin_key);

    // The page's headers: a strict policy, no inline script, never framed.
    let answer = ureq::get(format!("{root}/console")).call().unwrap();
    let csp = answer.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(answer.headers().get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(answer.headers().get("referrer-policy").unwrap(), "no-referrer");

    // The sign-in exchange refuses what is not the demo's token, and names a missing field.
    let exchange = |body: Value| {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut answer = agent.post(format!("{root}/console/sign-in")).send_json(body).unwrap();
        (answer.status().as_u16(), answer.body_mut().read_json::<Value>().unwrap_or(Value::Null))
    };
    let (status, body) = exchange(json!({"token": "0".repeat(64)}));
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, body) = exchange(json!({"tok": "x"}));
    assert_eq!(status, 422, "{body}");

    // Hostile names and roles, an escalation waiting, a viewer key, an agent key, a key to revoke.
    let mut hostile = Vec::new();
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let (status, agent) =
            admin.post("/agents", &json!({"name": format!("{payload} {i}"), "role": payload, "department": payload}));
        assert_eq!(status, 201, "{agent}");
        hostile.push(agent["id"].as_str().unwrap().to_owned());
    }
    let (_, verdict) = admin.post(
        "/security/evaluate",
        &json!({"agent_id": hostile[0], "tool": "db", "action_type": "admin", "arguments": {"sql": "DROP TABLE t"}}),
    );
    let approval = verdict["approval_id"].as_str().unwrap_or_else(|| panic!("an escalation: {verdict}")).to_owned();
    let (_, viewer) = admin.post("/keys", &json!({"role": "viewer", "label": "auditor"}));
    let viewer_key = viewer["key"].as_str().unwrap().to_owned();
    let (_, agent_key) = admin.post("/keys", &json!({"role": "agent", "agent_id": hostile[1], "label": "runtime"}));
    let (_, doomed) = admin.post("/keys", &json!({"role": "viewer", "label": "to revoke"}));
    let doomed = doomed["id"].as_str().unwrap().to_owned();

    let browser = Browser::start();
    // The demo's one-time sign-in link: printed for the terminal, never logged, and it works
    // once.
    let link = server
        .logs
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/console#sign-in=")).map(str::to_owned))
        .expect("serve --demo prints a sign-in link");
    let token = link.split("#sign-in=").nth(1).unwrap().to_owned();
    assert!(
        !server.logs.lock().unwrap().iter().any(|l| l.contains(&token) && !l.starts_with("synthorg demo:")),
        "the token is in no log line"
    );
    browser.goto(&link);
    browser.wait_text("#who", "admin");
    browser.wait("#page[data-page=overview]");
    assert!(
        !browser.script("return location.href;", json!([])).as_str().unwrap().contains(&token),
        "the token left the address"
    );
    browser.click("#signout");
    browser.goto(&format!("{root}/console"));
    browser.goto(&link);
    browser.wait_text("#signin-error", "used, has expired or is unknown");
    // An agent key is refused.
    browser.sign_in(&root, agent_key["key"].as_str().unwrap());
    browser.wait_text("#signin-error", "Agent keys cannot use the console");
    // A wrong key is refused too.
    browser.sign_in(&root, "sk-not-a-key");
    browser.wait_text("#signin-error", "refused");

    // The admin signs in and sees the demo organization.
    browser.sign_in(&root, &admin_key);
    browser.wait("#page[data-page=overview]");
    browser.wait_text("#page", "agents");
    browser.wait_text("#who", "admin");
    browser.wait_text("#page", "Recent audit events");
    browser.wait_text("#forecast", "forecast for the period $");
    browser.wait_text("#verdicts", "escalate ");
    browser.wait_text("#burn", "burn rate");
    browser.assert_readable();
    browser.screenshot("overview");
    // The demo's agents and the hostile ones, as text.
    browser.click("a[data-page=agents]");
    browser.wait("#page[data-page=agents]");
    browser.wait_text("#page", "demo-");
    for payload in PAYLOADS {
        browser.wait_text("#page", payload);
    }
    assert!(browser.find_all("#page img, #page script").is_empty(), "markup from data became elements");
    browser.assert_nothing_ran();
    browser.assert_readable();
    browser.screenshot("agents");

    // An agent's page: its fields, tasks and model calls; the name stays text there too.
    browser.click(&format!("tr[data-agent=\"{}\"] a", hostile[0]));
    browser.wait("#page[data-page=agent]");
    browser.wait_text("#page h1", PAYLOADS[0]);
    browser.wait_text("#page", "Latest model calls");
    browser.assert_nothing_ran();
    browser.assert_readable();

    // Tasks: the demo's, by status, and one task's history.
    browser.click("a[data-page=tasks]");
    browser.wait("#page[data-page=tasks] tr[data-task]");
    browser.wait_text("#page", "By status");
    browser.wait_text("#page", "shown, newest first");
    browser.assert_readable();
    browser.screenshot("tasks");
    browser.click("#page tr[data-task] a");
    browser.wait("#page[data-page=task]");
    browser.wait_text("#page", "History");
    browser.wait_text("#page", "created");
    browser.assert_readable();

    // Costs of the period, by agent and by model.
    let (_, report) = admin.post(
        "/costs",
        &json!({"agent_id": hostile[2], "provider": "anthropic", "model": "claude-sonnet-4-5",
            "input_tokens": 1000, "output_tokens": 100, "cost": "0.5"}),
    );
    assert!(report["id"].is_string(), "{report}");
    // An amount of $100 or more keeps its cents (the demo's budget is $200, which this leaves
    // room in for the verdicts below), on a model of its own: the demo's simulation reports
    // calls of its own models while the test runs.
    let (_, large) = admin.post(
        "/costs",
        &json!({"agent_id": hostile[2], "provider": "acme", "model": "acme-large",
            "input_tokens": 1, "output_tokens": 1, "cost": "123.45"}),
    );
    assert!(large["id"].is_string(), "{large}");
    browser.click("a[data-page=costs]");
    browser.wait("#page[data-page=costs]");
    browser.wait_text("#page", "claude-sonnet-4-5");
    browser.wait_text("#page", "$123.45");
    let shown = browser.script("return [1234567.5, 123.45, 1, 0.0123, 0].map(fmt.usd).join(' ');", json!([]));
    assert_eq!(shown, json!("$1,234,567.50 $123.45 $1.00 $0.0123 $0.00"), "cents always, thousands grouped");
    browser.wait_text("#page", PAYLOADS[2]);
    browser.assert_readable();
    browser.screenshot("costs");

    // The escalation waits; approving it takes it out of the queue and into the audit trail.
    browser.click("a[data-page=approvals]");
    let row = format!("tr[data-approval=\"{approval}\"]");
    browser.wait(&row);
    browser.wait_text(&row, "<img src=x");
    browser.assert_readable();
    browser.screenshot("approvals");
    browser.type_into(&format!("{row} input[name=note]"), "checked with the DBA");
    browser.click(&format!("{row} button[data-decide=approve]"));
    browser.wait_gone(&row);
    browser.wait_text("#page", "checked with the DBA");
    let (_, decided) = admin.get(&format!("/approvals/{approval}"));
    assert_eq!(decided["status"], "approved", "{decided}");
    browser.click("a[data-page=audit]");
    browser.wait("#page[data-page=audit]");
    browser.type_into("#audit-filter input[name=action]", "approval.decided");
    browser.click("#audit-filter button");
    browser.wait_text("#page", &approval);
    browser.assert_readable();
    browser.screenshot("audit");

    // A key created here is shown once; another is revoked.
    browser.click("a[data-page=keys]");
    browser.wait("#key-form");
    browser.assert_readable();
    browser.screenshot("keys");
    browser.type_into("#key-form input[name=label]", "made in the console");
    browser.click("#key-form button");
    browser.wait("#new-secret");
    let secret = browser.text("#new-secret");
    assert!(secret.len() > 20, "the secret is shown: {secret}");
    assert_eq!(Client::new(&server.base, &secret).get("/agents").0, 200, "the key shown works");
    // It stays through refreshes (every 5 s) until dismissed.
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(browser.text("#new-secret"), secret, "the one-time secret survived two refreshes");
    browser.click("#notices button.dismiss");
    browser.wait_gone("#new-secret");
    browser.click(&format!("button[data-revoke=\"{doomed}\"]"));
    browser.accept_alert();
    browser.wait_gone(&format!("button[data-revoke=\"{doomed}\"]"));
    let (_, keys) = admin.get("/keys?limit=1000");
    let revoked = keys["items"].as_array().unwrap().iter().find(|k| k["id"] == doomed.as_str()).unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // On a phone-sized screen the pages still work.
    browser.resize(390, 844);
    browser.click("a[data-page=overview]");
    browser.wait("#page[data-page=overview]");
    let wide = browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1;", json!([]));
    assert_eq!(wide, Value::Bool(true), "no sideways scrolling of the page");
    browser.assert_readable();
    browser.screenshot("phone");
    browser.resize(1280, 900);

    // A viewer sees everything and can act on nothing.
    browser.click("#signout");
    browser.wait("#signin-form");
    let (_, verdict) = admin.post(
        "/security/evaluate",
        &json!({"agent_id": hostile[0], "tool": "db", "action_type": "admin", "arguments": {"sql": "DROP TABLE u"}}),
    );
    let waiting = verdict["approval_id"].as_str().unwrap().to_owned();
    browser.sign_in(&root, &viewer_key);
    browser.wait_text("#who", "viewer");
    browser.click("a[data-page=approvals]");
    browser.wait(&format!("tr[data-approval=\"{waiting}\"]"));
    assert!(browser.find_all("button[data-decide]").is_empty(), "a viewer gets no decision buttons");
    assert!(browser.find_all("a[data-page=keys]:not([hidden])").is_empty(), "no keys page for a viewer");
    browser.assert_nothing_ran();
    let (status, logs) = server.signal("TERM");
    assert!(status.success(), "{logs:?}");
}
