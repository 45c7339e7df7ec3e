//! Coordination runs: the store's side.

use synthorg_core::coordination::CoordinationRun;
use uuid::Uuid;

use crate::{Page, PageRequest, StoreError};

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub task_id: Option<Uuid>,
}

pub trait CoordinationStore {
    fn record_coordination_run(&self, run: &CoordinationRun) -> Result<(), StoreError>;
    fn list_coordination_runs(
        &self,
        filter: &RunFilter,
        page: &PageRequest,
    ) -> Result<Page<CoordinationRun>, StoreError>;
}
