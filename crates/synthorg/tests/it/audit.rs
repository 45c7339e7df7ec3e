//! `synthorg audit verify` and `export` on a real server's store: a clean chain verifies
//! against the head the API serves; an edited export or store is named at its first bad
//! event and exits 65.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::{BIN, Client, Server, temp_dir};

fn audit(args: &[&str]) -> Output {
    Command::new(BIN).arg("audit").args(args).env_remove("SYNTHORG_CONFIG").output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The `SEQ:HASH` the API serves.
pub(crate) fn served_head(client: &Client) -> String {
    let (status, head) = client.get("/audit/head");
    assert_eq!(status, 200, "{head}");
    format!("{}:{}", head["seq"], head["hash"].as_str().unwrap())
}

#[test]
fn verify_and_export_name_the_first_edited_event() {
    let (tmp, data) = temp_dir();
    let dir = data.to_str().unwrap();
    let server = Server::start(&data, &[]);
    let admin = Client::new(&server.base, &Server::bootstrap_key(&data));
    let (_, agent) = admin.post("/agents", &json!({"name": "ada", "role": "developer"}));
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        let (status, _) = admin.send("PUT", "/budget/config", &json!({"total_monthly": 100 + i}));
        assert_eq!(status, 200);
        let (status, _) = admin.send("PATCH", &format!("/agents/{agent_id}"), &json!({"department": format!("d{i}")}));
        assert_eq!(status, 200);
    }
    let head = served_head(&admin);

    // While the server runs: the store verifies, with the served head.
    let out = audit(&["verify", "--data-dir", dir, "--head", &head]);
    assert!(out.status.success(), "{}", text(&out));
    let seq = head.split(':').next().unwrap();
    assert!(text(&out).contains(&format!("audit chain ok: {seq} events, head {head}")), "{}", text(&out));

    // The export: one event per line, the API's events, verifying on its own.
    let export = tmp.path().join("audit.ndjson");
    let out = audit(&["export", "--data-dir", dir, "--output", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(&export).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len().to_string(), seq);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&export).unwrap().permissions()) & 0o777;
    assert_eq!(mode & !0o600, 0, "the export is its owner's only: {mode:o}");
    let (_, page) = admin.get("/audit?limit=1000");
    let served: Vec<Value> = page["items"].as_array().unwrap().clone();
    let exported: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported, served);
    let out = audit(&["verify", "--file", export.to_str().unwrap(), "--head", &head]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = Command::new(BIN).args(["audit", "export", "--data-dir", dir]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&stdout.stdout).lines().count(), lines.len(), "export to stdout");

    // An edited export: a changed field, a removed line, two lines swapped, a cut tail.
    let check = |edited: Vec<String>, held: Option<&str>, expected: &str| {
        let path = tmp.path().join("edited.ndjson");
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        let mut args = vec!["verify", "--file", path.to_str().unwrap()];
        if let Some(held) = held {
            args.extend(["--head", held]);
        }
        let out = audit(&args);
        assert_eq!(out.status.code(), Some(65), "{expected}: {}", text(&out));
        assert!(text(&out).contains(expected), "expected {expected:?} in {}", text(&out));
    };
    let mut changed = lines.clone();
    changed[3] = changed[3].replace("\"key:", "\"key:x");
    assert_ne!(changed[3], lines[3], "event 4 names a key actor");
    check(changed, None, "event 4 was altered");
    let mut removed = lines.clone();
    removed.remove(5);
    check(removed, None, "event 6 is missing from its place");
    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    check(swapped, None, "event 7 is missing from its place: event 6 is followed by event 8");
    let cut = lines[..lines.len() - 2].to_vec();
    check(cut, Some(&head), &format!("short of the head held outside (event {seq})"));
    let out = audit(&["verify", "--file", "/nonexistent/audit.ndjson"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out));
    std::fs::write(tmp.path().join("bad.ndjson"), "{\"seq\": 1}\n").unwrap();
    let out = audit(&["verify", "--file", tmp.path().join("bad.ndjson").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out).contains("line 1 of") && text(&out).contains("not an audit event"), "{}", text(&out));
    let out = audit(&["verify", "--data-dir", dir, "--head", "12:nothex"]);
    assert_eq!(out.status.code(), Some(2), "a malformed head is a usage error: {}", text(&out));

    // The store itself, edited behind the server's back.
    drop(server);
    let conn = rusqlite::Connection::open(data.join("synthorg.db")).unwrap();
    conn.execute("UPDATE audit_events SET after = '{\"department\":\"forged\"}' WHERE seq = 5", []).unwrap();
    drop(conn);
    let out = audit(&["verify", "--data-dir", dir]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    assert!(text(&out).contains("event 5 was altered"), "{}", text(&out));
}
