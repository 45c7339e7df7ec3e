//! Aggregates for the metrics: each costs time proportional to the series it returns, never
//! to the rows it summarises.

use synthorg_core::Usd;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use synthorg_core::cost::CostSource;
use synthorg_core::price::Usage;
use synthorg_core::security::Verdict;
use synthorg_core::task::TaskStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// The ledger's totals for one provider and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    pub cost: Usd,
    pub tokens: Usage,
    /// Records by where their cost came from.
    pub reported: u64,
    pub computed: u64,
    pub unpriced: u64,
    /// Calls through the model gateway, with the provider's usage and without (SPEC §17).
    pub metered: u64,
    pub estimated: u64,
    /// Reported costs more than 1 % away from the computed ones.
    pub disagreements: u64,
}

impl ModelUsage {
    /// Nothing yet, under these labels.
    pub fn empty(provider: String, model: String) -> Self {
        Self::from_sums(provider, model, [0; MODEL_USAGE_SUMS.len()])
    }

    /// Adds `other`'s totals to these.
    pub fn absorb(&mut self, other: &ModelUsage) {
        self.cost = self.cost.checked_add(other.cost).unwrap_or(self.cost);
        self.tokens = self.tokens.plus(other.tokens);
        self.reported += other.reported;
        self.computed += other.computed;
        self.unpriced += other.unpriced;
        self.metered += other.metered;
        self.estimated += other.estimated;
        self.disagreements += other.disagreements;
    }

    /// The records whose cost came from `source`.
    pub fn reports(&self, source: CostSource) -> u64 {
        match source {
            CostSource::Reported => self.reported,
            CostSource::Computed => self.computed,
            CostSource::Unpriced => self.unpriced,
            CostSource::Metered => self.metered,
            CostSource::Estimated => self.estimated,
        }
    }
}

/// The columns [`ModelUsage`] is read from, after provider and model, in both schemas.
pub(crate) const MODEL_USAGE_SUMS: [&str; 12] = [
    "cost_nanos",
    "input_tokens",
    "output_tokens",
    "cache_read_input",
    "cache_write_input",
    "reasoning_output",
    "reported",
    "computed",
    "unpriced",
    "disagreements",
    "metered",
    "estimated",
];

impl ModelUsage {
    /// Builds one from provider, model and the [`MODEL_USAGE_SUMS`] in order.
    pub(crate) fn from_sums(provider: String, model: String, sums: [i64; MODEL_USAGE_SUMS.len()]) -> Self {
        let n = |i: usize| sums[i].max(0) as u64;
        ModelUsage {
            provider,
            model,
            cost: Usd::from_nanos(sums[0]),
            tokens: Usage {
                input: n(1),
                output: n(2),
                cache_read_input: n(3),
                cache_write_input: n(4),
                reasoning_output: n(5),
            },
            reported: n(6),
            computed: n(7),
            unpriced: n(8),
            disagreements: n(9),
            metered: n(10),
            estimated: n(11),
        }
    }
}

pub trait AggregateStore {
    fn agent_counts(&self) -> Result<Vec<(AgentStatus, TrustLevel, u64)>, StoreError>;
    /// Tasks per (status, assignee); `None` is unassigned.
    fn task_counts(&self) -> Result<Vec<(TaskStatus, Option<Uuid>, u64)>, StoreError>;
    fn transition_counts(&self) -> Result<Vec<(TaskStatus, TaskStatus, u64)>, StoreError>;
    fn total_cost(&self) -> Result<Usd, StoreError>;
    fn cost_since(&self, since: OffsetDateTime) -> Result<Usd, StoreError>;
    fn agent_cost_since(&self, since: OffsetDateTime) -> Result<Vec<(Uuid, Usd)>, StoreError>;
    fn agent_cost_totals(&self) -> Result<Vec<(Uuid, Usd)>, StoreError>;
    fn pending_approvals(&self) -> Result<u64, StoreError>;
    /// Security evaluations recorded, by verdict (verdicts never given are absent).
    fn verdict_counts(&self) -> Result<Vec<(Verdict, u64)>, StoreError>;
    /// When the oldest approval still pending was opened; `None` when none is pending.
    fn oldest_pending_approval(&self) -> Result<Option<OffsetDateTime>, StoreError>;
    /// Totals per provider and model, the first used first.
    fn model_usage(&self) -> Result<Vec<ModelUsage>, StoreError>;
    /// When the store's running totals began: written the first time it is asked (a store
    /// from before this was kept gets that moment) and kept in `settings`, so that
    /// `store migrate` carries it along. Cumulative metrics read from the store count from
    /// it, whichever process pushes them and however often it restarted.
    fn origin(&self) -> Result<OffsetDateTime, StoreError>;
}

/// The `settings` key of [`AggregateStore::origin`].
pub(crate) const ORIGIN_KEY: &str = "origin";

/// The origin as stored: microseconds since the Unix epoch.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Origin {
    pub(crate) unix_micros: i64,
}

impl Origin {
    pub(crate) fn now() -> Self {
        Self { unix_micros: i64::try_from(crate::now().unix_timestamp_nanos() / 1000).unwrap_or(0) }
    }

    pub(crate) fn at(&self) -> Result<OffsetDateTime, StoreError> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.unix_micros) * 1000)
            .map_err(|e| StoreError::Internal(format!("the stored origin is not a time: {e}")))
    }
}
