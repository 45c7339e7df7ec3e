//! The audit trail: one event per audited change, in the change's transaction, chained; a
//! stored chain edited by hand is caught at the first bad event.

use std::sync::Barrier;

use synthorg_core::agent::{AgentPatch, AgentStatus, TrustLevel};
use synthorg_core::audit::{AuditAction, AuditContext, AuditEvent, AuditHead, ChainBreak, NewAuditEvent};
use synthorg_core::budget::BudgetConfig;
use synthorg_core::security::{Decision, DecisionRequest, Verdict};
use synthorg_core::{Role, Usd};
use synthorg_store::testing::PgSchema;
use synthorg_store::*;

use crate::entities::escalate;
use crate::{add_agent, admin, store};

fn request(n: u32) -> AuditContext {
    AuditContext { actor: "key:ops".into(), request_id: Some(format!("req-{n}")), trace_id: Some(format!("{n:032x}")) }
}

fn key(id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        secret_hash: [9; 32],
        role: Role::Viewer,
        agent_id: None,
        label: "ops".into(),
        created_at: now(),
        revoked_at: None,
    }
}

fn chain(s: &dyn Store) -> Vec<AuditEvent> {
    all_pages(|p| s.list_audit(&AuditFilter::default(), p)).unwrap()
}

fn verify(s: &dyn Store, held: Option<AuditHead>) -> Result<AuditHead, ChainBreak> {
    verify_chain(s, held, |_| {}).unwrap()
}

/// Each audited store method appends exactly one event, hands it back with its answer, and
/// the stored chain is those events, in order, linked and verifying.
fn every_audited_change_appends_one_event(s: &dyn Store) {
    assert_eq!(s.audit_head().unwrap(), AuditHead::genesis());
    let mut handed = Vec::new();
    let mut expect = |event: AuditEvent, action: AuditAction, n: u32| {
        assert_eq!(event.action, action);
        assert_eq!(event.actor, "key:ops");
        assert_eq!(event.request_id, Some(format!("req-{n}")), "{action}: the request's own event");
        handed.push(event);
    };

    let agent = synthorg_core::agent::NewAgent { name: "ada".into(), role: "dev".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .unwrap();
    expect(s.create_agent(&agent, &request(1)).unwrap(), AuditAction::AgentRegistered, 1);

    let patch = AgentPatch { trust_level: Some(TrustLevel::Elevated), ..Default::default() };
    expect(s.update_agent(agent.id, patch, &admin(), &request(2)).unwrap().1, AuditAction::AgentUpdated, 2);

    let budget = BudgetConfig { total_monthly: Usd::parse("100").unwrap(), ..Default::default() };
    expect(s.set_budget_config(&budget, &request(3)).unwrap(), AuditAction::BudgetConfigured, 3);
    let raised = BudgetConfig { total_monthly: Usd::parse("250").unwrap(), ..budget.clone() };
    expect(s.set_budget_config(&raised, &request(4)).unwrap(), AuditAction::BudgetConfigured, 4);

    expect(s.create_api_key(&key("k1"), &request(5)).unwrap(), AuditAction::KeyCreated, 5);
    let (_, revoked) = s.revoke_api_key("k1", now(), &request(6)).unwrap();
    expect(revoked.expect("the first revocation is audited"), AuditAction::KeyRevoked, 6);
    let (_, again) = s.revoke_api_key("k1", now(), &request(7)).unwrap();
    assert!(again.is_none(), "revoking a revoked key changes nothing and records nothing");

    let (approval, _) = escalate(s, agent.id);
    let verdict = (s.audit_head().unwrap().seq - 1) as usize;
    let decision = DecisionRequest { decision: Decision::Approve, note: None };
    expect(
        s.decide_approval(approval.id, &decision, &admin(), &request(8)).unwrap().1,
        AuditAction::ApprovalDecided,
        8,
    );

    let scanned = NewAuditEvent::output_scanned(Some(agent.id), None, Verdict::Deny, 2);
    expect(s.append_audit(&request(9), scanned).unwrap(), AuditAction::OutputScanned, 9);

    let patch = AgentPatch { status: Some(AgentStatus::Terminated), ..Default::default() };
    expect(s.update_agent(agent.id, patch, &admin(), &request(10)).unwrap().1, AuditAction::AgentTerminated, 10);

    let stored = chain(s);
    // `escalate` recorded its verdict with the system's audit: it is in the chain, not handed.
    assert_eq!(stored[verdict].action, AuditAction::SecurityVerdict);
    assert_eq!(stored[verdict].actor, "system");
    assert_eq!(stored[verdict].after.as_ref().unwrap()["verdict"], "escalate");
    assert!(stored[verdict].after.as_ref().unwrap().get("arguments").is_none(), "arguments are never kept");
    let mut without_verdict = stored.clone();
    without_verdict.remove(verdict);
    assert_eq!(without_verdict, handed, "the store keeps exactly what it handed back");
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=stored.len() as i64).collect::<Vec<_>>());

    // The diffs hold what changed, and only that.
    let trust = &stored[1];
    assert_eq!(trust.before, Some(serde_json::json!({"trust_level": "standard"})));
    assert_eq!(trust.after, Some(serde_json::json!({"trust_level": "elevated"})));
    assert_eq!((trust.request_id.as_deref(), trust.target_id.as_str()), (Some("req-2"), agent.id.to_string().as_str()));
    assert_eq!(stored[2].before, None, "the first budget replaced the configuration file's");
    assert_eq!(stored[3].before, Some(serde_json::json!({"total_monthly": 100})));
    assert_eq!(stored[3].after, Some(serde_json::json!({"total_monthly": 250})));

    let head = s.audit_head().unwrap();
    assert_eq!(head, stored.last().unwrap().head());
    assert_eq!(verify(s, Some(head.clone())), Ok(head));

    // Filters.
    let by = |filter: AuditFilter| -> Vec<i64> {
        all_pages(|p| s.list_audit(&filter, p)).unwrap().iter().map(|e| e.seq).collect()
    };
    assert_eq!(by(AuditFilter { actor: Some("system".into()), ..Default::default() }), [stored[verdict].seq]);
    assert_eq!(by(AuditFilter { action: Some(AuditAction::BudgetConfigured), ..Default::default() }), [3, 4]);
    assert_eq!(by(AuditFilter { target_id: Some("k1".into()), ..Default::default() }), [5, 6]);
    assert_eq!(by(AuditFilter { since: Some(stored[5].at), until: Some(stored[5].at), ..Default::default() }), [0; 0]);
    assert!(by(AuditFilter { since: Some(stored[5].at), ..Default::default() }).starts_with(&[6]));
    let page =
        s.list_audit(&AuditFilter::default(), &PageRequest { limit: 4, after: None, newest_first: false }).unwrap();
    assert_eq!((page.items.len(), page.next_cursor.as_deref()), (4, Some("4")));
}

/// A change that fails writes no event, hands none back, and leaves the head where it was.
fn a_failed_change_leaves_no_event(s: &dyn Store) {
    let agent = add_agent(s, "ada");
    let head = s.audit_head().unwrap();
    let audit = request(1);
    let twin = synthorg_core::agent::NewAgent { name: "ADA".into(), role: "dev".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .unwrap();
    assert!(s.create_agent(&twin, &audit).is_err());
    let (approval, _) = escalate(s, agent.id);
    let head = {
        assert_eq!(s.audit_head().unwrap().seq, head.seq + 1, "the escalation's verdict");
        s.audit_head().unwrap()
    };
    let decide = DecisionRequest { decision: Decision::Reject, note: None };
    s.decide_approval(approval.id, &decide, &admin(), &AuditContext::system()).unwrap();
    let head = AuditHead { seq: head.seq + 1, ..s.audit_head().unwrap() };
    assert!(s.decide_approval(approval.id, &decide, &admin(), &audit).is_err(), "decided twice");
    assert!(s.create_api_key(&ApiKeyRecord { agent_id: Some(uuid::Uuid::now_v7()), ..key("k") }, &audit).is_err());
    let patch = AgentPatch { trust_level: Some(TrustLevel::Elevated), ..Default::default() };
    assert!(s.update_agent(uuid::Uuid::now_v7(), patch, &admin(), &audit).is_err());
    assert_eq!(s.audit_head().unwrap(), head);
    assert!(verify(s, Some(head)).is_ok());
}

crate::on_both_stores!(every_audited_change_appends_one_event, a_failed_change_leaves_no_event);

/// A store with a chain of `n` budget changes, closed, and its SQLite file.
fn stored_chain(n: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<AuditEvent>) {
    let (dir, s) = store();
    for i in 0..n {
        let budget =
            BudgetConfig { total_monthly: Usd::from_nanos(1_000_000_000 * (i as i64 + 1)), ..Default::default() };
        s.set_budget_config(&budget, &request(i as u32)).unwrap();
    }
    let events = chain(&s);
    drop(s);
    let path = dir.path().join(synthorg_store::sqlite::DB_FILE);
    (dir, path, events)
}

/// Edits the SQLite file behind the store's back, then verifies what a new store reads.
fn tampered(sql: &str, held: Option<AuditHead>) -> Result<AuditHead, ChainBreak> {
    let (dir, path, _) = stored_chain(8);
    rusqlite::Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    let s = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    verify(&s, held)
}

#[test]
fn verify_names_the_first_event_edited_in_the_file() {
    let (_dir, _, events) = stored_chain(8);
    let held = events.last().unwrap().head();

    let changed = tampered("UPDATE audit_events SET actor = 'key:nobody' WHERE seq = 3", None);
    assert_eq!(changed, Err(ChainBreak::Altered { seq: 3 }));
    let changed = tampered("UPDATE audit_events SET after = '{\"total_monthly\":1e9}' WHERE seq = 5", None);
    assert_eq!(changed, Err(ChainBreak::Altered { seq: 5 }));
    let changed = tampered("UPDATE audit_events SET after = 'not json' WHERE seq = 6", None);
    assert_eq!(changed, Err(ChainBreak::Altered { seq: 6 }));

    let deleted = tampered("DELETE FROM audit_events WHERE seq = 4", None);
    assert_eq!(deleted, Err(ChainBreak::Missing { previous: 3, expected: 4, found: 5 }));

    // Rows 2 and 3 swap places: every column but `seq` trades rows.
    let swapped = tampered(
        "UPDATE audit_events SET seq = -2 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE seq = -2;",
        None,
    );
    assert_eq!(swapped, Err(ChainBreak::Altered { seq: 2 }));

    // Deleting the tail leaves a chain that verifies alone; the held head catches it.
    let truncate = "DELETE FROM audit_events WHERE seq > 6";
    assert_eq!(tampered(truncate, None).map(|h| h.seq), Ok(6));
    assert_eq!(tampered(truncate, Some(held.clone())), Err(ChainBreak::Truncated { last: 6, held: 8 }));
}

/// The tail cut off and its new last event rewritten and re-hashed (what a careful forger
/// does): the chain alone verifies, the head held outside does not.
#[test]
fn a_rehashed_tail_is_caught_only_by_the_held_head() {
    let (dir, path, events) = stored_chain(8);
    let held = events.last().unwrap().head();
    let mut forged = events[5].clone();
    forged.after = Some(serde_json::json!({"total_monthly": 1}));
    forged.hash = forged.content_hash();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq > 6", []).unwrap();
    conn.execute(
        "UPDATE audit_events SET after = ?1, hash = ?2 WHERE seq = 6",
        rusqlite::params![forged.after.as_ref().unwrap().to_string(), hex::decode(&forged.hash).unwrap()],
    )
    .unwrap();
    drop(conn);
    let s = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    assert_eq!(verify(&s, None), Ok(forged.head()), "the chain alone cannot tell");
    assert_eq!(verify(&s, Some(held)), Err(ChainBreak::Truncated { last: 6, held: 8 }));
    assert_eq!(verify(&s, Some(events[5].head())), Err(ChainBreak::NotTheHead { seq: 6 }));
}

/// Two replicas appending at once through one database: one chain, no gaps, every link
/// right.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn two_replicas_append_to_one_chain() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    let agent = add_agent(&a, "ada");
    let barrier = Barrier::new(8);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let (barrier, store, agent) = (&barrier, if i % 2 == 0 { &a } else { &b }, agent.id);
            scope.spawn(move || {
                barrier.wait();
                for n in 0..25 {
                    let audit = request(i * 100 + n);
                    let sealed = match n % 3 {
                        0 => {
                            let budget = BudgetConfig {
                                total_monthly: Usd::from_nanos(1_000 + i64::from(n)),
                                ..Default::default()
                            };
                            store.set_budget_config(&budget, &audit).unwrap()
                        }
                        1 => {
                            let verdict = NewAuditEvent::output_scanned(Some(agent), None, Verdict::Allow, 0);
                            store.append_audit(&audit, verdict).unwrap()
                        }
                        _ => store.create_api_key(&key(&format!("k{i}-{n}")), &audit).unwrap(),
                    };
                    assert_eq!(sealed.request_id, audit.request_id);
                }
            });
        }
    });
    let stored = chain(&a);
    assert_eq!(stored.len(), 1 + 8 * 25);
    assert_eq!(verify(&b, Some(b.audit_head().unwrap())).map(|h| h.seq), Ok(201));
    // Each budget event's `before` is the configuration it replaced, in chain order.
    let budgets: Vec<&AuditEvent> = stored.iter().filter(|e| e.action == AuditAction::BudgetConfigured).collect();
    let mut current = None;
    for event in budgets {
        let field = |side: &Option<serde_json::Value>| side.as_ref().and_then(|v| v.get("total_monthly")).cloned();
        if let Some(replaced) = field(&event.before) {
            assert_eq!(Some(replaced), current, "event {} replaced the budget in force", event.seq);
        }
        if let Some(set) = field(&event.after) {
            current = Some(set);
        }
    }
    assert!(current.is_some());
}
