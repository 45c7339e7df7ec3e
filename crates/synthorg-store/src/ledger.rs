//! The cost ledger: the store's side.

use synthorg_core::cost::{CallCategory, CostRecord, CostSource};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

/// A write that may have been a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<T> {
    pub value: T,
    /// True when an earlier identical request had already recorded `value`.
    pub replayed: bool,
    /// What a cost report did to the reservation it named (none for a replay).
    pub settlement: Option<crate::Settlement>,
}

#[derive(Debug, Clone, Default)]
pub struct CostFilter {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub call_category: Option<CallCategory>,
    pub cost_source: Option<CostSource>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

pub trait LedgerStore {
    /// Appends a cost record. A record whose idempotency key is already stored is not
    /// recorded again: the stored record comes back with `replayed: true`, or a conflict
    /// when the retry differs from the original. A record naming a reservation settles it
    /// in the same transaction (see [`crate::Settlement`]); the reservation must exist and
    /// belong to the record's agent (422 on `reservation_id`).
    fn record_cost(&self, record: &CostRecord) -> Result<Recorded<CostRecord>, StoreError>;
    fn list_costs(&self, filter: &CostFilter, page: &PageRequest) -> Result<Page<CostRecord>, StoreError>;
}
