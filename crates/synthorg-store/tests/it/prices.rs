//! Priced cost records on both backends: token classes and cost sources stored, listed and
//! filtered; the per-model totals always equal the records they sum; stores written before
//! pricing existed are migrated with their records marked `reported`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use synthorg_core::Usd;
use synthorg_core::cost::{CostRecord, CostSource, NewCostRecord};
use synthorg_core::price::{Catalogue, Usage};
use synthorg_store::prelude::*;
use synthorg_store::{CostFilter, MAX_PAGE, ModelUsage, PageRequest, Store, now};
use uuid::Uuid;

use crate::{add_agent, admin, on_both_stores};

on_both_stores!(priced_records_round_trip_and_filter, model_totals_equal_the_records);

fn report(agent: Uuid, provider: &str, model: &str, usage: Usage, cost: Option<&str>) -> CostRecord {
    NewCostRecord {
        agent_id: agent,
        task_id: None,
        provider: provider.into(),
        model: model.into(),
        usage,
        cost: cost.map(|c| Usd::parse(c).unwrap()),
        call_category: None,
        occurred_at: None,
        idempotency_key: None,
        reservation_id: None,
    }
    .into_record(now(), synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY, &Catalogue::builtin())
    .unwrap()
}

fn all(s: &dyn Store, filter: CostFilter) -> Vec<CostRecord> {
    s.list_costs(&filter, &PageRequest { limit: MAX_PAGE, after: None, newest_first: false }).unwrap().items
}

fn priced_records_round_trip_and_filter(s: &dyn Store) {
    let agent = add_agent(s, "pricer").id;
    let usage =
        Usage { input: 10_000, output: 1000, cache_read_input: 8000, cache_write_input: 1000, reasoning_output: 0 };
    let computed = report(agent, "anthropic", "claude-sonnet-4-5", usage, None);
    let disagreeing = report(agent, "anthropic", "claude-sonnet-4-5", usage, Some("0.05"));
    let reasoning = Usage { input: 100, output: 900, reasoning_output: 600, ..Usage::default() };
    let unpriced = report(agent, "local", "llama-3.3-70b", reasoning, None);
    let metered = report(agent, "openai", "gpt-4.1-mini", usage, None).through_gateway(true);
    let estimated = report(agent, "openai", "gpt-4.1-mini", usage, None).through_gateway(false);
    assert_eq!((metered.cost_source, estimated.cost_source), (CostSource::Metered, CostSource::Estimated));
    for r in [&computed, &disagreeing, &unpriced, &metered, &estimated] {
        assert!(!s.record_cost(r).unwrap().replayed);
    }
    assert_eq!(
        all(s, CostFilter::default()),
        [computed.clone(), disagreeing.clone(), unpriced.clone(), metered.clone(), estimated.clone()]
    );
    let only = |filter: CostFilter| all(s, filter).into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(only(CostFilter { cost_source: Some(CostSource::Computed), ..Default::default() }), [computed.id]);
    assert_eq!(only(CostFilter { cost_source: Some(CostSource::Unpriced), ..Default::default() }), [unpriced.id]);
    assert_eq!(only(CostFilter { cost_source: Some(CostSource::Metered), ..Default::default() }), [metered.id]);
    assert_eq!(only(CostFilter { cost_source: Some(CostSource::Estimated), ..Default::default() }), [estimated.id]);
    assert_eq!(only(CostFilter { provider: Some("local".into()), ..Default::default() }), [unpriced.id]);
    assert_eq!(
        only(CostFilter { model: Some("claude-sonnet-4-5".into()), ..Default::default() }),
        [computed.id, disagreeing.id]
    );
    // 1000 plain × 3 + 8000 × 0.3 + 1000 × 3.75 + 1000 × 15 = 24150 per million.
    assert_eq!(computed.cost, Usd::parse("0.02415").unwrap());
    assert!(disagreeing.cost_disagrees);
    assert_eq!(disagreeing.computed_cost, Some(computed.cost));

    let usage_of = |model: &str| s.model_usage().unwrap().into_iter().find(|m| m.model == model).unwrap();
    let sonnet = usage_of("claude-sonnet-4-5");
    assert_eq!(sonnet.cost, Usd::parse("0.07415").unwrap());
    assert_eq!(sonnet.tokens, usage.plus(usage));
    assert_eq!((sonnet.reported, sonnet.computed, sonnet.unpriced, sonnet.disagreements), (1, 1, 0, 1));
    let local = usage_of("llama-3.3-70b");
    assert_eq!((local.cost, local.tokens, local.unpriced), (Usd::ZERO, reasoning, 1));
    let order: Vec<String> = s.model_usage().unwrap().into_iter().map(|m| m.model).collect();
    assert_eq!(order, ["claude-sonnet-4-5", "llama-3.3-70b", "gpt-4.1-mini"], "first used first");
    let mini = usage_of("gpt-4.1-mini");
    assert_eq!((mini.metered, mini.estimated, mini.computed, mini.reported), (1, 1, 0, 0));
    assert_eq!(mini.cost, metered.cost.checked_add(estimated.cost).unwrap());
}

/// Any mix of reports: the per-model totals equal the sums of the records listed, and the
/// ledger total equals the sum of every model's cost.
fn model_totals_equal_the_records(s: &dyn Store) {
    let agent = add_agent(s, "random").id;
    const MODELS: [(&str, &str); 4] = [
        ("anthropic", "claude-haiku-4-5"),
        ("openai", "gpt-4.1-mini"),
        ("google", "gemini-2.5-pro"),
        ("x", "unlisted"),
    ];
    let call = (
        0usize..4,
        0u64..400_000,
        0u64..5000,
        0u64..=100,
        0u64..=100,
        0u64..=100,
        proptest::option::of(0u64..5_000_000),
        // Some calls go through the model gateway, complete or cut short.
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(model, input, output, read_pct, write_pct, reason_pct, cost, gateway)| {
            let read = input * read_pct / 200;
            let write = (input - read) * write_pct / 100;
            let usage = Usage {
                input,
                output,
                cache_read_input: read,
                cache_write_input: write,
                reasoning_output: output * reason_pct / 100,
            };
            (model, usage, cost, gateway)
        });
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(call, 1..12), |batch| {
            for (model, usage, cost, gateway) in batch {
                let (provider, name) = MODELS[model];
                let cost = cost.map(|n| Usd::from_nanos(n as i64).to_string());
                let record = report(agent, provider, name, usage, cost.as_deref());
                let record = match gateway {
                    Some(complete) => record.through_gateway(complete),
                    None => record,
                };
                s.record_cost(&record).unwrap();
            }
            let records = all(s, CostFilter::default());
            let mut expected: Vec<ModelUsage> = Vec::new();
            for r in &records {
                let mut one = ModelUsage::empty(r.provider.clone(), r.model.clone());
                one.cost = r.cost;
                one.tokens = r.usage();
                match r.cost_source {
                    CostSource::Reported => one.reported = 1,
                    CostSource::Computed => one.computed = 1,
                    CostSource::Unpriced => one.unpriced = 1,
                    CostSource::Metered => one.metered = 1,
                    CostSource::Estimated => one.estimated = 1,
                }
                one.disagreements = u64::from(r.cost_disagrees);
                match expected.iter_mut().find(|m| m.provider == r.provider && m.model == r.model) {
                    Some(m) => m.absorb(&one),
                    None => expected.push(one),
                }
            }
            prop_assert_eq!(s.model_usage().unwrap(), expected.clone());
            let total = expected.iter().map(|m| m.cost).sum::<Usd>();
            prop_assert_eq!(s.total_cost().unwrap(), total);
            Ok(())
        })
        .unwrap();
}

/// A SQLite store written by the first schema version: opening it migrates the ledger, its
/// records become `reported`, and the per-model totals include them.
#[test]
fn a_version_1_sqlite_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(synthorg_store::sqlite::DB_FILE);
    {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch(include_str!("../../migrations/sqlite/0001_initial.sql")).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO agents (id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at)
                 VALUES ('0190a000-0000-7000-8000-000000000001', 'old', 'dev', 'eng', 'active', 'standard', '[]', '[]', 0, 0);
             INSERT INTO cost_records (id, agent_id, task_id, provider, model, input_tokens, output_tokens, cost_nanos, call_category, occurred_at, recorded_at)
                 VALUES ('0190a000-0000-7000-8000-000000000002', '0190a000-0000-7000-8000-000000000001', NULL, 'openai', 'gpt-4o', 100, 10, 1500, 'productive', 1, 1),
                        ('0190a000-0000-7000-8000-000000000003', '0190a000-0000-7000-8000-000000000001', NULL, 'openai', 'gpt-4o', 200, 20, 2500, 'productive', 2, 2);",
        )
        .unwrap();
    }
    let store = synthorg_store::SqliteStore::open_dir(dir.path(), &synthorg_store::SqliteOptions::default()).unwrap();
    check_migrated(&store);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// The same on PostgreSQL: a schema at version 1 with records is migrated on connect.
#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn a_version_1_postgres_store_is_migrated() {
    let schema = synthorg_store::testing::PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let mut client = ::postgres::Client::connect(&schema.url, ::postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {name}; SET search_path TO {name}; {v1}
             CREATE TABLE synthorg_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO synthorg_migrations (version) VALUES (1);
             INSERT INTO agents (id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at)
                 VALUES ('0190a000-0000-7000-8000-000000000001', 'old', 'dev', 'eng', 'active', 'standard', '[]', '[]', now(), now());
             INSERT INTO cost_records (id, agent_id, task_id, provider, model, input_tokens, output_tokens, cost_nanos, call_category, occurred_at, recorded_at)
                 VALUES ('0190a000-0000-7000-8000-000000000002', '0190a000-0000-7000-8000-000000000001', NULL, 'openai', 'gpt-4o', 100, 10, 1500, 'productive', now(), now()),
                        ('0190a000-0000-7000-8000-000000000003', '0190a000-0000-7000-8000-000000000001', NULL, 'openai', 'gpt-4o', 200, 20, 2500, 'productive', now(), now());",
            name = schema.name,
            v1 = include_str!("../../migrations/postgres/0001_initial.sql"),
        ))
        .unwrap();
    let store = schema.open().unwrap();
    check_migrated(&store);
}

fn check_migrated(s: &dyn Store) {
    let records = all(s, CostFilter::default());
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!((r.cost_source, r.computed_cost, r.cost_disagrees), (CostSource::Reported, None, false));
        assert_eq!((r.cache_read_input_tokens, r.reasoning_output_tokens), (0, 0));
    }
    let usage = s.model_usage().unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].cost, usage[0].tokens.input, usage[0].reported), (Usd::from_nanos(4000), 300, 2));
    // The per-day totals (schema version 6) start from the records already there.
    let since = time::OffsetDateTime::UNIX_EPOCH;
    assert_eq!(s.cost_since(since).unwrap(), Usd::from_nanos(4000));
    // New reports add to the migrated totals.
    let agent = records[0].agent_id;
    s.record_cost(&report(agent, "openai", "gpt-4o", Usage { input: 1000, ..Usage::default() }, None)).unwrap();
    let usage = s.model_usage().unwrap();
    assert_eq!((usage[0].cost, usage[0].computed, usage[0].reported), (Usd::parse("0.002504").unwrap(), 1, 2));
    assert_eq!(s.cost_since(since).unwrap(), Usd::parse("0.002504").unwrap());
}

/// Agent names are unique regardless of case and width; a store written before that rule
/// keeps its agents (the later of two colliding names keeps no key, and a warning names it),
/// and new agents cannot take either spelling.
#[test]
fn a_version_2_sqlite_store_gets_name_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(synthorg_store::sqlite::DB_FILE);
    {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch(include_str!("../../migrations/sqlite/0001_initial.sql")).unwrap();
        c.execute_batch(include_str!("../../migrations/sqlite/0002_prices.sql")).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO agents (id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at)
                 VALUES ('0190a000-0000-7000-8000-000000000001', 'Ada', 'dev', '', 'active', 'standard', '[]', '[]', 0, 0),
                        ('0190a000-0000-7000-8000-000000000002', 'ada', 'dev', '', 'active', 'standard', '[]', '[]', 0, 0),
                        ('0190a000-0000-7000-8000-000000000003', 'Grace', 'dev', '', 'active', 'standard', '[]', '[]', 0, 0);",
        )
        .unwrap();
    }
    let store = synthorg_store::SqliteStore::open_dir(dir.path(), &synthorg_store::SqliteOptions::default()).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    let keys: Vec<Option<String>> = rusqlite::Connection::open(&file)
        .unwrap()
        .prepare("SELECT name_key FROM agents ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, [Some("ada".to_owned()), None, Some("grace".to_owned())]);
    for taken in ["ADA", "ａｄａ", " grace "] {
        let agent = synthorg_core::agent::NewAgent { name: taken.into(), role: "dev".into(), ..Default::default() }
            .into_agent(&admin(), now())
            .unwrap();
        let e = store.create_agent(&agent, &synthorg_core::audit::AuditContext::system()).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{taken}: {e}");
    }
    add_agent(&store, "Linus");
}
