//! The wire formats the doors speak. What each format does differently is in `crate::wire`;
//! this is the name, which the error shapes and the stream meter need too.

use axum::http::StatusCode;

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
}

impl Wire {
    /// The name clients of this format know it by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
        }
    }

    /// The `type` of an error of this status in Anthropic's error shape.
    pub(crate) fn anthropic_error_type(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 | 409 | 422 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            _ => "api_error",
        }
    }
}
