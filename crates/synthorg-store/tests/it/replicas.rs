//! Two PostgreSQL stores on one schema, as two synthorg replicas on one database: writes that
//! race through both stay correct, and both read the same aggregates.

use std::sync::Barrier;

use synthorg_core::task::{TaskStatus, TransitionRequest};
use synthorg_core::{DomainError, Usd};
use synthorg_store::*;

use crate::entities::cost;
use synthorg_store::testing::PgSchema;

use crate::{add_agent, add_task, admin, move_task};

/// Runs `f(replica, thread)` on 8 threads, half through each store, all released at once.
fn race<T: Send>(stores: [&PostgresStore; 2], f: impl Fn(&PostgresStore, usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(8);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, f, store) = (&barrier, &f, stores[i % 2]);
                scope.spawn(move || {
                    barrier.wait();
                    f(store, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn a_task_moved_through_both_replicas_at_once_moves_once() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    let agent = add_agent(&a, "ada");
    for round in 0..5 {
        let task = add_task(&a, &format!("contested {round}"));
        move_task(&b, task.id, TaskStatus::Assigned, Some(agent.id));
        // Without an expected version: the store's own guard must still let only one win.
        let request =
            TransitionRequest { to: TaskStatus::InProgress, assigned_to: None, expected_version: None, reason: None };
        let results = race([&a, &b], |s, _| s.transition_task(task.id, &request, &admin()));
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: exactly one transition succeeds");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(matches!(r, StoreError::Domain(DomainError::Conflict(_))), "the others conflict: {r}");
        }
        let history = b.task_history(task.id, &PageRequest::default()).unwrap().items;
        let moves: Vec<_> = history.iter().map(|h| (h.from, h.to, h.version)).collect();
        assert_eq!(
            moves,
            [(TaskStatus::Created, TaskStatus::Assigned, 2), (TaskStatus::Assigned, TaskStatus::InProgress, 3)]
        );
        assert_eq!(a.get_task(task.id).unwrap().version, 3);
    }
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn one_cost_report_sent_through_both_replicas_is_recorded_once() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    let agent = add_agent(&a, "ada");
    for round in 0..5 {
        let key = format!("retry-{round}");
        let results = race([&a, &b], |s, _| s.record_cost(&cost(agent.id, "0.125", Some(&key))).unwrap());
        assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1, "round {round}: one insert, the rest replays");
        assert!(results.iter().all(|r| r.value == results[0].value), "every caller gets the stored record");
    }
    let expected = Usd::parse("0.625").unwrap();
    assert_eq!((a.total_cost().unwrap(), b.total_cost().unwrap()), (expected, expected));
    assert_eq!(b.list_costs(&CostFilter::default(), &PageRequest::default()).unwrap().items.len(), 5);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn both_replicas_read_the_same_aggregates_after_a_burst() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    let agents: Vec<_> = (0..4).map(|i| add_agent(&a, &format!("agent-{i}")).id).collect();
    race([&a, &b], |s, i| {
        for n in 0..10 {
            let task = add_task(s, &format!("t{i}-{n}"));
            move_task(s, task.id, TaskStatus::Assigned, Some(agents[(i + n) % 4]));
            if n % 3 == 0 {
                move_task(s, task.id, TaskStatus::InProgress, None);
            }
            s.record_cost(&cost(agents[i % 4], "0.01", None)).unwrap();
        }
    });
    assert_eq!(a.task_counts().unwrap(), b.task_counts().unwrap());
    assert_eq!(a.transition_counts().unwrap(), b.transition_counts().unwrap());
    assert_eq!(a.agent_cost_totals().unwrap(), b.agent_cost_totals().unwrap());
    assert_eq!(a.total_cost().unwrap(), Usd::parse("0.80").unwrap());
    let assigned: u64 = a.task_counts().unwrap().iter().filter(|c| c.0 == TaskStatus::Assigned).map(|c| c.2).sum();
    let in_progress: u64 = b.task_counts().unwrap().iter().filter(|c| c.0 == TaskStatus::InProgress).map(|c| c.2).sum();
    assert_eq!((assigned, in_progress), (8 * 6, 8 * 4));
}

/// An agent terminated on one replica while tasks are assigned to it on the other: whatever
/// the interleaving, no task is left in active work with a terminated assignee.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn a_termination_racing_assignments_leaves_no_active_work_behind() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    for round in 0..4 {
        let agent = add_agent(&a, &format!("leaving-{round}"));
        let tasks: Vec<_> = (0..7).map(|i| add_task(&b, &format!("r{round}-t{i}")).id).collect();
        race([&a, &b], |s, i| match i {
            0 => {
                let patch = synthorg_core::agent::AgentPatch {
                    status: Some(synthorg_core::agent::AgentStatus::Terminated),
                    ..Default::default()
                };
                s.update_agent(agent.id, patch, &admin(), &synthorg_core::audit::AuditContext::system())
                    .map(|_| ())
                    .unwrap();
            }
            i => {
                let request = TransitionRequest {
                    to: TaskStatus::Assigned,
                    assigned_to: Some(agent.id),
                    expected_version: None,
                    reason: None,
                };
                // Refused (terminated, or changed concurrently) or done before the termination.
                let _ = s.transition_task(tasks[i - 1], &request, &admin());
            }
        });
        let filter = TaskFilter { assigned_to: Some(agent.id), ..Default::default() };
        let left: Vec<_> = b
            .list_tasks(&filter, &PageRequest::default())
            .unwrap()
            .items
            .into_iter()
            .filter(|t| t.status.is_active_work())
            .collect();
        assert!(left.is_empty(), "round {round}: active work with a terminated assignee: {left:?}");
    }
}

/// Two admins deciding one approval through two replicas at once: one decision wins, the
/// others are refused, and the stored decision is the winner's.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn an_approval_decided_through_both_replicas_is_decided_once() {
    use synthorg_core::security::{Decision, DecisionRequest};
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    let agent = add_agent(&a, "asker");
    for round in 0..4 {
        let (approval, _) = crate::entities::escalate(&b, agent.id);
        let results = race([&a, &b], |s, i| {
            let decision = if i % 2 == 0 { Decision::Approve } else { Decision::Reject };
            s.decide_approval(
                approval.id,
                &DecisionRequest { decision, note: Some(format!("admin {i}")) },
                &admin(),
                &synthorg_core::audit::AuditContext::system(),
            )
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, StoreError::Domain(DomainError::Conflict(_))))
        );
        let stored = a.get_approval(approval.id).unwrap();
        assert_eq!((stored.status, &stored.decision_note), (winners[0].0.status, &winners[0].0.decision_note));
    }
    assert_eq!(b.pending_approvals().unwrap(), 0);
}
