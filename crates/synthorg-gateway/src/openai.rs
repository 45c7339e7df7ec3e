//! The OpenAI-compatible door: `POST /gateway/openai/v1/chat/completions`, `/v1/responses`
//! and `/v1/embeddings` (their handlers and call flow are [`crate::call`]) and
//! `GET /gateway/openai/v1/models`, and what is particular to OpenAI's wire formats: the cap
//! in `max_completion_tokens` or `max_tokens` (Responses: `max_output_tokens`), the usage
//! chunk of a stream asked for with `stream_options.include_usage`, and the shapes of `usage`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use synthorg_core::price::Usage;

use crate::Gateway;
use crate::error::GatewayError;
use crate::format::Wire;
use crate::provider::ProviderKind;

/// The field the client gave its cap in (`max_completion_tokens`, else `max_tokens`), and
/// whether it asked for a stream's usage chunk.
pub(crate) fn cap_and_usage(request: &Map<String, Value>) -> Result<(&'static str, bool), GatewayError> {
    let wants_usage = match request.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => options.get("include_usage") == Some(&Value::Bool(true)),
        Some(_) => return Err(GatewayError::invalid("stream_options", "stream_options must be an object")),
    };
    let field = match request.contains_key("max_completion_tokens") {
        true => "max_completion_tokens",
        false => "max_tokens",
    };
    Ok((field, wants_usage))
}

/// A client that gives both cap fields gets the held cap in both; a stream always asks for
/// the provider's usage (the relay drops that chunk when the client did not ask for it).
pub(crate) fn forward(request: &mut Map<String, Value>, cap_field: &str, cap: u64, streamed: bool) {
    if cap_field == "max_completion_tokens" && request.contains_key("max_tokens") {
        request.insert("max_tokens".into(), Value::from(cap));
    }
    if streamed {
        let mut options = match request.remove("stream_options") {
            Some(Value::Object(options)) => options,
            _ => Map::new(),
        };
        options.insert("include_usage".into(), Value::Bool(true));
        request.insert("stream_options".into(), Value::Object(options));
    }
}

/// The provider's usage in an OpenAI answer: `prompt_tokens` (cached ones included),
/// `completion_tokens` (reasoning included), and their details.
pub(crate) fn usage(answer: &Value) -> Option<Usage> {
    let usage = answer.get("usage")?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    Some(Usage {
        input: n(usage.get("prompt_tokens"))?,
        output: n(usage.get("completion_tokens"))?,
        cache_read_input: n(usage.pointer("/prompt_tokens_details/cached_tokens")).unwrap_or(0),
        cache_write_input: 0,
        reasoning_output: n(usage.pointer("/completion_tokens_details/reasoning_tokens")).unwrap_or(0),
    })
}

/// The fields of a Responses request whose input is stored at the provider, not in the
/// body: the gateway bounds a call's input by its body, so it cannot hold for them.
const STORED_INPUT: [&str; 3] = ["previous_response_id", "conversation", "prompt"];

/// A Responses request the hold can bound: its whole input in the body, answered in the
/// foreground (a background response is finished, and its usage known, only when polled).
pub(crate) fn responses_bounded(request: &Map<String, Value>) -> Result<(), GatewayError> {
    if let Some(field) = STORED_INPUT.iter().find(|f| request.get(**f).is_some_and(|v| !v.is_null())) {
        return Err(GatewayError::invalid(
            field,
            format!(
                "{field} is not accepted by the gateway: the budget hold bounds a call's input by the request, \
                 and input stored at the provider cannot be bounded; send the whole input instead"
            ),
        ));
    }
    if request.get("background") == Some(&Value::Bool(true)) {
        return Err(GatewayError::invalid(
            "background",
            "background responses are not accepted by the gateway: a call is settled from the answer it waits for",
        ));
    }
    Ok(())
}

/// The provider's usage in a Responses answer (`response.usage`): `input_tokens` (cached
/// ones included), `output_tokens` (reasoning included), and their details.
pub(crate) fn responses_usage(usage: &Value) -> Option<Usage> {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    Some(Usage {
        input: n(usage.get("input_tokens"))?,
        output: n(usage.get("output_tokens"))?,
        cache_read_input: n(usage.pointer("/input_tokens_details/cached_tokens")).unwrap_or(0),
        cache_write_input: 0,
        reasoning_output: n(usage.pointer("/output_tokens_details/reasoning_tokens")).unwrap_or(0),
    })
}

/// Why a response ended, as a GenAI finish reason: `stop` when completed, else the reason
/// it is incomplete (`max_output_tokens`, `content_filter`) or its status.
pub(crate) fn responses_finish(response: &Value) -> Option<String> {
    match response.get("status").and_then(Value::as_str)? {
        "completed" => Some("stop".to_owned()),
        status => {
            Some(response.pointer("/incomplete_details/reason").and_then(Value::as_str).unwrap_or(status).to_owned())
        }
    }
}

/// The provider's usage in an embeddings answer: input only.
pub(crate) fn embeddings_usage(answer: &Value) -> Option<Usage> {
    let input = answer.pointer("/usage/prompt_tokens").and_then(Value::as_u64)?;
    Some(Usage { input, ..Usage::default() })
}

/// `GET /gateway/openai/v1/models`: the models routed by exact name.
pub(crate) async fn models(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if let Err(error) = gateway.authenticate_read(&headers).await {
        return error.response(Wire::OpenAi);
    }
    let data: Vec<Value> = gateway
        .settings()
        .routes
        .routes()
        .iter()
        .filter(|r| r.provider().kind != ProviderKind::Anthropic)
        .filter_map(|r| {
            r.exact().map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": r.provider().name}))
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}
