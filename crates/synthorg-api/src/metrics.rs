//! The organization's metrics: what `GET /api/v1/metrics` exposes.
//!
//! Pull families (agents, tasks, cost, budget, approvals) are read from the store's
//! aggregates at scrape time, so every replica of a shared store reports the same values.
//! Push families (verdicts, coordination gauges, HTTP) are updated by the code paths that
//! produce them. A failing store source keeps its last good values, counts a scrape error
//! and logs one WARN naming the source; the other families are unaffected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::budget::{BillingPeriod, BudgetConfig, SpendWindow};
use synthorg_core::security::Verdict;
use synthorg_core::task::TaskStatus;
use synthorg_core::{FieldError, Usd};
use synthorg_store::{AgentFilter, PageRequest, Store, StoreError, now};
use synthorg_telemetry::metrics::{
    Counter, CounterMap, Exposition, Format, Gauge, Histogram, Kind, LATENCY_BUCKETS, is_valid_metric_name, process,
};
use synthorg_telemetry::otlp::{DropReason, ExporterHandle};
use uuid::Uuid;

/// Settings of the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Prefix of every synthorg family (`synthorg` → `synthorg_agents_total`).
    pub prefix: String,
    /// Most distinct values of the `agent` / `agent_id` labels; the rest fold into `__other__`.
    pub max_agent_series: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { prefix: "synthorg".into(), max_agent_series: 1000 }
    }
}

impl MetricsSettings {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_valid_metric_name(&self.prefix) {
            errors.push(FieldError::new("prefix", "must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
        }
        if self.max_agent_series == 0 || self.max_agent_series > 100_000 {
            errors.push(FieldError::new("max_agent_series", "must be between 1 and 100000"));
        }
        errors
    }
}

/// Label value of tasks without an assignee.
pub const UNASSIGNED: &str = "unassigned";
/// Label value that folded series are summed under.
pub const OTHER: &str = "__other__";

/// The store-backed sources of a scrape, each failing independently.
pub const SOURCES: &[&str] = &["agents", "tasks", "costs", "budget", "approvals"];

/// HTTP methods that get their own label value; others count as `other`.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Metrics pushed by the code paths that produce them.
#[derive(Debug)]
pub struct PushedMetrics {
    verdicts: CounterMap<Verdict>,
    coordination_efficiency: Gauge,
    coordination_overhead: Gauge,
    http_requests: CounterMap<(&'static str, String, &'static str)>,
    http_latency: Mutex<BTreeMap<(&'static str, String), Histogram>>,
    scrape_errors: CounterMap<&'static str>,
    folded: CounterMap<&'static str>,
}

impl Default for PushedMetrics {
    fn default() -> Self {
        Self {
            verdicts: CounterMap::with_keys(Verdict::ALL.iter().copied()),
            coordination_efficiency: Gauge::default(),
            coordination_overhead: Gauge::default(),
            http_requests: CounterMap::with_keys([]),
            http_latency: Mutex::new(BTreeMap::new()),
            scrape_errors: CounterMap::with_keys(SOURCES.iter().copied()),
            folded: CounterMap::with_keys([
                "tasks_total",
                "agent_cost_total",
                "agent_budget_used_percent",
                "agent_info",
            ]),
        }
    }
}

impl PushedMetrics {
    /// One security verdict (evaluation or output scan).
    pub fn verdict(&self, verdict: Verdict) {
        self.verdicts.inc(verdict);
    }

    /// The figures of the latest coordination run.
    pub fn coordination_run(&self, efficiency: f64, overhead_percent: f64) {
        self.coordination_efficiency.set(efficiency);
        self.coordination_overhead.set(overhead_percent);
    }

    /// One served HTTP request. `route` is the route template (never a raw path).
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = METHODS.iter().find(|m| **m == method).copied().unwrap_or("other");
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests.inc((method, route.to_owned(), class));
        let mut latency = self.http_latency.lock().unwrap_or_else(|p| p.into_inner());
        latency.entry((method, route.to_owned())).or_insert_with(|| Histogram::new(LATENCY_BUCKETS)).observe(seconds);
    }

    /// How many verdicts have been counted (for tests and diagnostics).
    pub fn verdict_count(&self, verdict: Verdict) -> u64 {
        self.verdicts.snapshot().into_iter().find(|(v, _)| *v == verdict).map_or(0, |(_, n)| n)
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
}

#[derive(Debug, Default)]
struct LastGood {
    agents: Option<AgentsSnapshot>,
    tasks: Option<TasksSnapshot>,
    costs: Option<CostsSnapshot>,
    budget: Option<BudgetConfig>,
    approvals: Option<u64>,
}

/// Full family names, computed once from the prefix.
#[derive(Debug)]
struct Names {
    app: String,
    agents: String,
    tasks: String,
    cost: String,
    budget_used: String,
    budget_monthly: String,
    budget_daily_used: String,
    budget_threshold: String,
    agent_cost: String,
    agent_budget_used: String,
    agent: String,
    transitions: String,
    approvals_pending: String,
    coordination_efficiency: String,
    coordination_overhead: String,
    evaluations: String,
    http_requests: String,
    http_duration: String,
    scrape_errors: String,
    folded: String,
    scrapes: String,
    otlp_emitted: String,
    otlp_exported: String,
    otlp_dropped: String,
    otlp_batches: String,
    otlp_retries: String,
    otlp_queue_depth: String,
    otlp_queue_capacity: String,
    store_write_queue: String,
    store_commits: String,
    store_writes: String,
    store_wal_restarts: String,
}

impl Names {
    fn new(p: &str) -> Self {
        let n = |s: &str| format!("{p}_{s}");
        Self {
            app: n("app"),
            agents: n("agents_total"),
            tasks: n("tasks_total"),
            cost: n("cost"),
            budget_used: n("budget_used_percent"),
            budget_monthly: n("budget_monthly_usd"),
            budget_daily_used: n("budget_daily_used_percent"),
            budget_threshold: n("budget_alert_threshold_percent"),
            agent_cost: n("agent_cost"),
            agent_budget_used: n("agent_budget_used_percent"),
            agent: n("agent"),
            transitions: n("task_transitions"),
            approvals_pending: n("approvals_pending"),
            coordination_efficiency: n("coordination_efficiency"),
            coordination_overhead: n("coordination_overhead_percent"),
            evaluations: n("security_evaluations"),
            http_requests: n("http_requests"),
            http_duration: n("http_request_duration_seconds"),
            scrape_errors: n("scrape_errors"),
            folded: n("metric_series_folded"),
            scrapes: n("scrapes"),
            otlp_emitted: n("otlp_records_emitted"),
            otlp_exported: n("otlp_records_exported"),
            otlp_dropped: n("otlp_records_dropped"),
            otlp_batches: n("otlp_batches"),
            otlp_retries: n("otlp_retries"),
            otlp_queue_depth: n("otlp_queue_depth"),
            otlp_queue_capacity: n("otlp_queue_capacity"),
            store_write_queue: n("store_write_queue_depth"),
            store_commits: n("store_commits"),
            store_writes: n("store_writes"),
            store_wal_restarts: n("store_wal_restarts"),
        }
    }
}

/// Reads the sources and encodes the exposition.
#[derive(Debug)]
pub struct MetricsCollector {
    store: Arc<dyn Store>,
    settings: MetricsSettings,
    budget_defaults: BudgetConfig,
    names: Names,
    pushed: Arc<PushedMetrics>,
    last: Mutex<LastGood>,
    scrapes: Counter,
    otlp: Option<ExporterHandle>,
}

impl MetricsCollector {
    pub fn new(store: Arc<dyn Store>, settings: MetricsSettings, budget_defaults: BudgetConfig) -> Self {
        let names = Names::new(&settings.prefix);
        Self {
            store,
            settings,
            budget_defaults,
            names,
            pushed: Arc::new(PushedMetrics::default()),
            last: Mutex::new(LastGood::default()),
            scrapes: Counter::default(),
            otlp: None,
        }
    }

    /// Exposes the OTLP exporter's counters too.
    pub fn with_otlp(mut self, otlp: Option<ExporterHandle>) -> Self {
        self.otlp = otlp;
        self
    }

    pub fn pushed(&self) -> &PushedMetrics {
        &self.pushed
    }

    /// One scrape: refresh every source (keeping the last good value of a failing one) and
    /// encode. Blocking: run it off the async threads.
    pub fn scrape(&self, format: Format) -> Vec<u8> {
        self.scrapes.inc();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut last);
        self.encode(&last, format)
    }

    fn refresh(&self, last: &mut LastGood) {
        let store = self.store.as_ref();
        if let Some(budget) =
            self.source("budget", || Ok(store.budget_config()?.unwrap_or_else(|| self.budget_defaults.clone())))
        {
            last.budget = Some(budget);
        }
        if let Some(agents) = self.source("agents", || read_agents(store)) {
            last.agents = Some(agents);
        }
        if let Some(tasks) = self.source("tasks", || {
            Ok(TasksSnapshot { counts: store.task_counts()?, transitions: store.transition_counts()? })
        }) {
            last.tasks = Some(tasks);
        }
        let reset_day = last.budget.as_ref().unwrap_or(&self.budget_defaults).reset_day;
        if let Some(costs) = self.source("costs", || {
            let at = now();
            let spend = store.spend_snapshot(SpendWindow::at(at, reset_day))?;
            Ok(CostsSnapshot {
                total: store.total_cost()?,
                per_agent: store.agent_cost_totals()?,
                period_spend: spend.period_spend,
                today_spend: spend.today_spend,
                agents_today: spend.agents_today,
            })
        }) {
            last.costs = Some(costs);
        }
        if let Some(pending) = self.source("approvals", || store.pending_approvals()) {
            last.approvals = Some(pending);
        }
    }

    /// Runs one source; on failure counts it and logs one WARN naming it.
    fn source<T>(&self, name: &'static str, read: impl FnOnce() -> Result<T, StoreError>) -> Option<T> {
        match read() {
            Ok(value) => Some(value),
            Err(error) => {
                self.pushed.scrape_errors.inc(name);
                tracing::warn!(source = name, %error, "metrics source failed; its families keep their last good values");
                None
            }
        }
    }

    fn encode(&self, last: &LastGood, format: Format) -> Vec<u8> {
        let n = &self.names;
        let mut e = Exposition::new(format);
        e.header(&n.app, Kind::Info, "Build information of this synthorg process.");
        e.info(&n.app, &[("version", env!("CARGO_PKG_VERSION"))]);

        // Which agents get their own series: not terminated, the first max_agent_series by id.
        let visible: BTreeSet<Uuid> = last
            .agents
            .as_ref()
            .map(|a| {
                a.directory
                    .iter()
                    .filter(|r| r.status != AgentStatus::Terminated)
                    .map(|r| r.id)
                    .take(self.settings.max_agent_series)
                    .collect()
            })
            .unwrap_or_default();

        self.encode_agents(&mut e, last, &visible);
        self.encode_tasks(&mut e, last, &visible);
        self.encode_costs(&mut e, last, &visible);
        self.encode_pushed(&mut e);
        self.encode_otlp(&mut e);
        self.encode_writer(&mut e);
        encode_process(&mut e);
        e.finish()
    }

    fn encode_agents(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let n = &self.names;
        e.header(&n.agents, Kind::Gauge, "Agents by status and trust level.");
        let counts: BTreeMap<(AgentStatus, TrustLevel), u64> =
            last.agents.as_ref().map(|a| a.counts.iter().map(|(s, t, c)| ((*s, *t), *c)).collect()).unwrap_or_default();
        if last.agents.is_some() {
            for status in AgentStatus::ALL {
                for level in TrustLevel::ALL {
                    let v = counts.get(&(*status, *level)).copied().unwrap_or(0);
                    e.gauge(&n.agents, &[("status", status.as_str()), ("trust_level", level.as_str())], v as f64);
                }
            }
        }
        e.header(&n.agent, Kind::Info, "Agent identity, to join names onto agent_id series.");
        let mut hidden = 0;
        for row in last.agents.iter().flat_map(|a| &a.directory) {
            if visible.contains(&row.id) {
                let id = row.id.to_string();
                e.info(
                    &n.agent,
                    &[("agent_id", &id), ("name", &row.name), ("role", &row.role), ("department", &row.department)],
                );
            } else if row.status != AgentStatus::Terminated {
                hidden += 1;
            }
        }
        self.fold("agent_info", hidden);
    }

    fn encode_tasks(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let n = &self.names;
        e.header(
            &n.tasks,
            Kind::Gauge,
            "Tasks by status and assignee (agent id, unassigned, or __other__ when folded).",
        );
        if let Some(tasks) = &last.tasks {
            let mut other: BTreeMap<TaskStatus, u64> = BTreeMap::new();
            let mut folded_agents = BTreeSet::new();
            for (status, agent, count) in &tasks.counts {
                match agent {
                    None => e.gauge(&n.tasks, &[("status", status.as_str()), ("agent", UNASSIGNED)], *count as f64),
                    Some(id) if visible.contains(id) => {
                        e.gauge(&n.tasks, &[("status", status.as_str()), ("agent", &id.to_string())], *count as f64)
                    }
                    Some(id) => {
                        *other.entry(*status).or_default() += count;
                        folded_agents.insert(*id);
                    }
                }
            }
            for (status, count) in other {
                e.gauge(&n.tasks, &[("status", status.as_str()), ("agent", OTHER)], count as f64);
            }
            self.fold("tasks_total", folded_agents.len());
        }
        e.header(&n.transitions, Kind::Counter, "Task transitions by from and to status.");
        for (from, to, count) in last.tasks.iter().flat_map(|t| &t.transitions) {
            e.counter(&n.transitions, &[("from", from.as_str()), ("to", to.as_str())], *count as f64);
        }
        e.header(&n.approvals_pending, Kind::Gauge, "Escalated actions waiting for an admin's decision.");
        if let Some(pending) = last.approvals {
            e.gauge(&n.approvals_pending, &[], pending as f64);
        }
    }

    fn encode_costs(&self, e: &mut Exposition, last: &LastGood, visible: &BTreeSet<Uuid>) {
        let n = &self.names;
        let budget = last.budget.as_ref().unwrap_or(&self.budget_defaults);
        let percent = |part: Usd, whole: Usd| part.percent_of(whole).unwrap_or(0.0);
        let costs = last.costs.as_ref();
        // Each family's samples follow its own header: interleaving breaks parsers.
        e.header(&n.cost, Kind::Counter, "Total cost in the ledger, USD.");
        if let Some(c) = costs {
            e.counter(&n.cost, &[], c.total.as_f64());
        }
        e.header(&n.budget_monthly, Kind::Gauge, "Monthly budget, USD (0: no budget).");
        e.gauge(&n.budget_monthly, &[], budget.total_monthly.as_f64());
        e.header(&n.budget_threshold, Kind::Gauge, "Configured budget alert thresholds in percent, by level.");
        let a = &budget.alerts;
        for (level, v) in [("warn", a.warn), ("critical", a.critical), ("hard_stop", a.hard_stop)] {
            e.gauge(&n.budget_threshold, &[("level", level)], v);
        }
        e.header(
            &n.budget_used,
            Kind::Gauge,
            "Billing-period spend in percent of the monthly budget (not capped; 0 without a budget).",
        );
        if let Some(c) = costs {
            e.gauge(&n.budget_used, &[], percent(c.period_spend, budget.total_monthly));
        }
        e.header(
            &n.budget_daily_used,
            Kind::Gauge,
            "Today's spend (UTC) in percent of the prorated daily budget (0 without a budget).",
        );
        if let Some(c) = costs {
            let period = BillingPeriod::containing(now(), budget.reset_day);
            let daily = Usd::from_nanos(budget.total_monthly.nanos() / period.days().max(1));
            e.gauge(&n.budget_daily_used, &[], percent(c.today_spend, daily));
        }
        e.header(&n.agent_cost, Kind::Counter, "Cost per agent, USD; terminated and folded agents under __other__.");
        if let Some(c) = costs {
            let mut other = Usd::ZERO;
            let mut folded = 0;
            for (agent, cost) in &c.per_agent {
                if visible.contains(agent) {
                    e.counter(&n.agent_cost, &[("agent_id", &agent.to_string())], cost.as_f64());
                } else {
                    other = other.checked_add(*cost).unwrap_or(other);
                    folded += 1;
                }
            }
            if folded > 0 {
                e.counter(&n.agent_cost, &[("agent_id", OTHER)], other.as_f64());
            }
            self.fold("agent_cost_total", folded);
        }
        e.header(
            &n.agent_budget_used,
            Kind::Gauge,
            "Agent's spend today in percent of per_agent_daily_limit (0 without a limit).",
        );
        if let Some(c) = costs {
            let today: BTreeMap<Uuid, Usd> = c.agents_today.iter().copied().collect();
            for agent in visible {
                let spend = today.get(agent).copied().unwrap_or(Usd::ZERO);
                e.gauge(
                    &n.agent_budget_used,
                    &[("agent_id", &agent.to_string())],
                    percent(spend, budget.per_agent_daily_limit),
                );
            }
            self.fold("agent_budget_used_percent", today.keys().filter(|a| !visible.contains(a)).count());
        }
    }

    fn encode_pushed(&self, e: &mut Exposition) {
        let n = &self.names;
        let p = &self.pushed;
        e.header(
            &n.coordination_efficiency,
            Kind::Gauge,
            "Efficiency of the latest coordination run: success_rate / (turns_mas / turns_sas).",
        );
        if let Some(v) = p.coordination_efficiency.get() {
            e.gauge(&n.coordination_efficiency, &[], v);
        }
        e.header(
            &n.coordination_overhead,
            Kind::Gauge,
            "Overhead of the latest coordination run: (turns_mas - turns_sas) / turns_sas x 100.",
        );
        if let Some(v) = p.coordination_overhead.get() {
            e.gauge(&n.coordination_overhead, &[], v);
        }
        e.header(&n.evaluations, Kind::Counter, "Security verdicts given by this process, by verdict.");
        for (verdict, count) in p.verdicts.snapshot() {
            e.counter(&n.evaluations, &[("verdict", verdict.as_str())], count as f64);
        }
        e.header(&n.http_requests, Kind::Counter, "HTTP requests served, by method, route template and status class.");
        for ((method, route, class), count) in p.http_requests.snapshot() {
            e.counter(
                &n.http_requests,
                &[("method", method), ("route", &route), ("status_class", class)],
                count as f64,
            );
        }
        e.header(&n.http_duration, Kind::Histogram, "HTTP request latency in seconds, by method and route template.");
        {
            let latency = p.http_latency.lock().unwrap_or_else(|x| x.into_inner());
            for ((method, route), histogram) in latency.iter() {
                let s = histogram.snapshot();
                e.histogram(&n.http_duration, &[("method", method), ("route", route)], s.bounds, &s.cumulative, s.sum);
            }
        }
        e.header(&n.scrapes, Kind::Counter, "Scrapes of this endpoint served by this process.");
        e.counter(&n.scrapes, &[], self.scrapes.get() as f64);
        e.header(&n.scrape_errors, Kind::Counter, "Failed reads of a metrics source during scrapes, by source.");
        for (source, count) in p.scrape_errors.snapshot() {
            e.counter(&n.scrape_errors, &[("source", source)], count as f64);
        }
        e.header(
            &n.folded,
            Kind::Counter,
            "Series folded into __other__ (or dropped) by the cardinality guard, by family.",
        );
        for (family, count) in p.folded.snapshot() {
            e.counter(&n.folded, &[("family", family)], count as f64);
        }
    }

    /// The exporter's accounting: `emitted == exported (all outcomes) + dropped (all
    /// reasons)` once the queue is empty.
    fn encode_otlp(&self, e: &mut Exposition) {
        let Some(otlp) = &self.otlp else { return };
        let n = &self.names;
        let s = otlp.stats();
        e.header(&n.otlp_emitted, Kind::Counter, "Log records handed to the OTLP exporter.");
        e.counter(&n.otlp_emitted, &[], s.emitted as f64);
        e.header(
            &n.otlp_exported,
            Kind::Counter,
            "Log records sent to the collector, by outcome: delivered, or rejected in a partial success.",
        );
        e.counter(&n.otlp_exported, &[("outcome", "delivered")], s.delivered as f64);
        e.counter(&n.otlp_exported, &[("outcome", "rejected")], s.rejected as f64);
        e.header(&n.otlp_dropped, Kind::Counter, "Log records the OTLP exporter dropped, by reason.");
        for reason in DropReason::ALL {
            e.counter(&n.otlp_dropped, &[("reason", reason.as_str())], s.dropped_by(reason) as f64);
        }
        e.header(&n.otlp_batches, Kind::Counter, "OTLP export requests, by outcome: success, partial, failed.");
        e.counter(&n.otlp_batches, &[("outcome", "success")], s.batches_success as f64);
        e.counter(&n.otlp_batches, &[("outcome", "partial")], s.batches_partial as f64);
        e.counter(&n.otlp_batches, &[("outcome", "failed")], s.batches_failed as f64);
        e.header(&n.otlp_retries, Kind::Counter, "OTLP export attempts repeated after a retryable failure.");
        e.counter(&n.otlp_retries, &[], s.retries as f64);
        e.header(&n.otlp_queue_depth, Kind::Gauge, "Log records waiting in the OTLP exporter's queue.");
        e.gauge(&n.otlp_queue_depth, &[], s.queue_depth as f64);
        e.header(&n.otlp_queue_capacity, Kind::Gauge, "Capacity of the OTLP exporter's queue.");
        e.gauge(&n.otlp_queue_capacity, &[], s.queue_capacity as f64);
    }

    /// The SQLite writer's queue and group commit (absent on PostgreSQL). Read at scrape time
    /// from atomics: no store query.
    fn encode_writer(&self, e: &mut Exposition) {
        let Some(s) = self.store.writer_stats() else { return };
        let n = &self.names;
        e.header(&n.store_write_queue, Kind::Gauge, "API writes waiting for the store's writer thread.");
        e.gauge(&n.store_write_queue, &[], s.queued as f64);
        e.header(&n.store_commits, Kind::Counter, "Store transactions committed (one fsync each).");
        e.counter(&n.store_commits, &[], s.commits as f64);
        e.header(
            &n.store_writes,
            Kind::Counter,
            "Successful store writes committed; divided by commits: writes per fsync.",
        );
        e.counter(&n.store_writes, &[], s.writes as f64);
        e.header(&n.store_wal_restarts, Kind::Counter, "Times the writer started the WAL over to keep it bounded.");
        e.counter(&n.store_wal_restarts, &[], s.wal_restarts as f64);
    }

    fn fold(&self, family: &'static str, series: usize) {
        if series > 0 {
            self.pushed.folded.inc_by(family, series as u64);
        }
    }
}

fn read_agents(store: &dyn Store) -> Result<AgentsSnapshot, StoreError> {
    let counts = store.agent_counts()?;
    let mut directory = Vec::new();
    let mut page = PageRequest { limit: synthorg_store::MAX_PAGE, after: None };
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

fn encode_process(e: &mut Exposition) {
    let Some(s) = process::read() else { return };
    e.header("process_cpu_seconds", Kind::Counter, "Total user and system CPU time spent in seconds.");
    e.counter("process_cpu_seconds", &[], s.cpu_seconds);
    e.header("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.");
    e.gauge("process_resident_memory_bytes", &[], s.resident_bytes);
    e.header("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory size in bytes.");
    e.gauge("process_virtual_memory_bytes", &[], s.virtual_bytes);
    e.header("process_open_fds", Kind::Gauge, "Number of open file descriptors.");
    e.gauge("process_open_fds", &[], s.open_fds);
    if let Some(max) = s.max_fds {
        e.header("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.");
        e.gauge("process_max_fds", &[], max);
    }
    e.header("process_start_time_seconds", Kind::Gauge, "Start time of the process since unix epoch in seconds.");
    e.gauge("process_start_time_seconds", &[], s.start_time_seconds);
}
