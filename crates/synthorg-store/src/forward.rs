//! The [`crate::Store`] trait over a backend's inherent `*_impl` methods: each backend
//! implements the operations in one file per entity, and this one macro wires them to the
//! trait, so the two backends cannot drift in signatures.

/// Implements [`crate::Store`] for `$store` by calling its `<method>_impl` methods.
#[macro_export]
#[doc(hidden)]
macro_rules! forward_store {
    ($store:ty) => {
        const _: () = {
            use synthorg_core::agent::{Agent, AgentPatch, AgentStatus, TrustLevel};
            use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendSnapshot};
            use synthorg_core::coordination::CoordinationRun;
            use synthorg_core::cost::CostRecord;
            use synthorg_core::security::{Approval, Decision};
            use synthorg_core::task::{Task, TaskStatus, TaskTransition, TransitionRequest};
            use synthorg_core::{Actor, Usd};
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $crate::*;

            impl $crate::Store for $store {
                fn ping(&self) -> Result<(), StoreError> {
                    self.ping_impl()
                }
                fn reads_in_process(&self) -> bool {
                    self.reads_in_process_impl()
                }
                fn submit(&self, job: Job) -> Result<(), Job> {
                    self.submit_impl(job)
                }
                fn writer_stats(&self) -> Option<WriterStats> {
                    self.writer_stats_impl()
                }
                fn create_agent(&self, agent: &Agent) -> Result<(), StoreError> {
                    self.create_agent_impl(agent)
                }
                fn get_agent(&self, id: Uuid) -> Result<Agent, StoreError> {
                    self.get_agent_impl(id)
                }
                fn list_agents(&self, filter: &AgentFilter, page: &PageRequest) -> Result<Page<Agent>, StoreError> {
                    self.list_agents_impl(filter, page)
                }
                fn update_agent(
                    &self,
                    id: Uuid,
                    patch: AgentPatch,
                    actor: &Actor,
                    now: OffsetDateTime,
                ) -> Result<Agent, StoreError> {
                    self.update_agent_impl(id, patch, actor, now)
                }
                fn create_task(&self, task: &Task) -> Result<(), StoreError> {
                    self.create_task_impl(task)
                }
                fn get_task(&self, id: Uuid) -> Result<Task, StoreError> {
                    self.get_task_impl(id)
                }
                fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Page<Task>, StoreError> {
                    self.list_tasks_impl(filter, page)
                }
                fn transition_task(
                    &self,
                    id: Uuid,
                    request: &TransitionRequest,
                    actor: &Actor,
                    now: OffsetDateTime,
                ) -> Result<(Task, TaskTransition), StoreError> {
                    self.transition_task_impl(id, request, actor, now)
                }
                fn task_history(&self, id: Uuid, page: &PageRequest) -> Result<Page<TaskTransition>, StoreError> {
                    self.task_history_impl(id, page)
                }
                fn record_cost(&self, record: &CostRecord) -> Result<Recorded<CostRecord>, StoreError> {
                    self.record_cost_impl(record)
                }
                fn list_costs(&self, filter: &CostFilter, page: &PageRequest) -> Result<Page<CostRecord>, StoreError> {
                    self.list_costs_impl(filter, page)
                }
                fn budget_config(&self) -> Result<Option<BudgetConfig>, StoreError> {
                    self.budget_config_impl()
                }
                fn set_budget_config(&self, config: &BudgetConfig) -> Result<(), StoreError> {
                    self.set_budget_config_impl(config)
                }
                fn spend_snapshot(
                    &self,
                    period_start: OffsetDateTime,
                    day_start: OffsetDateTime,
                ) -> Result<SpendSnapshot, StoreError> {
                    self.spend_snapshot_impl(period_start, day_start)
                }
                fn action_spend(
                    &self,
                    agent: Uuid,
                    task: Option<Uuid>,
                    period_start: OffsetDateTime,
                    day_start: OffsetDateTime,
                ) -> Result<ActionSpend, StoreError> {
                    self.action_spend_impl(agent, task, period_start, day_start)
                }
                fn record_coordination_run(&self, run: &CoordinationRun) -> Result<(), StoreError> {
                    self.record_coordination_run_impl(run)
                }
                fn list_coordination_runs(
                    &self,
                    filter: &RunFilter,
                    page: &PageRequest,
                ) -> Result<Page<CoordinationRun>, StoreError> {
                    self.list_coordination_runs_impl(filter, page)
                }
                fn record_evaluation(
                    &self,
                    evaluation: &EvaluationRecord,
                    approval: Option<&Approval>,
                ) -> Result<(), StoreError> {
                    self.record_evaluation_impl(evaluation, approval)
                }
                fn list_evaluations(
                    &self,
                    filter: &EvaluationFilter,
                    page: &PageRequest,
                ) -> Result<Page<EvaluationRecord>, StoreError> {
                    self.list_evaluations_impl(filter, page)
                }
                fn get_approval(&self, id: Uuid) -> Result<Approval, StoreError> {
                    self.get_approval_impl(id)
                }
                fn list_approvals(
                    &self,
                    filter: &ApprovalFilter,
                    page: &PageRequest,
                ) -> Result<Page<Approval>, StoreError> {
                    self.list_approvals_impl(filter, page)
                }
                fn decide_approval(
                    &self,
                    id: Uuid,
                    decision: Decision,
                    note: Option<String>,
                    actor: &Actor,
                    now: OffsetDateTime,
                ) -> Result<Approval, StoreError> {
                    self.decide_approval_impl(id, decision, note, actor, now)
                }
                fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                    self.create_api_key_impl(key)
                }
                fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
                    self.find_api_key_impl(id)
                }
                fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
                    self.list_api_keys_impl()
                }
                fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<ApiKeyRecord, StoreError> {
                    self.revoke_api_key_impl(id, now)
                }
                fn active_api_keys(&self) -> Result<u64, StoreError> {
                    self.active_api_keys_impl()
                }
                fn agent_counts(&self) -> Result<Vec<(AgentStatus, TrustLevel, u64)>, StoreError> {
                    self.agent_counts_impl()
                }
                fn task_counts(&self) -> Result<Vec<(TaskStatus, Option<Uuid>, u64)>, StoreError> {
                    self.task_counts_impl()
                }
                fn transition_counts(&self) -> Result<Vec<(TaskStatus, TaskStatus, u64)>, StoreError> {
                    self.transition_counts_impl()
                }
                fn total_cost(&self) -> Result<Usd, StoreError> {
                    self.total_cost_impl()
                }
                fn cost_since(&self, since: OffsetDateTime) -> Result<Usd, StoreError> {
                    self.cost_since_impl(since)
                }
                fn agent_cost_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError> {
                    self.agent_cost_since_impl(since)
                }
                fn agent_cost_totals(&self) -> Result<Vec<(Uuid, Usd)>, StoreError> {
                    self.agent_cost_totals_impl()
                }
                fn pending_approvals(&self) -> Result<u64, StoreError> {
                    self.pending_approvals_impl()
                }
            }
        };
    };
}
