//! The wire formats the gateway speaks: what differs between OpenAI's Chat Completions,
//! Responses and Embeddings and Anthropic's Messages — what a request must carry, how it
//! names its cap and asks for a stream, where it is sent, how the answer states its usage,
//! how errors look. Everything else about a call (authentication, the hold, forwarding,
//! settlement, telemetry) is the same flow (`crate::call`) for all of them.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use serde_json::{Map, Value};
use synthorg_core::price::Usage;

use crate::config::MAX_OUTPUT_TOKENS;
use crate::error::GatewayError;
use crate::provider::ProviderKind;
use crate::report::Answered;
use crate::route::MAX_MODEL_LEN;
use crate::{anthropic, openai, simulated};

pub(crate) use crate::format::Wire;

/// A request as the flow needs it: the body's fields, and what the wire format's fields say.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) request: Map<String, Value>,
    pub(crate) model: String,
    /// The field that carries the output cap (none: embeddings have no output), and the
    /// cap asked for.
    pub(crate) cap_field: Option<&'static str>,
    pub(crate) cap: u64,
    pub(crate) streamed: bool,
    /// OpenAI: did the client ask for the usage chunk of a stream?
    pub(crate) client_wants_usage: bool,
}

impl Wire {
    /// Does a provider of `kind` speak this format?
    pub(crate) fn served_by(self, kind: ProviderKind) -> bool {
        match (self, kind) {
            (_, ProviderKind::Simulated) => true,
            (Wire::OpenAi | Wire::Responses | Wire::Embeddings, kind) => kind == ProviderKind::Openai,
            (Wire::Anthropic, kind) => kind == ProviderKind::Anthropic,
        }
    }

    /// Where a call goes, under the provider's base URL.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Wire::OpenAi => "/chat/completions",
            Wire::Responses => "/responses",
            Wire::Embeddings => "/embeddings",
            Wire::Anthropic => "/messages",
        }
    }

    /// The body as this format requires it; every problem names its field.
    pub(crate) fn parse(self, body: &[u8], default_cap: u64) -> Result<Parsed, GatewayError> {
        let request: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(GatewayError::invalid("body", "the request body must be a JSON object")),
            Err(e) => return Err(GatewayError::invalid("body", format!("the request body is not valid JSON: {e}"))),
        };
        let model = match request.get("model") {
            Some(Value::String(model)) if !model.is_empty() && model.len() <= MAX_MODEL_LEN => model.clone(),
            Some(Value::String(_)) => {
                return Err(GatewayError::invalid("model", format!("model must be 1 to {MAX_MODEL_LEN} bytes")));
            }
            _ => return Err(GatewayError::invalid("model", "model is required and must be a string")),
        };
        self.content(&request)?;
        let streamed = match request.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(true)) if self == Wire::Embeddings => {
                return Err(GatewayError::invalid("stream", "embeddings are not streamed"));
            }
            Some(Value::Bool(streamed)) => *streamed,
            Some(_) => return Err(GatewayError::invalid("stream", "stream must be a boolean")),
        };
        let (cap_field, client_wants_usage) = match self {
            Wire::OpenAi => openai::cap_and_usage(&request).map(|(field, usage)| (Some(field), usage))?,
            Wire::Responses => (Some("max_output_tokens"), false),
            Wire::Anthropic => (Some("max_tokens"), false),
            Wire::Embeddings => (None, false),
        };
        let cap = match cap_field.map(|field| (field, request.get(field))) {
            None => 0,
            Some((_, None | Some(Value::Null))) if self == Wire::Anthropic => {
                return Err(GatewayError::invalid("max_tokens", "max_tokens is required"));
            }
            Some((_, None | Some(Value::Null))) => default_cap,
            Some((field, Some(v))) => match v.as_u64() {
                Some(n) if (1..=MAX_OUTPUT_TOKENS).contains(&n) => n,
                _ => {
                    return Err(GatewayError::invalid(
                        field,
                        format!("{field} must be an integer from 1 to {MAX_OUTPUT_TOKENS}"),
                    ));
                }
            },
        };
        Ok(Parsed { request, model, cap_field, cap, streamed, client_wants_usage })
    }

    /// What the request must carry besides its model: messages, or an input.
    fn content(self, request: &Map<String, Value>) -> Result<(), GatewayError> {
        let field = match self {
            Wire::OpenAi | Wire::Anthropic => "messages",
            Wire::Responses | Wire::Embeddings => "input",
        };
        let given = match request.get(field) {
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::String(text)) => self != Wire::OpenAi && self != Wire::Anthropic && !text.is_empty(),
            _ => false,
        };
        if !given {
            let what = match field {
                "messages" => "a non-empty array",
                _ => "a non-empty string or array",
            };
            return Err(GatewayError::invalid(field, format!("{field} is required and must be {what}")));
        }
        if self == Wire::Responses {
            openai::responses_bounded(request)?;
        }
        Ok(())
    }

    /// Writes into the request what goes upstream besides the client's fields: the routed
    /// model, the cap that was held, and what a stream must carry.
    pub(crate) fn forward(self, parsed: &mut Parsed, model: &str, cap: u64) {
        let request = &mut parsed.request;
        request.insert("model".into(), Value::String(model.to_owned()));
        if let Some(field) = parsed.cap_field {
            request.insert(field.into(), Value::from(cap));
            if self == Wire::OpenAi {
                openai::forward(request, field, cap, parsed.streamed);
            }
        }
    }

    /// The client's protocol headers passed on to the provider.
    pub(crate) fn passed_on(self, headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            Wire::OpenAi | Wire::Responses | Wire::Embeddings => Vec::new(),
            Wire::Anthropic => anthropic::passed_on(headers),
        }
    }

    /// The provider's usage in a whole answer.
    pub(crate) fn usage(self, answer: &Value) -> Option<Usage> {
        match self {
            Wire::OpenAi => openai::usage(answer),
            Wire::Responses => openai::responses_usage(answer.get("usage")?),
            Wire::Embeddings => openai::embeddings_usage(answer),
            Wire::Anthropic => anthropic::usage(answer.get("usage")?),
        }
    }

    /// What a whole answer says, for the call's span.
    pub(crate) fn answered(self, answer: &Value) -> Answered {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let finish_reasons = match self {
            Wire::OpenAi => answer
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("finish_reason").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            Wire::Responses => openai::responses_finish(answer).into_iter().collect(),
            Wire::Embeddings => Vec::new(),
            Wire::Anthropic => text("stop_reason").into_iter().collect(),
        };
        Answered {
            id: text("id"),
            model: text("model"),
            finish_reasons,
            usage: self.usage(answer),
            ..Answered::default()
        }
    }

    /// The simulated provider's answer, whole or as a stream's events.
    pub(crate) fn simulated(self, request: &Map<String, Value>, model: &str, cap: u64) -> Value {
        match self {
            Wire::OpenAi => simulated::chat_completion(request, model, cap),
            Wire::Responses => simulated::response(request, model, cap),
            Wire::Embeddings => simulated::embeddings(request, model),
            Wire::Anthropic => simulated::message(request, model, cap),
        }
    }

    pub(crate) fn simulated_stream(self, request: &Map<String, Value>, model: &str, cap: u64) -> Vec<Bytes> {
        match self {
            Wire::OpenAi => simulated::chat_stream(request, model, cap),
            Wire::Responses => simulated::response_stream(request, model, cap),
            // Refused by `parse`: embeddings are not streamed.
            Wire::Embeddings => Vec::new(),
            Wire::Anthropic => simulated::message_stream(request, model, cap),
        }
    }

    /// The headers of a provider's answer that reach the client.
    pub(crate) fn passed_back(self) -> &'static [&'static str] {
        match self {
            Wire::OpenAi | Wire::Responses | Wire::Embeddings => {
                &["content-type", "retry-after", "x-request-id", "openai-processing-ms"]
            }
            Wire::Anthropic => &["content-type", "retry-after", "request-id", "anthropic-ratelimit-requests-remaining"],
        }
    }
}
