//! Store benchmarks.
//!
//! - `writes`: one acknowledged (fsynced) write through the store — a cost report, a task
//!   transition — next to the anchor measured in the same run: a raw single-row SQLite
//!   commit with the same durability settings (WAL, synchronous=FULL).
//! - `record_cost_16_threads`: the same cost report from 16 threads at once, time per write:
//!   group commit shares each fsync among the writes queued together.
//! - `aggregates`: the reads behind the metrics with 10k and 1M tasks and cost records; the
//!   figures should not grow with the rows.
//! - `reservations`: a reserve + settle pair next to a plain cost report (the anchor), and the
//!   sweep and the holds read with 0 and 100k settled reservations behind them; those two
//!   should not grow with the settled ones.
//! - `admission`: what a budget admission reads (the period's spend, the agent's day, the
//!   holds) on the last day of a month, with 1 agent and with 1,001 agents spending every
//!   day; it should not grow with the organization.
//!
//! Run: `cargo bench -p synthorg-store --features bench-fixtures --bench store`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use synthorg_core::Actor;
use synthorg_core::agent::NewAgent;
use synthorg_core::cost::NewCostRecord;
use synthorg_core::price::{Catalogue, Usage};
use synthorg_core::rate::CallRates;
use synthorg_core::task::{NewTask, TaskStatus, TransitionRequest};
use synthorg_core::{Usd, budget::day_start};
use synthorg_store::prelude::*;
use synthorg_store::{Admission, AgentFilter, PageRequest, SqliteOptions, SqliteStore, now};
use uuid::Uuid;

fn admin() -> Actor {
    Actor::Admin { key_id: "bench".into() }
}

fn new_store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open_dir(dir.path(), &SqliteOptions::default()).expect("open store")
}

fn cost_record(agent: Uuid) -> synthorg_core::cost::CostRecord {
    NewCostRecord {
        agent_id: agent,
        task_id: None,
        provider: "anthropic".into(),
        model: "claude".into(),
        usage: Usage { input: 1200, output: 300, ..Usage::default() },
        cost: Some(Usd::from_nanos(8_100_000)),
        call_category: None,
        occurred_at: None,
        idempotency_key: Some(Uuid::now_v7().to_string()),
        reservation_id: None,
    }
    .into_record(now(), synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty())
    .expect("record")
}

fn writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = new_store(&dir);
    let agent = NewAgent { name: "bench".into(), role: "dev".into(), ..Default::default() }
        .into_agent(&admin(), now())
        .expect("agent");
    store.create_agent(&agent, &synthorg_core::audit::AuditContext::system()).expect("create agent");
    let mut group = c.benchmark_group("writes");
    group.sample_size(50);

    let raw_dir = tempfile::tempdir().expect("tempdir");
    let raw = rusqlite::Connection::open(raw_dir.path().join("raw.db")).expect("open raw");
    raw.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
    )
    .expect("raw schema");
    group.bench_function("raw_sqlite_commit_anchor", |b| {
        b.iter(|| {
            raw.execute("INSERT INTO t (v) VALUES (?1)", ["x"]).expect("insert");
        })
    });

    group.bench_function("record_cost", |b| {
        b.iter(|| black_box(store.record_cost(&cost_record(agent.id)).expect("record cost")))
    });

    // Per write, with 16 writers at once (iterations are split among them).
    group.bench_function("record_cost_16_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(16);
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..16 {
                    scope.spawn(|| {
                        for _ in 0..per_thread {
                            black_box(store.record_cost(&cost_record(agent.id)).expect("record cost"));
                        }
                    });
                }
            });
            start.elapsed().mul_f64(iters as f64 / (per_thread * 16) as f64)
        })
    });

    group.bench_function("task_transition", |b| {
        let task = NewTask { title: "bench".into(), ..Default::default() }.into_task(&admin(), now()).expect("task");
        store.create_task(&task).expect("create task");
        let assign = TransitionRequest {
            to: TaskStatus::Assigned,
            assigned_to: Some(agent.id),
            expected_version: None,
            reason: None,
        };
        store.transition_task(task.id, &assign, &admin()).expect("assign");
        // in_progress <-> in_review forever: every iteration is one legal transition.
        let mut to = TaskStatus::InProgress;
        b.iter(|| {
            let request = TransitionRequest { to, assigned_to: None, expected_version: None, reason: None };
            black_box(store.transition_task(task.id, &request, &admin()).expect("transition"));
            to = if to == TaskStatus::InProgress { TaskStatus::InReview } else { TaskStatus::InProgress };
        })
    });
    group.finish();
}

fn aggregates(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregates");
    for rows in [10_000usize, 1_000_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = synthorg_store::fixtures::seed(dir.path(), 1000, rows, rows, now()).expect("seed");
        let today = day_start(now());
        let period = synthorg_core::budget::BillingPeriod::containing(now(), 1).start;
        group.bench_with_input(BenchmarkId::new("metrics_reads", rows), &rows, |b, _| {
            b.iter(|| {
                black_box(store.agent_counts().expect("agents"));
                black_box(store.task_counts().expect("tasks"));
                black_box(store.total_cost().expect("total"));
                black_box(store.cost_since(period).expect("period"));
                black_box(store.agent_cost_since(today).expect("per agent today"));
                black_box(store.agent_cost_totals().expect("per agent"));
            })
        });
        drop(store);
        drop(dir);
    }
    group.finish();
}

fn reservations(c: &mut Criterion) {
    use synthorg_core::budget::BudgetConfig;
    use synthorg_core::reservation::NewReservation;

    let mut group = c.benchmark_group("reservations");
    group.sample_size(50);
    let config = BudgetConfig { total_monthly: Usd::dollars(1_000_000_000), ..BudgetConfig::default() };
    for settled in [0usize, 100_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, agent) =
            synthorg_store::fixtures::seed_settled_reservations(dir.path(), settled, now()).expect("seed");
        let hold = |amount: i64| {
            NewReservation { agent_id: agent, amount: Some(Usd::from_nanos(amount)), ..NewReservation::default() }
                .into_reservation(now(), &Catalogue::empty(), "")
                .expect("hold")
        };
        if settled == 0 {
            group.bench_function("record_cost_anchor", |b| {
                b.iter(|| black_box(store.record_cost(&cost_record(agent)).expect("record cost")))
            });
            group.bench_function("reserve_and_settle", |b| {
                b.iter(|| {
                    let Admission::Granted { reservation, .. } =
                        store.reserve(&hold(10_000_000), &config, &CallRates::default()).expect("reserve")
                    else {
                        panic!("refused")
                    };
                    let mut record = cost_record(agent);
                    record.reservation_id = Some(reservation.id);
                    black_box(store.record_cost(&record).expect("settle"))
                })
            });
        }
        group.bench_with_input(BenchmarkId::new("sweep_with_nothing_due", settled), &settled, |b, _| {
            b.iter(|| black_box(store.expire_reservations(now(), 1000).expect("sweep")))
        });
        group.bench_with_input(BenchmarkId::new("held", settled), &settled, |b, _| {
            b.iter(|| black_box(store.held(Some(agent), None, now()).expect("held")))
        });
        drop(store);
        drop(dir);
    }
    group.finish();
}

fn admission(c: &mut Criterion) {
    use synthorg_core::budget::BudgetConfig;

    let mut group = c.benchmark_group("admission");
    // Late on the last day of a month: the period holds 31 days of spend.
    let at = time::macros::datetime!(2026-03-31 18:00 UTC);
    let config = BudgetConfig {
        total_monthly: Usd::dollars(1_000_000_000),
        per_agent_daily_limit: Usd::dollars(1_000_000),
        per_agent_daily_tokens: 1_000_000_000_000,
        ..BudgetConfig::default()
    };
    // 60 days of records, one per agent and day (1,001 and 60 are coprime).
    for agents in [1usize, 1001] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = synthorg_store::fixtures::seed(dir.path(), agents, 0, agents * 60, at).expect("seed");
        let agent = store.list_agents(&AgentFilter::default(), &PageRequest::default()).expect("agents").items[0].id;
        group.bench_with_input(BenchmarkId::new("figures", agents), &agents, |b, _| {
            b.iter(|| black_box(store.standing(agent, None, &config, at).expect("standing")))
        });
        drop(store);
        drop(dir);
    }
    group.finish();
}

criterion_group!(benches, writes, aggregates, reservations, admission);
criterion_main!(benches);
