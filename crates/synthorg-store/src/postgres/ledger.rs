//! The cost ledger, the budget setting and coordination runs.

use postgres::Row;
use postgres::types::Json;
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendSnapshot, SpendWindow};
use synthorg_core::coordination::CoordinationRun;
use synthorg_core::cost::{CallCategory, CostRecord, CostSource};
use synthorg_core::{DomainError, Usd};
use uuid::Uuid;

use super::{Filter, PostgresStore, col, enum_col, json_col, statement};
use crate::schema::{BUDGET_KEY, COST_COLUMNS, RUN_COLUMNS};
use crate::{CostFilter, Page, PageRequest, Recorded, RunFilter, StoreError};

fn cost_row(row: &Row, first: usize) -> Result<CostRecord, StoreError> {
    let c = |i: usize| first + i;
    Ok(CostRecord {
        id: col(row, c(0))?,
        agent_id: col(row, c(1))?,
        task_id: col(row, c(2))?,
        provider: col(row, c(3))?,
        model: col(row, c(4))?,
        input_tokens: col::<i64>(row, c(5))?.max(0) as u64,
        output_tokens: col::<i64>(row, c(6))?.max(0) as u64,
        cost: Usd::from_nanos(col(row, c(7))?),
        call_category: enum_col(row, c(8), CallCategory::parse)?,
        occurred_at: col(row, c(9))?,
        recorded_at: col(row, c(10))?,
        idempotency_key: col(row, c(11))?,
        cache_read_input_tokens: col::<i64>(row, c(12))?.max(0) as u64,
        cache_write_input_tokens: col::<i64>(row, c(13))?.max(0) as u64,
        reasoning_output_tokens: col::<i64>(row, c(14))?.max(0) as u64,
        cost_source: enum_col(row, c(15), CostSource::parse)?,
        computed_cost: col::<Option<i64>>(row, c(16))?.map(Usd::from_nanos),
        price_version: col(row, c(17))?,
        cost_disagrees: col(row, c(18))?,
        reservation_id: col(row, c(19))?,
    })
}

fn run_row(row: &Row) -> Result<CoordinationRun, StoreError> {
    Ok(CoordinationRun {
        id: col(row, 1)?,
        task_id: col(row, 2)?,
        agents: json_col(row, 3)?,
        topology: col(row, 4)?,
        turns_mas: col(row, 5)?,
        turns_sas: col(row, 6)?,
        success_rate: col(row, 7)?,
        efficiency: col(row, 8)?,
        overhead_percent: col(row, 9)?,
        created_at: col(row, 10)?,
    })
}

/// Inserts `record` unless its idempotency key is taken: the record, or the replay of the
/// stored one, or why it could not be inserted. One statement in the common case.
fn insert_cost<C: postgres::GenericClient>(
    db: &mut super::Db<'_, C>,
    record: &CostRecord,
) -> Result<Recorded<CostRecord>, StoreError> {
    let statement = statement(crate::rows::cost(record)?)?;
    let (agent, task) = (statement.mark("agent_id"), statement.mark("task_id"));
    let sql = format!(
        "{} WHERE EXISTS (SELECT 1 FROM agents WHERE id = {agent}) \
         AND ({task} IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = {task})) \
         ON CONFLICT (idempotency_key) DO NOTHING",
        statement.select_sql()
    );
    let inserted = db.execute_statement(&sql, &statement)?;
    if inserted == 1 {
        return Ok(Recorded { value: record.clone(), replayed: false, settlement: None });
    }
    if let Some(key) = &record.idempotency_key
        && let Some(row) =
            db.query_opt(&format!("SELECT {COST_COLUMNS} FROM cost_records WHERE idempotency_key = $1"), &[key])?
    {
        let existing = cost_row(&row, 0)?;
        if !existing.same_report(record) {
            return Err(DomainError::Conflict(format!(
                "idempotency_key {key:?} was already used for a different cost report"
            ))
            .into());
        }
        return Ok(Recorded { value: existing, replayed: true, settlement: None });
    }
    if super::agents::status_of(db, record.agent_id)?.is_none() {
        return Err(DomainError::invalid("agent_id", format!("agent {} does not exist", record.agent_id)).into());
    }
    match record.task_id {
        Some(task) => Err(DomainError::invalid("task_id", format!("task {task} does not exist")).into()),
        None => Err(StoreError::Internal("the cost record was neither inserted nor found".into())),
    }
}

impl crate::LedgerStore for PostgresStore {
    fn record_cost(&self, record: &CostRecord) -> Result<Recorded<CostRecord>, StoreError> {
        let Some(reservation) = record.reservation_id else {
            // The common case is one statement (no explicit transaction): insert when the
            // agent and the task exist and the key is new. Two replicas taking the same retry
            // at once: the second insert waits for the first to commit, then inserts nothing.
            // Only when nothing was inserted do the reads find out why.
            return self.autocommit(|db| insert_cost(db, record));
        };
        // Settling: the reservation is locked, checked, and closed in the record's transaction.
        self.write(|db| {
            let held = super::reservations::settling(db, reservation, record)?;
            let mut recorded = insert_cost(db, record)?;
            if !recorded.replayed {
                recorded.settlement = Some(super::reservations::settle(db, &held, record)?);
            }
            Ok(recorded)
        })
    }

    fn list_costs(&self, filter: &CostFilter, page: &PageRequest) -> Result<Page<CostRecord>, StoreError> {
        self.read(|db| {
            let mut f = Filter::default();
            f.eq("agent_id", filter.agent_id)
                .eq("task_id", filter.task_id)
                .eq("call_category", filter.call_category.map(|s| s.as_str()))
                .eq("cost_source", filter.cost_source.map(|s| s.as_str()))
                .eq("provider", filter.provider.clone())
                .eq("model", filter.model.clone());
            if let Some(since) = filter.since {
                f.push("occurred_at >= ?", since);
            }
            if let Some(until) = filter.until {
                f.push("occurred_at < ?", until);
            }
            f.page(db, "cost_records", COST_COLUMNS, page, |r| cost_row(r, 1))
        })
    }
}

impl crate::BudgetStore for PostgresStore {
    fn budget_config(&self) -> Result<Option<BudgetConfig>, StoreError> {
        self.read(|db| {
            db.query_opt("SELECT value FROM settings WHERE key = $1", &[&BUDGET_KEY])?
                .map(|r| json_col(&r, 0))
                .transpose()
        })
    }

    fn set_budget_config(&self, config: &BudgetConfig, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let value = serde_json::to_value(config)?;
        let sealed = self.write(|db| {
            // The chain's lock first: a replica setting the budget at the same time waits, so
            // `before` is the configuration this one replaces.
            super::audit::lock(db)?;
            let before: Option<BudgetConfig> =
                db.query_opt("SELECT value FROM settings WHERE key = $1", &[&BUDGET_KEY])?.map(|r| json_col(&r, 0)).transpose()?;
            db.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&BUDGET_KEY, &Json(&value)],
            )?;
            super::audit::append(db, audit, NewAuditEvent::budget_configured(before.as_ref(), config))
        })?;
        Ok(sealed)
    }

    fn action_spend(
        &self,
        agent: Option<Uuid>,
        task: Option<Uuid>,
        window: SpendWindow,
    ) -> Result<ActionSpend, StoreError> {
        let (period, day) = (window.period_start, window.day_start);
        self.read(|db| {
            // Billing periods and days start at midnight: then the four figures are whole
            // days and one total, read in one round trip (`agent_id = NULL` matches nothing).
            if let ((period_day, None), (today, None)) = (crate::split_days(period), crate::split_days(day)) {
                let row = db.query_one(
                    "SELECT (SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_day_totals WHERE day >= $1), \
                            (SELECT COALESCE(SUM(nanos), 0)::BIGINT FROM cost_daily WHERE day >= $2 AND agent_id = $3), \
                            (SELECT COALESCE((SELECT nanos FROM task_cost_totals WHERE task_id = $4), 0)), \
                            (SELECT COALESCE(SUM(tokens), 0)::BIGINT FROM cost_daily WHERE day >= $2 AND agent_id = $3)",
                    &[&period_day, &today, &agent, &task],
                )?;
                return Ok(ActionSpend {
                    period_spend: Usd::from_nanos(col(&row, 0)?),
                    agent_today: Usd::from_nanos(col(&row, 1)?),
                    task_total: task.map(|_| col(&row, 2).map(Usd::from_nanos)).transpose()?,
                    agent_tokens_today: col::<i64>(&row, 3)?.max(0) as u64,
                });
            }
            let task_total = match task {
                None => None,
                Some(task) => Some(Usd::from_nanos(col(
                    &db.query_one(
                        "SELECT COALESCE((SELECT nanos FROM task_cost_totals WHERE task_id = $1), 0)",
                        &[&task],
                    )?,
                    0,
                )?)),
            };
            let (agent_today, agent_tokens_today) = match agent {
                Some(agent) => (
                    super::aggregates::cost_since(db, day, Some(agent))?,
                    super::aggregates::tokens_since(db, day, agent)?,
                ),
                None => (Usd::ZERO, 0),
            };
            Ok(ActionSpend {
                period_spend: super::aggregates::cost_since(db, period, None)?,
                agent_today,
                task_total,
                agent_tokens_today,
            })
        })
    }

    fn spend_snapshot(&self, window: SpendWindow) -> Result<SpendSnapshot, StoreError> {
        let (period, day) = (window.period_start, window.day_start);
        self.read(|db| {
            Ok(SpendSnapshot {
                period_spend: super::aggregates::cost_since(db, period, None)?,
                today_spend: super::aggregates::cost_since(db, day, None)?,
                agents_today: super::aggregates::agent_cost_since(db, day)?,
                agent_tokens_today: super::aggregates::agent_tokens_since(db, day)?,
            })
        })
    }
}

impl crate::CoordinationStore for PostgresStore {
    fn record_coordination_run(&self, run: &CoordinationRun) -> Result<(), StoreError> {
        self.write(|db| {
            for (i, agent) in run.agents.iter().enumerate() {
                if super::agents::status_of(db, *agent)?.is_none() {
                    return Err(
                        DomainError::invalid(format!("agents[{i}]"), format!("agent {agent} does not exist")).into()
                    );
                }
            }
            if let Some(task) = run.task_id
                && !super::tasks::exists(db, task)?
            {
                return Err(DomainError::invalid("task_id", format!("task {task} does not exist")).into());
            }
            db.insert(crate::rows::run(run)?)?;
            Ok(())
        })
    }

    fn list_coordination_runs(
        &self,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<CoordinationRun>, StoreError> {
        self.read(|db| {
            Filter::default().eq("task_id", filter.task_id).page(db, "coordination_runs", RUN_COLUMNS, page, run_row)
        })
    }
}
