//! The maintained aggregates agree with a recount of the rows.

use std::collections::BTreeMap;

use synthorg_core::Usd;
use synthorg_core::agent::AgentPatch;
use synthorg_core::cost::NewCostRecord;
use synthorg_core::price::{Catalogue, Usage};
use synthorg_core::task::{TaskStatus, TransitionRequest};
use synthorg_store::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{add_agent, add_task, admin};

fn window(period_start: OffsetDateTime, day_start: OffsetDateTime) -> synthorg_core::budget::SpendWindow {
    synthorg_core::budget::SpendWindow { period_start, day_start }
}

fn record_at(s: &dyn Store, agent: Uuid, amount: &str, at: OffsetDateTime) {
    let record = NewCostRecord {
        agent_id: agent,
        task_id: None,
        provider: "p".into(),
        model: "m".into(),
        usage: Usage { input: 1, output: 1, ..Usage::default() },
        cost: Some(Usd::parse(amount).unwrap()),
        call_category: None,
        occurred_at: Some(at),
        idempotency_key: None,
        reservation_id: None,
    }
    .into_record(at + Duration::minutes(1), synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty())
    .unwrap();
    s.record_cost(&record).unwrap();
}

fn cost_since_handles_whole_and_partial_days(s: &dyn Store) {
    let a = add_agent(s, "a").id;
    let b = add_agent(s, "b").id;
    record_at(s, a, "1", datetime!(2026-03-01 10:00 UTC));
    record_at(s, a, "2", datetime!(2026-03-02 08:00 UTC));
    record_at(s, b, "4", datetime!(2026-03-02 12:00 UTC));
    record_at(s, b, "8", datetime!(2026-03-03 00:00 UTC));
    let usd = |x: i64| Usd::dollars(x);
    assert_eq!(s.total_cost().unwrap(), usd(15));
    assert_eq!(s.cost_since(datetime!(2026-03-01 0:00 UTC)).unwrap(), usd(15));
    assert_eq!(s.cost_since(datetime!(2026-03-02 0:00 UTC)).unwrap(), usd(14));
    assert_eq!(s.cost_since(datetime!(2026-03-02 10:00 UTC)).unwrap(), usd(12));
    assert_eq!(s.cost_since(datetime!(2026-03-03 0:00 UTC)).unwrap(), usd(8));
    assert_eq!(s.cost_since(datetime!(2026-03-04 0:00 UTC)).unwrap(), usd(0));
    let mut per_agent = s.agent_cost_since(datetime!(2026-03-02 10:00 UTC)).unwrap();
    per_agent.sort();
    let mut expected = vec![(b, usd(12))];
    expected.sort();
    assert_eq!(per_agent, expected);
    let spend =
        s.action_spend(Some(b), None, window(datetime!(2026-03-01 0:00 UTC), datetime!(2026-03-02 10:00 UTC))).unwrap();
    assert_eq!((spend.period_spend, spend.agent_today, spend.task_total), (usd(15), usd(12), None));
    let spend =
        s.action_spend(Some(a), None, window(datetime!(2026-03-02 0:00 UTC), datetime!(2026-03-02 9:00 UTC))).unwrap();
    assert_eq!((spend.period_spend, spend.agent_today), (usd(14), usd(0)));
    let mut totals = s.agent_cost_totals().unwrap();
    totals.sort();
    let mut expected = vec![(a, usd(3)), (b, usd(12))];
    expected.sort();
    assert_eq!(totals, expected);
}

/// A pseudo-random workload; afterwards the trigger-maintained counts equal a recount.
fn maintained_counts_equal_a_recount(s: &dyn Store) {
    let agents: Vec<Uuid> = (0..5).map(|i| add_agent(s, &format!("agent-{i}")).id).collect();
    let tasks: Vec<Uuid> = (0..40).map(|i| add_task(s, &format!("task-{i}")).id).collect();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for _ in 0..600 {
        let task = tasks[next(tasks.len())];
        let to = TaskStatus::ALL[next(TaskStatus::ALL.len())];
        let who = if next(2) == 0 { Some(agents[next(agents.len())]) } else { None };
        let request = TransitionRequest { to, assigned_to: who, expected_version: None, reason: None };
        let _ = s.transition_task(task, &request, &admin());
        if next(50) == 0 {
            let patch = AgentPatch {
                status: Some(synthorg_core::agent::AgentStatus::ALL[next(4)]),
                trust_level: Some(synthorg_core::agent::TrustLevel::ALL[next(5)]),
                ..Default::default()
            };
            let _ = s.update_agent(
                agents[next(agents.len())],
                patch,
                &admin(),
                &synthorg_core::audit::AuditContext::system(),
            );
        }
    }
    let all_tasks = s
        .list_tasks(&TaskFilter::default(), &PageRequest { limit: 1000, after: None, newest_first: false })
        .unwrap()
        .items;
    let mut recount: BTreeMap<(TaskStatus, Option<Uuid>), u64> = BTreeMap::new();
    for t in &all_tasks {
        *recount.entry((t.status, t.assigned_to)).or_default() += 1;
    }
    let maintained: BTreeMap<_, _> = s.task_counts().unwrap().into_iter().map(|(st, a, n)| ((st, a), n)).collect();
    assert_eq!(maintained, recount);

    let all_agents = s.list_agents(&AgentFilter::default(), &PageRequest::default()).unwrap().items;
    let mut recount = BTreeMap::new();
    for a in &all_agents {
        *recount.entry((a.status, a.trust_level)).or_insert(0u64) += 1;
    }
    let maintained: BTreeMap<_, _> =
        s.agent_counts().unwrap().into_iter().filter(|(_, _, n)| *n > 0).map(|(st, l, n)| ((st, l), n)).collect();
    assert_eq!(maintained, recount);

    let mut transitions: BTreeMap<(TaskStatus, TaskStatus), u64> = BTreeMap::new();
    for t in &tasks {
        for h in s.task_history(*t, &PageRequest { limit: 1000, after: None, newest_first: false }).unwrap().items {
            *transitions.entry((h.from, h.to)).or_default() += 1;
        }
    }
    let maintained: BTreeMap<_, _> = s.transition_counts().unwrap().into_iter().map(|(f, t, n)| ((f, t), n)).collect();
    assert_eq!(maintained, transitions);
    assert!(transitions.values().sum::<u64>() > 50, "the workload moved tasks");
}

/// Many agents' records spread over days: the period's spend (from the per-day totals) and
/// each agent's day (from its own rows), as reports, metrics and admissions read them, equal
/// a recount of the records.
fn spend_figures_equal_a_recount(s: &dyn Store) {
    let agents: Vec<Uuid> = (0..6).map(|i| add_agent(s, &format!("spender-{i}")).id).collect();
    let first = datetime!(2026-03-01 0:00 UTC);
    let mut seed: u64 = 0xc057;
    let mut next = |n: i64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as i64 % n
    };
    let mut records = Vec::new();
    for _ in 0..120 {
        let agent = agents[next(agents.len() as i64) as usize];
        let at = first + Duration::minutes(next(6 * 24 * 60));
        let cents = 1 + next(500);
        record_at(s, agent, &format!("{}.{:02}", cents / 100, cents % 100), at);
        records.push((agent, at, Usd::from_nanos(cents * 10_000_000)));
    }
    let config = synthorg_core::budget::BudgetConfig {
        total_monthly: Usd::dollars(1_000_000),
        per_agent_daily_limit: Usd::dollars(1_000_000),
        per_agent_daily_tokens: u64::MAX / 2,
        ..Default::default()
    };
    for day in 0..7 {
        let since = first + Duration::days(day);
        let spent = |agent: Option<Uuid>| -> Usd {
            records.iter().filter(|(a, at, _)| *at >= since && agent.is_none_or(|x| x == *a)).map(|r| r.2).sum()
        };
        assert_eq!(s.cost_since(since).unwrap(), spent(None), "since day {day}");
        for &agent in &agents {
            let spend = s.action_spend(Some(agent), None, window(first, since)).unwrap();
            let all: Usd = records.iter().map(|r| r.2).sum();
            assert_eq!((spend.period_spend, spend.agent_today), (all, spent(Some(agent))), "day {day}");
            // An admission at noon of that day: the period is the month, the agent's day is that day.
            let (spend, _) = s.standing(agent, None, &config, since + Duration::hours(12)).unwrap();
            let today: Usd = records
                .iter()
                .filter(|(a, at, _)| *a == agent && *at >= since && *at < since + Duration::days(1))
                .map(|r| r.2)
                .sum();
            let later: Usd =
                records.iter().filter(|(a, at, _)| *a == agent && *at >= since + Duration::days(1)).map(|r| r.2).sum();
            assert_eq!(spend.period_spend, all, "day {day}");
            assert_eq!(
                spend.agent_today,
                [today, later].into_iter().sum::<Usd>(),
                "day {day}: the agent's days from this one on"
            );
        }
    }
}

/// Verdicts counted by the trigger equal a recount of the evaluations, escalations (with their
/// approvals) included.
fn verdict_counts_equal_a_recount(s: &dyn Store) {
    use synthorg_core::security::{RiskLevel, Verdict};
    let agent = add_agent(s, "judged").id;
    assert_eq!(s.verdict_counts().unwrap(), vec![], "no verdict yet");
    for i in 0..23 {
        let verdict = [Verdict::Allow, Verdict::Deny, Verdict::Allow, Verdict::OutputScan][i % 4];
        let evaluation = EvaluationRecord {
            id: Uuid::now_v7(),
            agent_id: agent,
            task_id: None,
            tool: "fs.read".into(),
            action_type: "read".into(),
            verdict,
            risk_level: RiskLevel::Low,
            reason: "rule".into(),
            matched_rules: vec![],
            approval_id: None,
            created_at: synthorg_store::now(),
            action: verdict,
        };
        s.record_evaluation(&evaluation, None, &synthorg_core::audit::AuditContext::system()).unwrap();
    }
    crate::entities::escalate(s, agent);
    let listed = s
        .list_evaluations(&EvaluationFilter::default(), &PageRequest { limit: 1000, after: None, newest_first: false })
        .unwrap();
    let mut recount: BTreeMap<Verdict, u64> = BTreeMap::new();
    for e in &listed.items {
        *recount.entry(e.verdict).or_default() += 1;
    }
    let counted: BTreeMap<Verdict, u64> = s.verdict_counts().unwrap().into_iter().collect();
    assert_eq!(counted, recount);
    assert_eq!(counted[&Verdict::Allow], 12);
    assert_eq!(counted[&Verdict::Escalate], 1);
}

crate::on_both_stores!(
    cost_since_handles_whole_and_partial_days,
    maintained_counts_equal_a_recount,
    spend_figures_equal_a_recount,
    verdict_counts_equal_a_recount
);

/// The store's origin is written once and read back the same, on both stores; `store
/// migrate` carries SQLite's to PostgreSQL, replacing the one a server started on the empty
/// target wrote.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn the_origin_is_kept_and_carried_by_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).unwrap();
    let origin = sqlite.origin().unwrap();
    assert!(origin <= now());
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(sqlite.origin().unwrap(), origin, "written once");
    drop(sqlite);
    let schema = synthorg_store::testing::PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let target = schema.open().unwrap();
    let own = target.origin().unwrap();
    assert_eq!(target.origin().unwrap(), own);
    assert_ne!(own, origin);
    synthorg_store::migrate::sqlite_to_postgres(dir.path(), &schema.url, &schema.options()).unwrap();
    assert_eq!(target.origin().unwrap(), origin, "the source's origin came along");
}
