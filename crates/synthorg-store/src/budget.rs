//! The budget: its configuration and the spend it is judged against.

use synthorg_core::audit::{AuditContext, AuditEvent};
use synthorg_core::budget::{ActionSpend, BudgetConfig, SpendSnapshot, SpendWindow};
use uuid::Uuid;

use crate::StoreError;

pub trait BudgetStore {
    /// The budget configuration set through the API, if any.
    fn budget_config(&self) -> Result<Option<BudgetConfig>, StoreError>;
    /// The budget in force: the one set through the API, else `defaults` (the configuration
    /// file's). The one definition every reader of the budget uses.
    fn budget_in_force(&self, defaults: &BudgetConfig) -> Result<BudgetConfig, StoreError> {
        Ok(self.budget_config()?.unwrap_or_else(|| defaults.clone()))
    }
    fn set_budget_config(&self, config: &BudgetConfig, audit: &AuditContext) -> Result<AuditEvent, StoreError>;
    /// The spend an action of `agent` (for `task`) is judged against: period spend, the
    /// agent's spend today (0 without an agent), the task's total.
    fn action_spend(
        &self,
        agent: Option<Uuid>,
        task: Option<Uuid>,
        window: SpendWindow,
    ) -> Result<ActionSpend, StoreError>;
    /// Spend in the billing period, today, and per agent today.
    fn spend_snapshot(&self, window: SpendWindow) -> Result<SpendSnapshot, StoreError>;
}
