use synthorg_core::DomainError;
use synthorg_core::agent::{AgentPatch, AgentStatus};
use synthorg_core::cost::NewCostRecord;
use synthorg_core::price::{Catalogue, Usage};
use synthorg_core::security::{Approval, ApprovalStatus, Decision, DecisionRequest, RiskLevel, Verdict};
use synthorg_core::task::{TaskStatus, TransitionRequest};
use synthorg_core::{Role, Usd};
use synthorg_store::*;
use uuid::Uuid;

use crate::{add_agent, add_task, admin, move_task, store};

#[test]
fn reopening_keeps_data_and_passes_integrity_check() {
    let (dir, s) = store();
    let agent = add_agent(&s, "ada");
    drop(s);
    let reopened = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    assert_eq!(reopened.get_agent(agent.id).unwrap(), agent);
    assert_eq!(reopened.integrity_check().unwrap(), Vec::<String>::new());
}

fn agent_names_are_unique(s: &dyn Store) {
    add_agent(s, "ada");
    let twin = synthorg_core::agent::NewAgent { name: "ada".into(), role: "qa".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .unwrap();
    let err = s.create_agent(&twin, &synthorg_core::audit::AuditContext::system()).unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::Conflict(ref m)) if m.contains("\"ada\"")), "{err}");
    assert!(matches!(s.get_agent(twin.id), Err(StoreError::NotFound { .. })));
}

fn pagination_walks_every_item_once(s: &dyn Store) {
    let ids: Vec<Uuid> = (0..25).map(|i| add_agent(s, &format!("agent-{i}")).id).collect();
    let mut seen = Vec::new();
    let mut page = PageRequest { limit: 10, after: None, newest_first: false };
    loop {
        let p = s.list_agents(&AgentFilter::default(), &page).unwrap();
        seen.extend(p.items.iter().map(|a| a.id));
        match p.next_cursor {
            Some(c) => page.after = Some(c.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

fn transitions_are_recorded_and_guarded(s: &dyn Store) {
    let agent = add_agent(s, "ada");
    let task = add_task(s, "t");
    move_task(s, task.id, TaskStatus::Assigned, Some(agent.id));
    move_task(s, task.id, TaskStatus::InProgress, None);
    let stale =
        TransitionRequest { to: TaskStatus::InReview, assigned_to: None, expected_version: Some(2), reason: None };
    let err = s.transition_task(task.id, &stale, &admin()).unwrap_err();
    assert!(err.to_string().contains("stale version"), "{err}");
    let history = s.task_history(task.id, &PageRequest::default()).unwrap().items;
    let steps: Vec<_> = history.iter().map(|h| (h.from, h.to, h.version)).collect();
    assert_eq!(
        steps,
        [(TaskStatus::Created, TaskStatus::Assigned, 2), (TaskStatus::Assigned, TaskStatus::InProgress, 3)]
    );
    assert_eq!(s.get_task(task.id).unwrap().version, 3);
}

fn terminating_an_agent_interrupts_its_work(s: &dyn Store) {
    let agent = add_agent(s, "ada");
    let busy = add_task(s, "busy");
    let done = add_task(s, "done");
    move_task(s, busy.id, TaskStatus::Assigned, Some(agent.id));
    move_task(s, busy.id, TaskStatus::InProgress, None);
    move_task(s, done.id, TaskStatus::Assigned, Some(agent.id));
    move_task(s, done.id, TaskStatus::InProgress, None);
    move_task(s, done.id, TaskStatus::InReview, None);
    move_task(s, done.id, TaskStatus::Completed, None);
    let patch = AgentPatch { status: Some(AgentStatus::Terminated), ..Default::default() };
    s.update_agent(agent.id, patch, &admin(), &synthorg_core::audit::AuditContext::system()).unwrap();
    assert_eq!(s.get_task(busy.id).unwrap().status, TaskStatus::Interrupted);
    assert_eq!(s.get_task(done.id).unwrap().status, TaskStatus::Completed);
    let last = s.task_history(busy.id, &PageRequest::default()).unwrap().items.pop().unwrap();
    assert_eq!(last.by, "system");
    // The interrupted task cannot go back to the terminated agent.
    let back = TransitionRequest { to: TaskStatus::Assigned, assigned_to: None, expected_version: None, reason: None };
    let err = s.transition_task(busy.id, &back, &admin()).unwrap_err();
    assert!(err.to_string().contains("is terminated"), "{err}");
}

pub(crate) fn cost(agent: Uuid, amount: &str, key: Option<&str>) -> synthorg_core::cost::CostRecord {
    NewCostRecord {
        agent_id: agent,
        task_id: None,
        provider: "p".into(),
        model: "m".into(),
        usage: Usage { input: 10, output: 5, ..Usage::default() },
        cost: Some(Usd::parse(amount).unwrap()),
        call_category: None,
        occurred_at: None,
        idempotency_key: key.map(Into::into),
        reservation_id: None,
    }
    .into_record(now(), synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty())
    .unwrap()
}

fn idempotent_cost_reports_are_recorded_once(s: &dyn Store) {
    let agent = add_agent(s, "ada");
    let first = s.record_cost(&cost(agent.id, "0.25", Some("k1"))).unwrap();
    assert!(!first.replayed);
    let again = s.record_cost(&cost(agent.id, "0.25", Some("k1"))).unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, first.value);
    let err = s.record_cost(&cost(agent.id, "0.30", Some("k1"))).unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::Conflict(_))), "{err}");
    assert_eq!(s.total_cost().unwrap(), Usd::parse("0.25").unwrap());
    assert_eq!(s.list_costs(&CostFilter::default(), &PageRequest::default()).unwrap().items.len(), 1);
    let unknown = s.record_cost(&cost(Uuid::now_v7(), "1", None)).unwrap_err();
    assert!(unknown.to_string().starts_with("agent_id:"), "{unknown}");
}

/// Records an escalated evaluation of `agent` with its pending approval; returns both.
pub(crate) fn escalate(s: &dyn Store, agent: Uuid) -> (Approval, EvaluationRecord) {
    let approval = Approval {
        id: Uuid::now_v7(),
        evaluation_id: Uuid::now_v7(),
        agent_id: agent,
        task_id: None,
        tool: "shell".into(),
        action_type: "delete".into(),
        arguments: serde_json::json!({"path": "x"}),
        reason: "needs approval".into(),
        risk_level: RiskLevel::Medium,
        status: ApprovalStatus::Pending,
        created_at: now(),
        decided_at: None,
        decided_by: None,
        decision_note: None,
    };
    let evaluation = EvaluationRecord {
        id: approval.evaluation_id,
        agent_id: agent,
        task_id: None,
        tool: "shell".into(),
        action_type: "delete".into(),
        verdict: Verdict::Escalate,
        risk_level: RiskLevel::Medium,
        reason: "needs approval".into(),
        matched_rules: vec!["policy".into()],
        approval_id: Some(approval.id),
        created_at: now(),
        action: Verdict::Escalate,
    };
    s.record_evaluation(&evaluation, Some(&approval), &synthorg_core::audit::AuditContext::system()).unwrap();
    (approval, evaluation)
}

fn approvals_are_decided_once(s: &dyn Store) {
    let agent = add_agent(s, "ada");
    let (approval, evaluation) = escalate(s, agent.id);
    assert_eq!(s.pending_approvals().unwrap(), 1);
    assert_eq!(s.get_approval(approval.id).unwrap(), approval);
    let decided = s
        .decide_approval(
            approval.id,
            &DecisionRequest { decision: Decision::Approve, note: Some("ok".into()) },
            &admin(),
            &synthorg_core::audit::AuditContext::system(),
        )
        .unwrap()
        .0;
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(s.get_approval(approval.id).unwrap(), decided);
    assert_eq!(s.pending_approvals().unwrap(), 0);
    let err = s
        .decide_approval(
            approval.id,
            &DecisionRequest { decision: Decision::Reject, note: None },
            &admin(),
            &synthorg_core::audit::AuditContext::system(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("already approved"), "{err}");
    let listed = s.list_evaluations(&EvaluationFilter::default(), &PageRequest::default()).unwrap();
    assert_eq!(listed.items, [evaluation]);
}

fn keys_are_revocable(s: &dyn Store) {
    let key = ApiKeyRecord {
        id: "abc".into(),
        secret_hash: [7; 32],
        role: Role::Viewer,
        agent_id: None,
        label: "ci".into(),
        created_at: now(),
        revoked_at: None,
    };
    s.create_api_key(&key, &synthorg_core::audit::AuditContext::system()).unwrap();
    assert_eq!(s.active_api_keys().unwrap(), 1);
    assert_eq!(s.find_api_key("abc").unwrap(), Some(key.clone()));
    let (revoked, _) = s.revoke_api_key("abc", now(), &synthorg_core::audit::AuditContext::system()).unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        s.revoke_api_key("abc", now(), &synthorg_core::audit::AuditContext::system()).unwrap().0.revoked_at,
        revoked.revoked_at
    );
    assert_eq!(s.active_api_keys().unwrap(), 0);
    assert!(matches!(
        s.revoke_api_key("nope", now(), &synthorg_core::audit::AuditContext::system()),
        Err(StoreError::NotFound { .. })
    ));
    assert!(!format!("{key:?}").contains("7, 7"));
}

crate::on_both_stores!(
    agent_names_are_unique,
    pagination_walks_every_item_once,
    transitions_are_recorded_and_guarded,
    terminating_an_agent_interrupts_its_work,
    idempotent_cost_reports_are_recorded_once,
    approvals_are_decided_once,
    keys_are_revocable
);
