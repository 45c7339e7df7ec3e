//! Store errors.

use synthorg_core::DomainError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed entity does not exist (HTTP 404).
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// A domain rule refused the operation.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store cannot serve now (busy, disk full, unreachable); retrying may help (HTTP 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (HTTP 500; the cause is logged, never sent to clients).
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound { entity, id: id.to_string() }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | CannotOpen | OutOfMemory) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON: {error}"))
    }
}
