use proptest::prelude::*;

use super::*;

fn admin() -> Actor {
    Actor::Admin { key_id: "admin".into() }
}

fn new_task() -> Task {
    NewTask { title: "write docs".into(), ..Default::default() }
        .into_task(&admin(), OffsetDateTime::UNIX_EPOCH)
        .unwrap()
}

fn request(to: TaskStatus, assigned_to: Option<Uuid>) -> TransitionRequest {
    TransitionRequest { to, assigned_to, expected_version: None, reason: None }
}

fn step(task: &Task, to: TaskStatus, who: Option<Uuid>) -> Result<Task, DomainError> {
    let status = who.or(task.assigned_to).map(|_| AgentStatus::Active);
    plan_transition(task, &request(to, who), status, &admin(), OffsetDateTime::UNIX_EPOCH).map(|(t, _)| t)
}

#[test]
fn the_table_is_the_spec() {
    use TaskStatus::*;
    let expected: &[(TaskStatus, &[TaskStatus])] = &[
        (Created, &[Assigned, Cancelled]),
        (Assigned, &[InProgress, Blocked, Cancelled, Failed, Interrupted]),
        (InProgress, &[InReview, Blocked, Cancelled, Failed, Interrupted]),
        (InReview, &[Completed, InProgress, Blocked, Cancelled]),
        (Blocked, &[Assigned]),
        (Failed, &[Assigned]),
        (Interrupted, &[Assigned]),
        (Completed, &[]),
        (Cancelled, &[]),
    ];
    assert_eq!(expected.len(), TaskStatus::ALL.len());
    for (from, next) in expected {
        for to in TaskStatus::ALL {
            assert_eq!(from.can_move_to(*to), next.contains(to), "{from} -> {to}");
        }
    }
}

#[test]
fn happy_path_with_rework() {
    let agent = Uuid::now_v7();
    let mut t = new_task();
    for (to, who) in [
        (TaskStatus::Assigned, Some(agent)),
        (TaskStatus::InProgress, None),
        (TaskStatus::InReview, None),
        (TaskStatus::InProgress, None),
        (TaskStatus::InReview, None),
        (TaskStatus::Completed, None),
    ] {
        t = step(&t, to, who).unwrap();
    }
    assert_eq!(t.status, TaskStatus::Completed);
    assert_eq!(t.version, 7);
    assert_eq!(t.assigned_to, Some(agent));
}

#[test]
fn illegal_transition_lists_allowed_states() {
    let err = step(&new_task(), TaskStatus::Completed, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "illegal transition from created to completed; allowed next states: assigned, cancelled"
    );
    let cancelled = step(&new_task(), TaskStatus::Cancelled, None).unwrap();
    let err = step(&cancelled, TaskStatus::Assigned, Some(Uuid::nil())).unwrap_err();
    assert!(err.to_string().contains("cancelled is terminal"), "{err}");
}

#[test]
fn stale_version_is_a_conflict() {
    let t = new_task();
    let mut r = request(TaskStatus::Cancelled, None);
    r.expected_version = Some(0);
    let err = plan_transition(&t, &r, None, &admin(), OffsetDateTime::UNIX_EPOCH).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(ref m) if m.contains("stale version")), "{err}");
    r.expected_version = Some(1);
    assert!(plan_transition(&t, &r, None, &admin(), OffsetDateTime::UNIX_EPOCH).is_ok());
}

#[test]
fn assignee_must_exist_and_be_alive() {
    let t = new_task();
    let agent = Uuid::now_v7();
    let r = request(TaskStatus::Assigned, Some(agent));
    let at = OffsetDateTime::UNIX_EPOCH;
    let missing = plan_transition(&t, &r, None, &admin(), at).unwrap_err();
    assert!(missing.to_string().contains("does not exist"), "{missing}");
    let dead = plan_transition(&t, &r, Some(AgentStatus::Terminated), &admin(), at).unwrap_err();
    assert!(dead.to_string().starts_with("assigned_to: agent"), "{dead}");
    let none = plan_transition(&t, &request(TaskStatus::Assigned, None), None, &admin(), at);
    assert!(none.unwrap_err().to_string().contains("required for assigned"));
}

#[test]
fn agent_keys_act_only_for_their_agent() {
    let me = Uuid::now_v7();
    let other = Uuid::now_v7();
    let key = Actor::Agent { key_id: "k".into(), agent_id: me };
    let at = OffsetDateTime::UNIX_EPOCH;
    let t = new_task();
    let take = request(TaskStatus::Assigned, Some(me));
    let (mine, _) = plan_transition(&t, &take, Some(AgentStatus::Active), &key, at).unwrap();
    let give = request(TaskStatus::Assigned, Some(other));
    let err = plan_transition(&t, &give, Some(AgentStatus::Active), &key, at).unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)));
    let theirs = step(&t, TaskStatus::Assigned, Some(other)).unwrap();
    let start = request(TaskStatus::InProgress, None);
    let err = plan_transition(&theirs, &start, Some(AgentStatus::Active), &key, at).unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)));
    assert!(plan_transition(&mine, &start, Some(AgentStatus::Active), &key, at).is_ok());
}

/// A request a client might send, including nonsense.
fn any_request() -> impl Strategy<Value = (usize, Option<usize>, bool, Option<i64>)> {
    (0..TaskStatus::ALL.len(), proptest::option::of(0..3usize), any::<bool>(), proptest::option::of(0..12i64))
}

proptest! {
    /// No sequence of requests, legal or not, reaches a state the table or the assignee
    /// invariants forbid, and the history replays to the final state.
    #[test]
    fn no_request_sequence_breaks_the_invariants(requests in proptest::collection::vec(any_request(), 0..60)) {
        let agents = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        // agents[2] is terminated.
        let status_of = |id: Uuid| if id == agents[2] { AgentStatus::Terminated } else { AgentStatus::Active };
        let mut task = new_task();
        let mut history: Vec<TaskTransition> = Vec::new();
        for (to, who, admin_key, version) in requests {
            let req = TransitionRequest {
                to: TaskStatus::ALL[to],
                assigned_to: who.map(|i| agents[i]),
                expected_version: version,
                reason: None,
            };
            let actor = if admin_key { admin() } else { Actor::Agent { key_id: "k".into(), agent_id: agents[0] } };
            let target = req.assigned_to.or(task.assigned_to);
            let before = task.clone();
            if let Ok((next, record)) = plan_transition(&task, &req, target.map(status_of), &actor, OffsetDateTime::UNIX_EPOCH) {
                prop_assert!(before.status.can_move_to(next.status));
                prop_assert_eq!(next.version, before.version + 1);
                prop_assert_eq!(record.from, before.status);
                prop_assert_eq!(record.to, next.status);
                history.push(record);
                task = next;
            } else {
                prop_assert_eq!(&task, &before);
            }
            if task.status == TaskStatus::Created {
                prop_assert!(task.assigned_to.is_none());
            }
            if task.status.requires_assignee() && history.last().is_some_and(|h| h.to == task.status) {
                let a = task.assigned_to;
                prop_assert!(a.is_some());
                prop_assert_ne!(a, Some(agents[2]));
            }
        }
        let mut replay = TaskStatus::Created;
        for h in &history {
            prop_assert_eq!(h.from, replay);
            replay = h.to;
        }
        prop_assert_eq!(replay, task.status);
        prop_assert_eq!(task.version, 1 + history.len() as i64);
    }
}

#[test]
fn a_terminated_assignees_active_work_is_interrupted_by_synthorg() {
    let agent = Uuid::now_v7();
    let assigned = step(&new_task(), TaskStatus::Assigned, Some(agent)).unwrap();
    let in_progress = step(&assigned, TaskStatus::InProgress, None).unwrap();
    for task in [&assigned, &in_progress] {
        let (next, record) = plan_interruption(task, agent, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(next.status, TaskStatus::Interrupted);
        assert_eq!(next.version, task.version + 1);
        assert_eq!((record.from, record.to), (task.status, TaskStatus::Interrupted));
        assert_eq!(record.by, "system");
        assert_eq!(record.reason, Some(format!("assignee {agent} was terminated")));
    }
    // Finished work is not interrupted.
    let cancelled = step(&assigned, TaskStatus::Cancelled, None).unwrap();
    assert!(plan_interruption(&cancelled, agent, OffsetDateTime::UNIX_EPOCH).is_err());
}
