//! The one error type of the API and its JSON form `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use synthorg_core::DomainError;
use synthorg_core::budget::Exhausted;
use synthorg_engine::EngineError;
use synthorg_store::StoreError;

/// An error answered to a client. 4xx carry a message for the client; 5xx carry a generic
/// message while the cause is logged once, here.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// With `budget_exhausted`: the scope that refused and its figures.
    pub budget: Option<Box<Exhausted>>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `invalid`, `internal`, `unavailable`, `timeout`, `budget_exhausted`.
    pub code: String,
    /// For people; names the offending field where there is one.
    pub message: String,
    /// With `budget_exhausted` (409): the scope that refused the reservation, and what is
    /// spent, held and left of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Exhausted>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), budget: None }
    }

    /// 409 `budget_exhausted`: a reservation that does not fit, with the refusing scope.
    pub fn exhausted(exhausted: Exhausted) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "budget_exhausted",
            message: exhausted.message(),
            budget: Some(Box::new(exhausted)),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{field}: {message}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A server-side failure: the cause goes to the log, the client gets a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", error.to_string()),
            DomainError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            DomainError::Forbidden(m) => Self::forbidden(m),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Store(e) => e.into(),
            EngineError::BudgetExhausted(exhausted) => Self::exhausted(*exhausted),
            EngineError::Unauthenticated(message) => Self::unauthorized(message),
            // Only the model gateway's holds carry call rates; a REST hold never meets one.
            EngineError::RateLimited(limited) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited.message())
            }
            EngineError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl synthorg_engine::Failure for ApiError {
    fn server_failure(&self) -> Option<(&'static str, String)> {
        self.status.is_server_error().then(|| (self.code, self.message.clone()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => Self::not_found(error.to_string()),
            StoreError::Domain(e) => e.into(),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the store is unavailable; retry later")
            }
            StoreError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message, budget: self.budget.map(|b| *b) },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
