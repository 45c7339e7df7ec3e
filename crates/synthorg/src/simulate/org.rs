//! The simulated organization: agents in several roles, departments and trust levels, each
//! acting with its own key, moving tasks through the whole lifecycle (rework, blocked, failed
//! and cancelled paths included), reporting priced model calls, asking for verdicts before
//! tool calls (an admin decides the escalations) and reporting coordination runs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use synthorg_core::Usd;
use synthorg_core::price::{Catalogue, Usage};

use super::client::{Answer, Client};

const ROLES: &[&str] = &["engineer", "reviewer", "researcher", "analyst", "planner", "writer"];
const DEPARTMENTS: &[&str] = &["engineering", "research", "support", "finance", "operations"];
/// Trust levels with their share of agents.
const TRUST: &[(&str, u32)] = &[("sandboxed", 10), ("restricted", 25), ("standard", 50), ("elevated", 15)];
const TOPOLOGIES: &[&str] = &["hierarchical", "peer_to_peer", "centralized"];

/// Provider and model of the simulated calls: catalogued models, and one self-hosted model
/// the catalogue cannot know (its calls always report a cost).
pub(super) const MODELS: &[(&str, &str)] = &[
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-mini"),
    ("google", "gemini-2.5-flash"),
    (SELF_HOSTED.0, SELF_HOSTED.1),
];
/// A self-hosted model, priced by its operator at this many 10⁻⁹ USD per token.
const SELF_HOSTED: (&str, &str, u64) = ("in-house", "llama-3.3-70b", 200);
/// Share of calls to catalogued models that leave `cost` out for synthorg to compute, by
/// default (`simulate --cost-omitted`).
pub(crate) const COST_OMITTED: f64 = 0.6;
/// Share of model calls made under a reservation, by default (`simulate --reserved`).
pub(crate) const RESERVED: f64 = 0.8;
/// Share of reserved calls that are not made after all: the hold is released. The
/// organization's workload only: `--workload model-calls` measures reserve + settle pairs,
/// so every hold it takes is settled.
const RESERVED_UNUSED: f64 = 0.03;
/// The most output tokens a simulated call asks for: the worst case its hold covers.
const MAX_OUTPUT: u64 = 1_500;

/// Share of reported costs that differ from the list price (a provider's invoice with a
/// surcharge), so the disagreement counter moves in the demo.
const COST_SURCHARGED: f64 = 0.02;

/// What the run did successfully, to compare with the server's own counts.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Tally {
    pub agents: AtomicU64,
    pub tasks_created: AtomicU64,
    pub transitions: AtomicU64,
    pub tasks_completed: AtomicU64,
    pub tasks_cancelled: AtomicU64,
    pub cost_records: AtomicU64,
    pub reservations_granted: AtomicU64,
    pub reservations_refused: AtomicU64,
    pub reservations_released: AtomicU64,
    /// Sum of the recorded costs (reported, or priced by synthorg) in 10⁻⁹ USD.
    pub cost_nanos: AtomicU64,
    pub verdicts_allow: AtomicU64,
    pub verdicts_deny: AtomicU64,
    pub verdicts_escalate: AtomicU64,
    pub approvals_approved: AtomicU64,
    pub approvals_rejected: AtomicU64,
    pub coordination_runs: AtomicU64,
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// An agent of the organization and its key (with the key's public id, to revoke it).
#[derive(Debug, Clone)]
pub(super) struct SimAgent {
    pub id: String,
    pub key: String,
    pub key_id: String,
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn trust(rng: &mut fastrand::Rng) -> &'static str {
    let total: u32 = TRUST.iter().map(|(_, w)| w).sum();
    let mut roll = rng.u32(..total);
    for (level, weight) in TRUST {
        if roll < *weight {
            return level;
        }
        roll -= weight;
    }
    "standard"
}

/// Registers `count` agents named `{prefix}-{i}` and creates a key for each.
pub(super) fn register(
    client: &Client,
    admin: &str,
    prefix: &str,
    count: usize,
    rng: &mut fastrand::Rng,
    tally: &Tally,
) -> Vec<SimAgent> {
    let mut agents = Vec::with_capacity(count);
    for i in 0..count {
        let body = json!({
            "name": format!("{prefix}-{i:04}"),
            "role": pick(rng, ROLES),
            "department": pick(rng, DEPARTMENTS),
            "trust_level": trust(rng),
            "status": "active",
        });
        let Some(id) = client
            .call("POST /agents", "POST", "/agents", admin, Some(&body))
            .filter(Answer::ok)
            .and_then(|a| a.str("id"))
        else {
            continue;
        };
        inc(&tally.agents);
        let key_body = json!({"role": "agent", "agent_id": id, "label": format!("{prefix} simulator")});
        let created = client.call("POST /keys", "POST", "/keys", admin, Some(&key_body)).filter(Answer::ok);
        if let Some((key, key_id)) = created.and_then(|a| Some((a.str("key")?, a.str("id")?))) {
            agents.push(SimAgent { id, key, key_id });
        }
    }
    agents
}

/// Revokes the agents' keys (the agents stay: they are the organization's history).
pub(super) fn revoke_keys(client: &Client, admin: &str, agents: &[SimAgent]) {
    for agent in agents {
        client.call("DELETE /keys/{id}", "DELETE", &format!("/keys/{}", agent.key_id), admin, None);
    }
}

/// A task one worker is moving.
#[derive(Debug)]
struct SimTask {
    id: String,
    version: i64,
    status: String,
    agent: usize,
}

/// What every worker shares: the client, the admin key, the agents, the tally.
#[derive(Debug, Clone, Copy)]
pub(super) struct Org<'a> {
    pub client: &'a Client,
    pub admin: &'a str,
    pub agents: &'a [SimAgent],
    pub tally: &'a Tally,
    pub prices: &'a Catalogue,
    pub cost_omitted: f64,
    pub reserved: f64,
    /// What the workers do (`simulate --workload`).
    pub workload: super::Workload,
}

/// One worker: its agents, its tasks, its random stream.
pub(super) struct Worker<'a> {
    pub client: &'a Client,
    pub admin: &'a str,
    pub agents: &'a [SimAgent],
    /// Indexes of the agents this worker acts for.
    pub mine: Vec<usize>,
    pub rng: fastrand::Rng,
    pub tally: &'a Tally,
    prices: &'a Catalogue,
    cost_omitted: f64,
    reserved: f64,
    workload: super::Workload,
    tasks: Vec<SimTask>,
    serial: u64,
    name: String,
    /// Time between this worker's requests (`None`: no pacing), and when the next may go.
    interval: Option<Duration>,
    next: Instant,
}

/// Tasks a worker keeps in flight.
const TASKS_PER_WORKER: usize = 4;

impl<'a> Worker<'a> {
    pub(super) fn new(org: Org<'a>, mine: Vec<usize>, seed: u64, name: String, rate: Option<f64>) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
        // Each paced worker starts at a random point of its first interval, as independent
        // clients do. Started together, all workers would send in the same instant, once per
        // interval: waves of as many requests as workers, which measure the waves, not the
        // offered rate.
        let phase = interval.map_or(Duration::ZERO, |i| i.mul_f64(rng.f64()));
        Self {
            client: org.client,
            admin: org.admin,
            agents: org.agents,
            mine,
            rng,
            tally: org.tally,
            prices: org.prices,
            cost_omitted: org.cost_omitted,
            reserved: org.reserved,
            workload: org.workload,
            tasks: Vec::new(),
            serial: 0,
            name,
            interval,
            next: Instant::now() + phase,
        }
    }

    /// One paced request: the rate holds per request, whatever a step needs.
    fn call(
        &mut self,
        endpoint: &'static str,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Option<Answer> {
        if let Some(interval) = self.interval {
            let now = Instant::now();
            if self.next > now {
                std::thread::sleep(self.next - now);
            } else if now - self.next > Duration::from_secs(1) {
                // Far behind (a slow server): do not burst to catch up.
                self.next = now;
            }
            self.next += interval;
        }
        self.client.call(endpoint, method, path, key, body)
    }

    /// One step of the organization's life: usually one request, a few for work steps.
    pub(super) fn step(&mut self) {
        if self.mine.is_empty() {
            return;
        }
        if self.tasks.len() < TASKS_PER_WORKER {
            self.create_task();
            return;
        }
        if self.workload != super::Workload::Organization {
            let i = self.rng.usize(..self.tasks.len());
            let (task, agent) = (self.tasks[i].id.clone(), self.tasks[i].agent);
            match self.workload {
                super::Workload::ToolCalls => self.tool_call(&task, agent),
                _ => self.model_call(&task, agent),
            }
            return;
        }
        let i = self.rng.usize(..self.tasks.len());
        let roll = self.rng.f64();
        let (status, agent) = (self.tasks[i].status.clone(), self.tasks[i].agent);
        let to = match status.as_str() {
            "assigned" => match roll {
                r if r < 0.90 => "in_progress",
                r if r < 0.95 => "blocked",
                r if r < 0.98 => "cancelled",
                _ => "failed",
            },
            "in_progress" => {
                self.work(i, agent);
                match roll {
                    r if r < 0.85 => "in_review",
                    r if r < 0.92 => "blocked",
                    r if r < 0.97 => "failed",
                    _ => "interrupted",
                }
            }
            "in_review" => match roll {
                r if r < 0.80 => "completed",
                _ => "in_progress",
            },
            // blocked, failed, interrupted: picked up again.
            _ => "assigned",
        };
        self.transition(i, to);
    }

    fn create_task(&mut self) {
        let agent = *pick(&mut self.rng, &self.mine);
        self.serial += 1;
        let body = json!({
            "title": format!("{} task {}", self.name, self.serial),
            "description": "simulated work item",
        });
        let key = &self.agents[agent].key;
        let Some(answer) = self.call("POST /tasks", "POST", "/tasks", key, Some(&body)).filter(Answer::ok) else {
            return;
        };
        let (Some(id), Some(version)) = (answer.str("id"), answer.body.get("version").and_then(Value::as_i64)) else {
            return;
        };
        inc(&self.tally.tasks_created);
        self.tasks.push(SimTask { id, version, status: "created".into(), agent });
        let last = self.tasks.len() - 1;
        self.transition(last, "assigned");
    }

    fn transition(&mut self, i: usize, to: &str) {
        let task = &self.tasks[i];
        let agent = &self.agents[task.agent];
        let mut body = json!({"to": to, "expected_version": task.version});
        if to == "assigned" {
            body["assigned_to"] = Value::String(agent.id.clone());
        }
        let path = format!("/tasks/{}/transitions", task.id);
        let answer = self.call("POST /tasks/{id}/transitions", "POST", &path, &agent.key, Some(&body));
        match answer
            .filter(Answer::ok)
            .and_then(|a| a.body.get("task").and_then(|t| t.get("version")).and_then(Value::as_i64))
        {
            Some(version) => {
                inc(&self.tally.transitions);
                let task = &mut self.tasks[i];
                task.version = version;
                task.status = to.to_owned();
                match to {
                    "completed" => {
                        inc(&self.tally.tasks_completed);
                        let task = self.tasks.swap_remove(i);
                        if self.rng.f64() < 0.25 {
                            self.coordination_run(&task);
                        }
                    }
                    "cancelled" => {
                        inc(&self.tally.tasks_cancelled);
                        self.tasks.swap_remove(i);
                    }
                    _ => {}
                }
            }
            // The task's state is unknown now: stop driving it.
            None => {
                self.tasks.swap_remove(i);
            }
        }
    }

    /// Work on a task in progress: model calls, and sometimes a tool call that needs a verdict.
    fn work(&mut self, i: usize, agent: usize) {
        let task_id = self.tasks[i].id.clone();
        for _ in 0..self.rng.usize(1..=3) {
            self.model_call(&task_id, agent);
        }
        if self.rng.f64() < 0.35 {
            self.tool_call(&task_id, agent);
        }
    }

    fn model_call(&mut self, task_id: &str, agent: usize) {
        let (provider, model) = *pick(&mut self.rng, MODELS);
        // Mostly short prompts, sometimes a long context; half the calls hit a prompt cache.
        let input = match self.rng.f64() {
            r if r < 0.8 => self.rng.u64(300..4_000),
            _ => self.rng.u64(8_000..60_000),
        };
        let cache_read = if self.rng.bool() { input * self.rng.u64(30..90) / 100 } else { 0 };
        let cache_write = if cache_read == 0 && self.rng.f64() < 0.2 { input / 2 } else { 0 };
        let output = self.rng.u64(40..MAX_OUTPUT);
        let reasoning = if self.rng.f64() < 0.3 { output * self.rng.u64(20..80) / 100 } else { 0 };
        let usage = Usage {
            input,
            output,
            cache_read_input: cache_read,
            cache_write_input: cache_write,
            reasoning_output: reasoning,
        };
        // The client's own figure: list price (or the self-hosted rate), now and then with a surcharge.
        let cost = match self.prices.lookup(provider, model) {
            None => Some(Usd::from_nanos(((input + output) * SELF_HOSTED.2) as i64)),
            Some(_) if self.rng.f64() < self.cost_omitted => None,
            Some(price) => price.cost(&usage).ok().map(|c| match self.rng.f64() < COST_SURCHARGED {
                true => Usd::from_nanos(c.nanos() + c.nanos() / 10),
                false => c,
            }),
        };
        let category = match self.rng.f64() {
            r if r < 0.85 => "productive",
            r if r < 0.97 => "coordination",
            _ => "system",
        };
        let mut body = json!({
            "agent_id": self.agents[agent].id,
            "task_id": task_id,
            "provider": provider,
            "model": model,
            "input_tokens": input,
            "output_tokens": output,
            "cache_read_input_tokens": cache_read,
            "cache_write_input_tokens": cache_write,
            "reasoning_output_tokens": reasoning,
            "call_category": category,
            "idempotency_key": format!("{}-{:016x}", self.name, self.rng.u64(..)),
        });
        if let Some(cost) = cost {
            body["cost"] = json!(cost.to_string());
        }
        if self.rng.f64() < self.reserved {
            // The worst case of this prompt with the most output the call may produce,
            // priced by synthorg; the self-hosted model's at its own rate.
            let mut hold = json!({"agent_id": self.agents[agent].id, "task_id": task_id, "provider": provider,
                "model": model, "max_input_tokens": input, "max_output_tokens": MAX_OUTPUT});
            if self.prices.lookup(provider, model).is_none() {
                hold["amount"] = json!(Usd::from_nanos(((input + MAX_OUTPUT) * SELF_HOSTED.2) as i64).to_string());
            }
            let key = &self.agents[agent].key;
            let granted = self.call("POST /budget/reservations", "POST", "/budget/reservations", key, Some(&hold));
            let id = match granted {
                Some(a) if a.ok() => a.str("id"),
                // Refused by the budget: the call is not made.
                Some(a) if a.status == 409 => {
                    inc(&self.tally.reservations_refused);
                    return;
                }
                _ => return,
            };
            let Some(id) = id else { return };
            inc(&self.tally.reservations_granted);
            if self.workload == super::Workload::Organization && self.rng.f64() < RESERVED_UNUSED {
                let path = format!("/budget/reservations/{id}");
                if self.call("DELETE /budget/reservations/{id}", "DELETE", &path, key, None).is_some_and(|a| a.ok()) {
                    inc(&self.tally.reservations_released);
                }
                return;
            }
            body["reservation_id"] = json!(id);
        }
        let answer = self.call("POST /costs", "POST", "/costs", &self.agents[agent].key, Some(&body));
        if let Some(answer) = answer.filter(Answer::ok) {
            inc(&self.tally.cost_records);
            // The recorded cost, as synthorg priced it when the report left it out.
            let recorded = serde_json::from_value::<Usd>(answer.body["cost"].clone()).unwrap_or_default();
            self.tally.cost_nanos.fetch_add(recorded.nanos().max(0) as u64, Relaxed);
        }
    }

    fn tool_call(&mut self, task_id: &str, agent: usize) {
        let (tool, action, arguments) = match self.rng.f64() {
            r if r < 0.55 => ("fs.read", "read", json!({"path": "/workspace/notes/plan.md"})),
            r if r < 0.75 => ("fs.write", "write", json!({"path": "/workspace/out/report.md", "content": "summary"})),
            r if r < 0.85 => ("http.get", "network", json!({"url": "https://api.example.com/v1/status"})),
            r if r < 0.93 => ("db.query", "write", json!({"sql": "DROP TABLE staging_events"})),
            _ => ("shell", "execute", json!({"command": "cat /etc/shadow"})),
        };
        let body = json!({
            "agent_id": self.agents[agent].id,
            "task_id": task_id,
            "tool": tool,
            "action_type": action,
            "arguments": arguments,
        });
        let key = &self.agents[agent].key;
        let Some(answer) =
            self.call("POST /security/evaluate", "POST", "/security/evaluate", key, Some(&body)).filter(Answer::ok)
        else {
            return;
        };
        match answer.str("verdict").as_deref() {
            Some("allow") => inc(&self.tally.verdicts_allow),
            Some("deny") => inc(&self.tally.verdicts_deny),
            Some("escalate") => {
                inc(&self.tally.verdicts_escalate);
                if let Some(approval) = answer.str("approval_id") {
                    let approve = self.rng.f64() < 0.7;
                    let decision = json!({
                        "decision": if approve { "approve" } else { "reject" },
                        "note": "decided by the simulator's admin",
                    });
                    let path = format!("/approvals/{approval}/decision");
                    let decided =
                        self.call("POST /approvals/{id}/decision", "POST", &path, self.admin, Some(&decision));
                    if decided.is_some_and(|a| a.ok()) {
                        inc(if approve { &self.tally.approvals_approved } else { &self.tally.approvals_rejected });
                    }
                }
            }
            _ => {}
        }
    }

    fn coordination_run(&mut self, task: &SimTask) {
        let mut agents = vec![self.agents[task.agent].id.clone()];
        for _ in 0..self.rng.usize(1..=3) {
            agents.push(pick(&mut self.rng, self.agents).id.clone());
        }
        let turns_sas = self.rng.u32(3..12) as f64;
        let body = json!({
            "task_id": task.id,
            "agents": agents,
            "topology": pick(&mut self.rng, TOPOLOGIES),
            "turns_sas": turns_sas,
            "turns_mas": (turns_sas * (1.0 + self.rng.f64() * 1.5)).round(),
            "success_rate": 0.6 + (self.rng.f64() * 0.4 * 100.0).round() / 100.0,
        });
        let key = &self.agents[task.agent].key;
        if self.call("POST /coordination/runs", "POST", "/coordination/runs", key, Some(&body)).is_some_and(|a| a.ok())
        {
            inc(&self.tally.coordination_runs);
        }
    }
}
