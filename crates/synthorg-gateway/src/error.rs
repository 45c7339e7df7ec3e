//! The gateway's own errors, in the shape of the wire format the client speaks — OpenAI's
//! `{"error": {"message", "type", "param", "code"}}` or Anthropic's
//! `{"type": "error", "error": {"type", "message"}}` — so an SDK raises its own exception
//! type for each (a 402 is never retried by the SDKs).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use synthorg_core::DomainError;
use synthorg_engine::EngineError;
use synthorg_engine::StoreError;

use crate::format::Wire;

/// One error answer of a door.
#[derive(Debug)]
pub(crate) struct GatewayError {
    pub(crate) status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, …
    pub(crate) kind: &'static str,
    pub(crate) code: Option<&'static str>,
    pub(crate) param: Option<String>,
    pub(crate) message: String,
    /// The budget scope that refused a hold, for `budget_exhausted`.
    pub(crate) budget: Option<Box<serde_json::Value>>,
    /// Seconds for `Retry-After` (a call rate with no room).
    pub(crate) retry_after: Option<u64>,
}

impl GatewayError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self { status, kind, code, param: None, message: message.into(), budget: None, retry_after: None }
    }

    /// A request the gateway cannot forward, naming the offending field.
    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", None, message)
        }
    }

    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", Some("invalid_api_key"), message)
    }
}

impl From<EngineError> for GatewayError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::BudgetExhausted(exhausted) => Self {
                budget: serde_json::to_value(&*exhausted).ok().map(Box::new),
                ..Self::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "insufficient_quota",
                    Some("budget_exhausted"),
                    format!("synthorg refused the call's budget hold: {}", exhausted.message()),
                )
            },
            // OpenAI's own shape for a rate: `type` names it, `code: rate_limit_exceeded`.
            EngineError::RateLimited(limited) => Self {
                retry_after: Some(limited.retry_after_seconds),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    limited.rate.as_str(),
                    Some("rate_limit_exceeded"),
                    format!("synthorg refused the call: {}", limited.message()),
                )
            },
            EngineError::Unauthenticated(message) => Self::unauthenticated(message),
            EngineError::Store(StoreError::Domain(DomainError::Invalid(fields))) => {
                let param = fields.first().map(|f| f.field.clone());
                let message = fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                Self { param, ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", None, message) }
            }
            EngineError::Store(StoreError::Domain(DomainError::Forbidden(message))) => {
                Self::new(StatusCode::FORBIDDEN, "permission_error", Some("forbidden"), message)
            }
            EngineError::Store(StoreError::Domain(DomainError::Conflict(message))) => {
                Self::new(StatusCode::CONFLICT, "invalid_request_error", Some("conflict"), message)
            }
            EngineError::Store(e @ StoreError::NotFound { .. }) => {
                Self::new(StatusCode::NOT_FOUND, "invalid_request_error", Some("not_found"), e.to_string())
            }
            EngineError::Store(StoreError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    Some("unavailable"),
                    "the store is unavailable; retry later",
                )
            }
            EngineError::Store(StoreError::Internal(cause)) | EngineError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", Some("internal"), "internal error")
            }
        }
    }
}

impl GatewayError {
    /// The answer in `wire`'s error shape. Anthropic's has no `code` or `param`: the field a
    /// request error names is in its message.
    pub(crate) fn response(self, wire: Wire) -> Response {
        let body = match wire {
            Wire::OpenAi | Wire::Responses | Wire::Embeddings => {
                let mut error = json!({
                    "message": self.message,
                    "type": self.kind,
                    "param": self.param,
                    "code": self.code,
                });
                if let Some(budget) = self.budget {
                    error["budget"] = *budget;
                }
                json!({ "error": error })
            }
            Wire::Anthropic => {
                let message = match &self.param {
                    Some(param) if !self.message.starts_with(param.as_str()) => format!("{param}: {}", self.message),
                    _ => self.message,
                };
                let mut error = json!({"type": Wire::anthropic_error_type(self.status), "message": message});
                if let Some(code) = self.code {
                    error["code"] = json!(code);
                }
                if let Some(budget) = self.budget {
                    error["budget"] = *budget;
                }
                json!({"type": "error", "error": error})
            }
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
