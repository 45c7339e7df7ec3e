//! The wire formats the doors speak. What each format does differently is in `crate::wire`;
//! this is the name, which the error shapes and the stream meter need too.

use axum::http::StatusCode;
use synthorg_core::cost::GenAiOperation;

/// A wire format: one API of one provider family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// OpenAI's Chat Completions (`/v1/chat/completions`).
    OpenAi,
    /// OpenAI's Responses (`/v1/responses`).
    Responses,
    /// OpenAI's Embeddings (`/v1/embeddings`): input only, never streamed.
    Embeddings,
    /// Anthropic's Messages (`/v1/messages`).
    Anthropic,
}

impl Wire {
    /// The name clients of this format's provider family know it by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Wire::OpenAi | Wire::Responses | Wire::Embeddings => "openai",
            Wire::Anthropic => "anthropic",
        }
    }

    /// The GenAI operation a call of this format is (span names, the cost record).
    pub(crate) fn operation(self) -> GenAiOperation {
        match self {
            Wire::Embeddings => GenAiOperation::Embeddings,
            Wire::OpenAi | Wire::Responses | Wire::Anthropic => GenAiOperation::Chat,
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
