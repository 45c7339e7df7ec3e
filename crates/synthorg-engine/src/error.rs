//! The one error of every operation: what the store or a rule refused, or a hold that does
//! not fit. Each door maps it to its wire format once.

use synthorg_core::DomainError;
use synthorg_core::budget::Exhausted;
use synthorg_core::rate::RateLimited;
use synthorg_store::StoreError;

/// Why an operation did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A rule refused it (`Domain`), its subject does not exist, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A hold does not fit a limited scope: the scope and its figures.
    #[error("{}", .0.message())]
    BudgetExhausted(Box<Exhausted>),
    /// The agent's call rate (requests or tokens per minute) has no room now.
    #[error("{}", .0.message())]
    RateLimited(RateLimited),
    /// No valid key: missing, malformed, unknown, wrong or revoked (every case looks the
    /// same to the caller).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A failure of the server's own (no random source); the cause is for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<DomainError> for EngineError {
    fn from(error: DomainError) -> Self {
        Self::Store(error.into())
    }
}

impl From<Exhausted> for EngineError {
    fn from(exhausted: Exhausted) -> Self {
        Self::BudgetExhausted(Box::new(exhausted))
    }
}

/// What a write's span says of an error: the `error.type` and message of a failure of the
/// server's, or `None` for a refusal (an answer, not a failed write).
pub trait Failure {
    fn server_failure(&self) -> Option<(&'static str, String)>;
}

impl Failure for StoreError {
    fn server_failure(&self) -> Option<(&'static str, String)> {
        match self {
            // The cause is logged where it is answered; a span leaves the process, so it
            // carries the words a client gets.
            StoreError::Unavailable(_) => Some(("unavailable", "the store is unavailable; retry later".to_owned())),
            StoreError::Internal(_) => Some(("internal", "internal error".to_owned())),
            StoreError::NotFound { .. } | StoreError::Domain(_) => None,
        }
    }
}

impl Failure for EngineError {
    fn server_failure(&self) -> Option<(&'static str, String)> {
        match self {
            EngineError::Store(e) => e.server_failure(),
            EngineError::Internal(_) => Some(("internal", "internal error".to_owned())),
            EngineError::BudgetExhausted(_) | EngineError::RateLimited(_) | EngineError::Unauthenticated(_) => None,
        }
    }
}
