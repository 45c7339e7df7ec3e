//! The organization's families, read from the store's aggregates at scrape time so that
//! every replica of a shared store reports the same values: agents, tasks, transitions,
//! cost, budget, approvals. A failing source keeps its last good values, counts a scrape
//! error and logs one WARN naming the source; the other families are unaffected. Per-agent
//! series are bounded: past `max_agent_series` they fold into `__other__`, counted; so are
//! per-model series, past `max_model_series`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use synthorg_core::Usd;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::budget::{BillingPeriod, BudgetConfig, SpendHistory, SpendWindow};
use synthorg_core::cost::CostSource;
use synthorg_core::price::TokenType;
use synthorg_core::task::TaskStatus;
use synthorg_store::{AgentFilter, HeldTotals, ModelUsage, PageRequest, Store, StoreError, now};
use synthorg_telemetry::metrics::{Collect, CounterMap, ExemplarCell, Exposition, Family, Kind, LabelValue};
use uuid::Uuid;

/// Label value of tasks without an assignee.
pub const UNASSIGNED: &str = "unassigned";
/// Label value that folded series are summed under.
pub const OTHER: &str = "__other__";

/// The store-backed sources of a scrape, each failing independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Agents,
    Tasks,
    Costs,
    Budget,
    Approvals,
    Audit,
}

impl Source {
    pub const ALL: [Self; 6] = [Self::Agents, Self::Tasks, Self::Costs, Self::Budget, Self::Approvals, Self::Audit];
}

impl LabelValue for Source {
    fn label(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::Tasks => "tasks",
            Self::Costs => "costs",
            Self::Budget => "budget",
            Self::Approvals => "approvals",
            Self::Audit => "audit",
        }
    }
}

/// The families whose per-agent series the cardinality guard folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Folded {
    TasksTotal,
    AgentCostTotal,
    AgentBudgetUsedPercent,
    AgentTokenBudgetUsedPercent,
    AgentInfo,
    /// The per-model families (cost, tokens, reports, disagreements) fold together.
    ProviderModel,
}

impl Folded {
    pub const ALL: [Self; 6] = [
        Self::TasksTotal,
        Self::AgentCostTotal,
        Self::AgentBudgetUsedPercent,
        Self::AgentTokenBudgetUsedPercent,
        Self::AgentInfo,
        Self::ProviderModel,
    ];
}

impl LabelValue for Folded {
    fn label(self) -> &'static str {
        match self {
            Self::TasksTotal => "tasks_total",
            Self::AgentCostTotal => "agent_cost_total",
            Self::AgentBudgetUsedPercent => "agent_budget_used_percent",
            Self::AgentTokenBudgetUsedPercent => "agent_token_budget_used_percent",
            Self::AgentInfo => "agent_info",
            Self::ProviderModel => "provider_model",
        }
    }
}

#[derive(Debug, Clone)]
struct AgentRow {
    id: Uuid,
    name: String,
    role: String,
    department: String,
    status: AgentStatus,
}

#[derive(Debug, Clone)]
struct AgentsSnapshot {
    counts: Vec<(AgentStatus, TrustLevel, u64)>,
    directory: Vec<AgentRow>,
}

#[derive(Debug, Clone)]
struct TasksSnapshot {
    counts: Vec<(TaskStatus, Option<Uuid>, u64)>,
    transitions: Vec<(TaskStatus, TaskStatus, u64)>,
}

#[derive(Debug, Clone)]
struct CostsSnapshot {
    total: Usd,
    per_agent: Vec<(Uuid, Usd)>,
    period_spend: Usd,
    today_spend: Usd,
    agents_today: Vec<(Uuid, Usd)>,
    agent_tokens_today: Vec<(Uuid, u64)>,
    /// In order of first use.
    models: Vec<ModelUsage>,
    held: HeldTotals,
    /// When it was read.
    at: time::OffsetDateTime,
}

#[derive(Debug, Default)]
struct LastGood {
    agents: Option<AgentsSnapshot>,
    tasks: Option<TasksSnapshot>,
    costs: Option<CostsSnapshot>,
    budget: Option<BudgetConfig>,
    approvals: Option<(u64, Option<time::OffsetDateTime>)>,
    /// The audit chain's head `seq`.
    audit: Option<i64>,
}

#[derive(Debug)]
struct Families {
    agents: Family<2>,
    agent: Family<4>,
    tasks: Family<2>,
    transitions: Family<2>,
    approvals_pending: Family,
    approvals_oldest: Family,
    audit_events: Family,
    cost: Family,
    budget_monthly: Family,
    budget_threshold: Family<1>,
    budget_used: Family,
    budget_daily_used: Family,
    budget_reserved: Family<1>,
    budget_reserved_tokens: Family,
    budget_reservations_open: Family,
    burn_rate: Family<1>,
    forecast: Family,
    exhaustion: Family,
    period_remaining: Family,
    agent_cost: Family<1>,
    agent_budget_used: Family<1>,
    agent_token_budget_used: Family<1>,
    provider_cost: Family<2>,
    provider_tokens: Family<3>,
    cost_reports: Family<3>,
    disagreements: Family<2>,
    scrape_errors: Family<1>,
    folded: Family<1>,
}

impl Families {
    fn new(p: &str) -> Self {
        Self {
            agents: Family::new(p, "agents_total", Kind::Gauge, "Agents by status and trust level.").labelled(["status", "trust_level"]),
            agent: Family::new(p, "agent", Kind::Info, "Agent identity, to join names onto agent_id series.").labelled(["agent_id", "name", "role", "department"]),
            tasks: Family::new(
                p,
                "tasks_total",
                Kind::Gauge,
                "Tasks by status and assignee (agent id, unassigned, or __other__ when folded).",
            ).labelled(["status", "agent"]),
            transitions: Family::new(p, "task_transitions", Kind::Counter, "Task transitions by from and to status.").labelled(["from", "to"]),
            approvals_pending: Family::new(
                p,
                "approvals_pending",
                Kind::Gauge,
                "Escalated actions waiting for an admin's decision.",
            ),
            approvals_oldest: Family::new(
                p,
                "approvals_oldest_pending_seconds",
                Kind::Gauge,
                "How long the oldest pending approval has waited for a decision (0 when none is pending).",
            ),
            audit_events: Family::new(
                p,
                "audit_events",
                Kind::Counter,
                "Events in the audit chain: the seq of its head (GET /api/v1/audit/head has its hash). \
                 It never decreases; a drop means events were removed.",
            )
            // Pushed over OTLP as a non-monotonic sum: a drop is the signal, not a reset.
            .may_decrease(),
            cost: Family::new(p, "cost", Kind::Counter, "Total cost in the ledger, USD."),
            budget_monthly: Family::new(p, "budget_monthly_usd", Kind::Gauge, "Monthly budget, USD (0: no budget)."),
            budget_threshold: Family::new(
                p,
                "budget_alert_threshold_percent",
                Kind::Gauge,
                "Configured budget alert thresholds in percent, by level.",
            ).labelled(["level"]),
            budget_used: Family::new(
                p,
                "budget_used_percent",
                Kind::Gauge,
                "Billing-period spend in percent of the monthly budget (not capped; 0 without a budget).",
            ),
            budget_daily_used: Family::new(
                p,
                "budget_daily_used_percent",
                Kind::Gauge,
                "Today's spend (UTC) in percent of the prorated daily budget (0 without a budget).",
            ),
            budget_reserved: Family::new(
                p,
                "budget_reserved_usd",
                Kind::Gauge,
                "USD held by open reservations against each kind of limit: monthly and agent_daily (every hold), task (holds for a task).",
            ).labelled(["scope"]),
            budget_reserved_tokens: Family::new(
                p,
                "budget_reserved_tokens",
                Kind::Gauge,
                "Tokens held by open reservations against per_agent_daily_tokens.",
            ),
            budget_reservations_open: Family::new(
                p,
                "budget_reservations_open",
                Kind::Gauge,
                "Open reservations not past their expiry; returns to 0 when every hold is settled, released or expired.",
            ),
            burn_rate: Family::new(
                p,
                "budget_burn_rate_usd_per_hour",
                Kind::Gauge,
                "Spend per hour over the window (1h, 24h; over the process's history when that is shorter, at least 5 minutes).",
            ).labelled(["window"]),
            forecast: Family::new(
                p,
                "budget_forecast_period_usd",
                Kind::Gauge,
                "The billing period's spend projected linearly to its end, USD.",
            ),
            exhaustion: Family::new(
                p,
                "budget_exhaustion_seconds",
                Kind::Gauge,
                "Seconds until spend and holds reach the hard stop at the 24h burn rate (0: reached; absent: no budget or no spend).",
            ),
            period_remaining: Family::new(
                p,
                "budget_period_remaining_seconds",
                Kind::Gauge,
                "Seconds until the billing period ends and spend counts from 0 again.",
            ),
            agent_cost: Family::new(
                p,
                "agent_cost",
                Kind::Counter,
                "Cost per agent, USD; terminated and folded agents under __other__.",
            ).labelled(["agent_id"]),
            agent_budget_used: Family::new(
                p,
                "agent_budget_used_percent",
                Kind::Gauge,
                "Agent's spend today in percent of per_agent_daily_limit (0 without a limit).",
            ).labelled(["agent_id"]),
            agent_token_budget_used: Family::new(
                p,
                "agent_token_budget_used_percent",
                Kind::Gauge,
                "Each agent's tokens today (UTC) in percent of per_agent_daily_tokens (0 without that limit).",
            ).labelled(["agent_id"]),
            provider_cost: Family::new(
                p,
                "provider_cost",
                Kind::Counter,
                "Cost in the ledger per provider and model, USD; models past max_model_series under __other__.",
            ).labelled(["provider", "model"]),
            provider_tokens: Family::new(
                p,
                "provider_tokens",
                Kind::Counter,
                "Tokens per provider, model and type; input and output are whole counts, the cache and \
                 reasoning types are parts of them.",
            ).labelled(["provider", "model", "type"]),
            cost_reports: Family::new(
                p,
                "cost_reports",
                Kind::Counter,
                "Cost reports per provider, model and cost source (reported, computed, unpriced, metered, estimated).",
            ).labelled(["provider", "model", "source"]),
            disagreements: Family::new(
                p,
                "cost_price_disagreements",
                Kind::Counter,
                "Reported costs more than 1% away from the catalogue price, per provider and model.",
            ).labelled(["provider", "model"]),
            scrape_errors: Family::new(
                p,
                "scrape_errors",
                Kind::Counter,
                "Failed reads of a metrics source during scrapes, by source.",
            ).labelled(["source"]),
            folded: Family::new(
                p,
                "metric_series_folded",
                Kind::Counter,
                "Series folded into __other__ (or dropped) by the cardinality guard, by family.",
            ).labelled(["family"]),
        }
    }
}

/// The organization, as the store's aggregates tell it.
#[derive(Debug)]
pub struct OrganizationMetrics {
    store: Arc<dyn Store>,
    max_agent_series: usize,
    max_model_series: usize,
    budget_defaults: BudgetConfig,
    last: Mutex<LastGood>,
    /// The ledger's total over time, for the burn rates.
    history: Mutex<SpendHistory>,
    scrape_errors: CounterMap<Source>,
    folded: CounterMap<Folded>,
    /// The latest cost report's trace (set by the events), the exemplar of the total.
    cost_exemplar: Arc<ExemplarCell>,
    /// When the store's totals began (nanoseconds since the epoch), read once: the start time
    /// of the totals pushed over OTLP, stable across restarts.
    origin: std::sync::OnceLock<u64>,
    f: Families,
}

impl OrganizationMetrics {
    pub fn new(
        settings: &super::MetricsSettings,
        store: Arc<dyn Store>,
        budget_defaults: BudgetConfig,
        cost_exemplar: Arc<ExemplarCell>,
    ) -> Self {
        let prefix = settings.prefix.as_str();
        Self {
            store,
            max_agent_series: settings.max_agent_series,
            max_model_series: settings.max_model_series,
            budget_defaults,
            last: Mutex::new(LastGood::default()),
            history: Mutex::new(SpendHistory::default()),
            scrape_errors: CounterMap::with_keys(Source::ALL),
            folded: CounterMap::with_keys(Folded::ALL),
            cost_exemplar,
            origin: std::sync::OnceLock::new(),
            f: Families::new(prefix),
        }
    }

    /// The burn rates (USD per hour over the last hour and the last 24 hours) at `at`, the
    /// ledger's total being `total`: what `{prefix}_budget_burn_rate_usd_per_hour` shows.
    pub fn burn_rates(&self, at: time::OffsetDateTime, total: synthorg_core::Usd) -> (Option<f64>, Option<f64>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (history.rate(at, total, time::Duration::HOUR), history.rate(at, total, 24 * time::Duration::HOUR))
    }

    /// Records the ledger's total now, for the burn rates.
    pub fn sample_spend(&self) -> Result<(), StoreError> {
        let total = self.store.total_cost()?;
        self.history.lock().unwrap_or_else(|p| p.into_inner()).record(now(), total);
        Ok(())
    }

    /// When the store's totals began, once it was read.
    fn origin(&self) -> Option<u64> {
        self.origin.get().copied()
    }

    fn refresh(&self, last: &mut LastGood) {
        let store = self.store.as_ref();
        if self.origin.get().is_none() {
            match store.origin() {
                Ok(at) => {
                    let _ = self.origin.set(u64::try_from(at.unix_timestamp_nanos()).unwrap_or(0));
                }
                // The totals then count from this process's start, as before; asked again at
                // the next scrape.
                Err(error) => tracing::warn!(%error, "cannot read the store's origin"),
            }
        }
        if let Some(budget) = self.source(Source::Budget, || store.budget_in_force(&self.budget_defaults)) {
            last.budget = Some(budget);
        }
        if let Some(agents) = self.source(Source::Agents, || read_agents(store)) {
            last.agents = Some(agents);
        }
        if let Some(tasks) = self.source(Source::Tasks, || {
            Ok(TasksSnapshot { counts: store.task_counts()?, transitions: store.transition_counts()? })
        }) {
            last.tasks = Some(tasks);
        }
        let reset_day = last.budget.as_ref().unwrap_or(&self.budget_defaults).reset_day;
        if let Some(costs) = self.source(Source::Costs, || {
            let spend = store.spend_snapshot(SpendWindow::at(now(), reset_day))?;
            Ok(CostsSnapshot {
                total: store.total_cost()?,
                per_agent: store.agent_cost_totals()?,
                period_spend: spend.period_spend,
                today_spend: spend.today_spend,
                agents_today: spend.agents_today,
                agent_tokens_today: spend.agent_tokens_today,
                models: store.model_usage()?,
                held: store.held_totals(now())?,
                at: now(),
            })
        }) {
            self.history.lock().unwrap_or_else(|p| p.into_inner()).record(costs.at, costs.total);
            last.costs = Some(costs);
        }
        if let Some(pending) =
            self.source(Source::Approvals, || Ok((store.pending_approvals()?, store.oldest_pending_approval()?)))
        {
            last.approvals = Some(pending);
        }
        if let Some(head) = self.source(Source::Audit, || Ok(store.audit_head()?.seq)) {
            last.audit = Some(head);
        }
    }

    /// Runs one source; on failure counts it and logs one WARN naming it.
    fn source<T>(&self, source: Source, read: impl FnOnce() -> Result<T, StoreError>) -> Option<T> {
        match read() {
            Ok(value) => Some(value),
            Err(error) => {
                self.scrape_errors.inc(source);
                tracing::warn!(source = source.label(), %error,
                    "metrics source failed; its families keep their last good values");
                None
            }
        }
    }

    fn fold(&self, family: Folded, series: usize) {
        if series > 0 {
            self.folded.inc_by(family, series as u64);
        }
    }

    fn encode_agents(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let f = &self.f;
        f.agents.header(e);
        let counts: BTreeMap<(AgentStatus, TrustLevel), u64> =
            last.agents.as_ref().map(|a| a.counts.iter().map(|(s, t, c)| ((*s, *t), *c)).collect()).unwrap_or_default();
        if last.agents.is_some() {
            for status in AgentStatus::ALL {
                for level in TrustLevel::ALL {
                    let v = counts.get(&(*status, *level)).copied().unwrap_or(0);
                    f.agents.gauge(e, [status.as_str(), level.as_str()], v as f64);
                }
            }
        }
        f.agent.header(e);
        let mut hidden = 0;
        for row in last.agents.iter().flat_map(|a| &a.directory) {
            if visible.contains(&row.id) {
                let id = row.id.to_string();
                f.agent.info(e, [&id, &row.name, &row.role, &row.department]);
            } else if row.status != AgentStatus::Terminated {
                hidden += 1;
            }
        }
        self.fold(Folded::AgentInfo, hidden);
    }

    fn encode_tasks(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let f = &self.f;
        f.tasks.header(e);
        if let Some(tasks) = &last.tasks {
            let mut other: BTreeMap<TaskStatus, u64> = BTreeMap::new();
            let mut folded_agents = BTreeSet::new();
            for (status, agent, count) in &tasks.counts {
                match agent {
                    None => f.tasks.gauge(e, [status.as_str(), UNASSIGNED], *count as f64),
                    Some(id) if visible.contains(id) => {
                        f.tasks.gauge(e, [status.as_str(), &id.to_string()], *count as f64)
                    }
                    Some(id) => {
                        *other.entry(*status).or_default() += count;
                        folded_agents.insert(*id);
                    }
                }
            }
            for (status, count) in other {
                f.tasks.gauge(e, [status.as_str(), OTHER], count as f64);
            }
            self.fold(Folded::TasksTotal, folded_agents.len());
        }
        f.transitions.header_since(e, self.origin());
        for (from, to, count) in last.tasks.iter().flat_map(|t| &t.transitions) {
            f.transitions.counter(e, [from.as_str(), to.as_str()], *count as f64);
        }
        f.approvals_pending.header(e);
        if let Some((pending, _)) = last.approvals {
            f.approvals_pending.gauge(e, [], pending as f64);
        }
        f.approvals_oldest.header(e);
        if let Some((_, oldest)) = last.approvals {
            let waited = oldest.map_or(0.0, |at| (now() - at).as_seconds_f64().max(0.0));
            f.approvals_oldest.gauge(e, [], waited);
        }
        f.audit_events.header_since(e, self.origin());
        if let Some(seq) = last.audit {
            f.audit_events.counter(e, [], seq as f64);
        }
    }

    fn encode_costs(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let f = &self.f;
        let budget = last.budget.as_ref().unwrap_or(&self.budget_defaults);
        let percent = |part: Usd, whole: Usd| part.percent_of(whole).unwrap_or(0.0);
        let costs = last.costs.as_ref();
        // Each family's samples follow its own header: interleaving breaks parsers.
        f.cost.header_since(e, self.origin());
        if let Some(c) = costs {
            f.cost.counter_with(e, [], c.total.as_f64(), self.cost_exemplar.get().as_ref());
        }
        f.budget_monthly.header(e);
        f.budget_monthly.gauge(e, [], budget.total_monthly.as_f64());
        f.budget_threshold.header(e);
        let a = &budget.alerts;
        for (level, v) in [("warn", a.warn), ("critical", a.critical), ("hard_stop", a.hard_stop)] {
            f.budget_threshold.gauge(e, [level], v);
        }
        f.budget_used.header(e);
        if let Some(c) = costs {
            f.budget_used.gauge(e, [], percent(c.period_spend, budget.total_monthly));
        }
        f.budget_daily_used.header(e);
        if let Some(c) = costs {
            let period = BillingPeriod::containing(now(), budget.reset_day);
            let daily = period.daily_share(budget.total_monthly);
            f.budget_daily_used.gauge(e, [], percent(c.today_spend, daily));
        }
        f.budget_reserved.header(e);
        if let Some(c) = costs {
            for (scope, held) in [("monthly", c.held.amount), ("agent_daily", c.held.amount), ("task", c.held.on_tasks)]
            {
                f.budget_reserved.gauge(e, [scope], held.as_f64());
            }
        }
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let hour = time::Duration::HOUR;
        let rates = costs.map(|c| (history.rate(c.at, c.total, hour), history.rate(c.at, c.total, 24 * hour)));
        f.burn_rate.header(e);
        if let Some((one, day)) = rates {
            for (window, rate) in [("1h", one), ("24h", day)] {
                if let Some(rate) = rate {
                    f.burn_rate.gauge(e, [window], rate);
                }
            }
        }
        let outlook = costs.map(|c| budget.outlook(c.at, c.period_spend, c.held.amount, rates.and_then(|r| r.1)));
        f.forecast.header(e);
        if let Some(o) = outlook {
            f.forecast.gauge(e, [], o.forecast_period_spend.as_f64());
        }
        f.exhaustion.header(e);
        if let Some(seconds) = outlook.and_then(|o| o.exhaustion_seconds) {
            f.exhaustion.gauge(e, [], seconds);
        }
        f.period_remaining.header(e);
        if let Some(o) = outlook {
            f.period_remaining.gauge(e, [], o.period_remaining_seconds);
        }
        f.budget_reserved_tokens.header(e);
        if let Some(c) = costs {
            f.budget_reserved_tokens.gauge(e, [], c.held.tokens as f64);
        }
        f.budget_reservations_open.header(e);
        if let Some(c) = costs {
            f.budget_reservations_open.gauge(e, [], c.held.open as f64);
        }
        f.agent_cost.header_since(e, self.origin());
        if let Some(c) = costs {
            let mut other = Usd::ZERO;
            let mut folded = 0;
            for (agent, cost) in &c.per_agent {
                if visible.contains(agent) {
                    f.agent_cost.counter(e, [&agent.to_string()], cost.as_f64());
                } else {
                    other = other.checked_add(*cost).unwrap_or(other);
                    folded += 1;
                }
            }
            if folded > 0 {
                f.agent_cost.counter(e, [OTHER], other.as_f64());
            }
            self.fold(Folded::AgentCostTotal, folded);
        }
        f.agent_budget_used.header(e);
        if let Some(c) = costs {
            let today: BTreeMap<Uuid, Usd> = c.agents_today.iter().copied().collect();
            for agent in visible {
                let spend = today.get(agent).copied().unwrap_or(Usd::ZERO);
                f.agent_budget_used.gauge(e, [&agent.to_string()], percent(spend, budget.per_agent_daily_limit));
            }
            self.fold(Folded::AgentBudgetUsedPercent, today.keys().filter(|a| !visible.contains(a)).count());
        }
        f.agent_token_budget_used.header(e);
        if let Some(c) = costs {
            let today: BTreeMap<Uuid, u64> = c.agent_tokens_today.iter().copied().collect();
            let limit = budget.per_agent_daily_tokens;
            for agent in visible {
                let used = today.get(agent).copied().unwrap_or(0);
                let used_percent = if limit == 0 { 0.0 } else { used as f64 * 100.0 / limit as f64 };
                f.agent_token_budget_used.gauge(e, [&agent.to_string()], used_percent);
            }
            self.fold(Folded::AgentTokenBudgetUsedPercent, today.keys().filter(|a| !visible.contains(a)).count());
        }
    }

    /// The per-model families: the first `max_model_series` models by first use keep their
    /// own series (stable from scrape to scrape), the rest are summed under `__other__`.
    fn encode_models(&self, e: &mut Exposition, last: &LastGood) {
        let f = &self.f;
        let models = last.costs.as_ref().map(|c| c.models.as_slice());
        let mut shown: Vec<ModelUsage> =
            models.unwrap_or_default().iter().take(self.max_model_series).cloned().collect();
        let rest = models.unwrap_or_default().get(self.max_model_series..).unwrap_or_default();
        if !rest.is_empty() {
            let mut other = ModelUsage::empty(OTHER.into(), OTHER.into());
            for m in rest {
                other.absorb(m);
            }
            shown.push(other);
            self.fold(Folded::ProviderModel, rest.len());
        }
        f.provider_cost.header_since(e, self.origin());
        for m in &shown {
            f.provider_cost.counter(e, [&m.provider, &m.model], m.cost.as_f64());
        }
        f.provider_tokens.header_since(e, self.origin());
        for m in &shown {
            for class in TokenType::ALL {
                f.provider_tokens.counter(e, [&m.provider, &m.model, class.as_str()], m.tokens.of(*class) as f64);
            }
        }
        f.cost_reports.header_since(e, self.origin());
        for m in &shown {
            for source in CostSource::ALL {
                f.cost_reports.counter(e, [&m.provider, &m.model, source.as_str()], m.reports(*source) as f64);
            }
        }
        f.disagreements.header_since(e, self.origin());
        for m in &shown {
            f.disagreements.counter(e, [&m.provider, &m.model], m.disagreements as f64);
        }
    }

    fn encode_guard(&self, e: &mut Exposition) {
        let f = &self.f;
        f.scrape_errors.header(e);
        for (source, count) in self.scrape_errors.snapshot() {
            f.scrape_errors.counter(e, [source.label()], count as f64);
        }
        f.folded.header(e);
        for (family, count) in self.folded.snapshot() {
            f.folded.counter(e, [family.label()], count as f64);
        }
    }
}

impl Collect for OrganizationMetrics {
    /// Refreshes every source (keeping the last good value of a failing one) and encodes.
    /// Blocking: runs store reads.
    fn collect(&self, e: &mut Exposition) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut last);
        // Which agents get their own series: not terminated, the first max_agent_series by id.
        let visible: BTreeSet<Uuid> = last
            .agents
            .as_ref()
            .map(|a| {
                a.directory
                    .iter()
                    .filter(|r| r.status != AgentStatus::Terminated)
                    .map(|r| r.id)
                    .take(self.max_agent_series)
                    .collect()
            })
            .unwrap_or_default();
        self.encode_agents(e, &last, &visible);
        self.encode_tasks(e, &last, &visible);
        self.encode_costs(e, &last, &visible);
        self.encode_models(e, &last);
        self.encode_guard(e);
    }
}

fn read_agents(store: &dyn Store) -> Result<AgentsSnapshot, StoreError> {
    let counts = store.agent_counts()?;
    let mut directory = Vec::new();
    let mut page = PageRequest { limit: synthorg_store::MAX_PAGE, after: None, newest_first: false };
    loop {
        let p = store.list_agents(&AgentFilter::default(), &page)?;
        directory.extend(p.items.into_iter().map(|a| AgentRow {
            id: a.id,
            name: a.name,
            role: a.role,
            department: a.department,
            status: a.status,
        }));
        match p.next_cursor.and_then(|c| c.parse().ok()) {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    directory.sort_by_key(|r| r.id);
    Ok(AgentsSnapshot { counts, directory })
}
