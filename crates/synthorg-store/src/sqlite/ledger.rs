//! The cost ledger, the budget setting and coordination runs.

use rusqlite::{OptionalExtension, Row, params};
use synthorg_core::audit::{AuditContext, AuditEvent, NewAuditEvent};
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendSnapshot, SpendWindow};
use synthorg_core::coordination::CoordinationRun;
use synthorg_core::cost::{CallCategory, CostRecord, CostSource};
use synthorg_core::{DomainError, Usd};
use uuid::Uuid;

use super::{Filter, SqliteStore, from_ts, insert, json_col, opt_uuid, parse_enum, parse_uuid, ts, uuid_value};
use crate::schema::{BUDGET_KEY, COST_COLUMNS, RUN_COLUMNS};
use crate::{CostFilter, Page, PageRequest, Recorded, RunFilter, StoreError};

fn cost_row(row: &Row<'_>, first: usize) -> rusqlite::Result<CostRecord> {
    let col = |i: usize| first + i;
    Ok(CostRecord {
        id: parse_uuid(&row.get::<_, String>(col(0))?)?,
        agent_id: parse_uuid(&row.get::<_, String>(col(1))?)?,
        task_id: opt_uuid(row.get(col(2))?)?,
        provider: row.get(col(3))?,
        model: row.get(col(4))?,
        input_tokens: row.get::<_, i64>(col(5))? as u64,
        output_tokens: row.get::<_, i64>(col(6))? as u64,
        cost: Usd::from_nanos(row.get(col(7))?),
        call_category: parse_enum(&row.get::<_, String>(col(8))?, CallCategory::parse)?,
        occurred_at: from_ts(row.get(col(9))?)?,
        recorded_at: from_ts(row.get(col(10))?)?,
        idempotency_key: row.get(col(11))?,
        cache_read_input_tokens: row.get::<_, i64>(col(12))? as u64,
        cache_write_input_tokens: row.get::<_, i64>(col(13))? as u64,
        reasoning_output_tokens: row.get::<_, i64>(col(14))? as u64,
        cost_source: parse_enum(&row.get::<_, String>(col(15))?, CostSource::parse)?,
        computed_cost: row.get::<_, Option<i64>>(col(16))?.map(Usd::from_nanos),
        price_version: row.get(col(17))?,
        cost_disagrees: row.get(col(18))?,
        reservation_id: opt_uuid(row.get(col(19))?)?,
    })
}

fn run_row(row: &Row<'_>) -> rusqlite::Result<CoordinationRun> {
    Ok(CoordinationRun {
        id: parse_uuid(&row.get::<_, String>(1)?)?,
        task_id: opt_uuid(row.get(2)?)?,
        agents: json_col(&row.get::<_, String>(3)?)?,
        topology: row.get(4)?,
        turns_mas: row.get(5)?,
        turns_sas: row.get(6)?,
        success_rate: row.get(7)?,
        efficiency: row.get(8)?,
        overhead_percent: row.get(9)?,
        created_at: from_ts(row.get(10)?)?,
    })
}

impl crate::LedgerStore for SqliteStore {
    fn record_cost(&self, record: &CostRecord) -> Result<Recorded<CostRecord>, StoreError> {
        self.write(|tx| {
            if let Some(key) = &record.idempotency_key {
                let existing = tx
                    .prepare_cached(&format!("SELECT {COST_COLUMNS} FROM cost_records WHERE idempotency_key = ?1"))?
                    .query_row([key], |r| cost_row(r, 0))
                    .optional()?;
                if let Some(existing) = existing {
                    if !existing.same_report(record) {
                        return Err(DomainError::Conflict(format!(
                            "idempotency_key {key:?} was already used for a different cost report"
                        ))
                        .into());
                    }
                    return Ok(Recorded { value: existing, replayed: true, settlement: None });
                }
            }
            if super::agents::status_of(tx, record.agent_id)?.is_none() {
                return Err(
                    DomainError::invalid("agent_id", format!("agent {} does not exist", record.agent_id)).into()
                );
            }
            if let Some(task) = record.task_id
                && !super::tasks::exists(tx, task)?
            {
                return Err(DomainError::invalid("task_id", format!("task {task} does not exist")).into());
            }
            let settlement = match record.reservation_id {
                Some(id) => Some(super::reservations::settle(tx, id, record)?),
                None => None,
            };
            insert(tx, crate::rows::cost(record)?)?;
            Ok(Recorded { value: record.clone(), replayed: false, settlement })
        })
    }

    fn list_costs(&self, filter: &CostFilter, page: &PageRequest) -> Result<Page<CostRecord>, StoreError> {
        self.read(|c| {
            let mut f = Filter::default();
            f.eq("agent_id", uuid_value(filter.agent_id))
                .eq("task_id", uuid_value(filter.task_id))
                .eq("call_category", filter.call_category.map(|s| s.as_str().to_owned()))
                .eq("cost_source", filter.cost_source.map(|s| s.as_str().to_owned()))
                .eq("provider", filter.provider.clone())
                .eq("model", filter.model.clone());
            if let Some(since) = filter.since {
                f.push("occurred_at >= ?", ts(since));
            }
            if let Some(until) = filter.until {
                f.push("occurred_at < ?", ts(until));
            }
            f.page(c, "cost_records", COST_COLUMNS, page, |r| cost_row(r, 1))
        })
    }
}

/// The spend an action of `agent` (on `task`) is judged against, read on `c`: inside a
/// write, the writer's own transaction.
pub(super) fn spend_in(
    c: &rusqlite::Connection,
    agent: Option<Uuid>,
    task: Option<Uuid>,
    window: SpendWindow,
) -> Result<ActionSpend, StoreError> {
    let (period, day) = (window.period_start, window.day_start);
    let task_total = match task {
        None => None,
        Some(task) => Some(Usd::from_nanos(
            c.prepare_cached("SELECT COALESCE((SELECT nanos FROM task_cost_totals WHERE task_id = ?1), 0)")?
                .query_row([task.to_string()], |r| r.get(0))?,
        )),
    };
    let (agent_today, agent_tokens_today) = match agent {
        Some(agent) => {
            (super::aggregates::cost_since(c, day, Some(agent))?, super::aggregates::tokens_since(c, day, agent)?)
        }
        None => (Usd::ZERO, 0),
    };
    Ok(ActionSpend {
        period_spend: super::aggregates::cost_since(c, period, None)?,
        agent_today,
        task_total,
        agent_tokens_today,
    })
}

impl crate::BudgetStore for SqliteStore {
    fn budget_config(&self) -> Result<Option<BudgetConfig>, StoreError> {
        self.read(|c| {
            let value: Option<String> = c
                .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                .query_row([BUDGET_KEY], |r| r.get(0))
                .optional()?;
            Ok(value.as_deref().map(serde_json::from_str).transpose()?)
        })
    }

    fn set_budget_config(&self, config: &BudgetConfig, audit: &AuditContext) -> Result<AuditEvent, StoreError> {
        let value = serde_json::to_string(config)?;
        let sealed = self.write(|tx| {
            let before: Option<String> = tx
                .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                .query_row([BUDGET_KEY], |r| r.get(0))
                .optional()?;
            let before: Option<BudgetConfig> = before.as_deref().map(serde_json::from_str).transpose()?;
            tx.prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![BUDGET_KEY, value])?;
            super::audit::append(tx, audit, NewAuditEvent::budget_configured(before.as_ref(), config))
        })?;
        Ok(sealed)
    }

    fn action_spend(
        &self,
        agent: Option<Uuid>,
        task: Option<Uuid>,
        window: SpendWindow,
    ) -> Result<ActionSpend, StoreError> {
        self.read(|c| spend_in(c, agent, task, window))
    }

    fn spend_snapshot(&self, window: SpendWindow) -> Result<SpendSnapshot, StoreError> {
        let (period, day) = (window.period_start, window.day_start);
        self.read(|c| {
            Ok(SpendSnapshot {
                period_spend: super::aggregates::cost_since(c, period, None)?,
                today_spend: super::aggregates::cost_since(c, day, None)?,
                agents_today: super::aggregates::agent_cost_since(c, day)?,
                agent_tokens_today: super::aggregates::agent_tokens_since(c, day)?,
            })
        })
    }
}

impl crate::CoordinationStore for SqliteStore {
    fn record_coordination_run(&self, run: &CoordinationRun) -> Result<(), StoreError> {
        self.write(|tx| {
            for (i, agent) in run.agents.iter().enumerate() {
                if super::agents::status_of(tx, *agent)?.is_none() {
                    return Err(
                        DomainError::invalid(format!("agents[{i}]"), format!("agent {agent} does not exist")).into()
                    );
                }
            }
            if let Some(task) = run.task_id
                && !super::tasks::exists(tx, task)?
            {
                return Err(DomainError::invalid("task_id", format!("task {task} does not exist")).into());
            }
            insert(tx, crate::rows::run(run)?)?;
            Ok(())
        })
    }

    fn list_coordination_runs(
        &self,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<CoordinationRun>, StoreError> {
        self.read(|c| {
            Filter::default().eq("task_id", uuid_value(filter.task_id)).page(
                c,
                "coordination_runs",
                RUN_COLUMNS,
                page,
                run_row,
            )
        })
    }
}
