//! The OpenAI-compatible door: `POST /gateway/openai/v1/chat/completions` and
//! `GET /gateway/openai/v1/models`.
//!
//! A call is translated to the engine's operations and back: the agent's key authenticates
//! it, [`synthorg_engine::Engine::hold_call`] holds its worst case (an upper bound of the
//! input and the output cap), the request goes upstream with that cap as its
//! `max_completion_tokens` / `max_tokens` so the provider cannot spend past the hold, and
//! [`synthorg_engine::Engine::settle_call`] records the provider's own usage against the hold.
//! An upstream error releases the hold and reaches the client with its status, body and
//! `Retry-After`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use synthorg_core::cost::GenAiOperation;
use synthorg_core::price::Usage;
use synthorg_engine::{CallUsage, ModelCall};

use crate::config::{MAX_OUTPUT_TOKENS, ProviderKind};
use crate::error::OpenAiError;
use crate::route::MAX_MODEL_LEN;
use crate::upstream::UpstreamError;
use crate::{Gateway, TASK_HEADER, simulated};

/// The headers of an upstream answer that reach the client.
const PASSED_HEADERS: [&str; 4] = ["content-type", "retry-after", "x-request-id", "openai-processing-ms"];

/// `POST /gateway/openai/v1/chat/completions`.
pub(crate) async fn chat_completions(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    match chat(&gateway, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn chat(gateway: &Gateway, headers: &HeaderMap, body: Bytes) -> Result<Response, OpenAiError> {
    let actor = gateway.authenticate(headers).await?;
    let task_id = task(headers)?;
    let input_bound = body.len() as u64;
    let mut request: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(OpenAiError::invalid("body", "the request body must be a JSON object")),
        Err(e) => return Err(OpenAiError::invalid("body", format!("the request body is not valid JSON: {e}"))),
    };
    let model = match request.get("model") {
        Some(Value::String(model)) if !model.is_empty() && model.len() <= MAX_MODEL_LEN => model.clone(),
        Some(Value::String(_)) => {
            return Err(OpenAiError::invalid("model", format!("model must be 1 to {MAX_MODEL_LEN} bytes")));
        }
        _ => return Err(OpenAiError::invalid("model", "model is required and must be a string")),
    };
    if !matches!(request.get("messages"), Some(Value::Array(m)) if !m.is_empty()) {
        return Err(OpenAiError::invalid("messages", "messages is required and must be a non-empty array"));
    }
    if request.get("stream").is_some_and(|s| s != &Value::Bool(false) && s != &Value::Null) {
        return Err(OpenAiError::invalid(
            "stream",
            "streaming is not yet available through synthorg's gateway; send stream: false",
        ));
    }
    let cap_field = match request.contains_key("max_completion_tokens") {
        true => "max_completion_tokens",
        false => "max_tokens",
    };
    let cap = match request.get(cap_field) {
        None | Some(Value::Null) => gateway.settings().default_max_output_tokens,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_OUTPUT_TOKENS).contains(&n) => n,
            _ => {
                return Err(OpenAiError::invalid(
                    cap_field,
                    format!("{cap_field} must be an integer from 1 to {MAX_OUTPUT_TOKENS}"),
                ));
            }
        },
    };
    let Some(resolved) = gateway.settings().routes.resolve(&model) else {
        return Err(OpenAiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("no gateway route serves the model {model:?}; see gateway.routes"),
        ));
    };
    let provider = resolved.provider;
    if provider.kind == ProviderKind::Anthropic {
        return Err(OpenAiError::invalid(
            "model",
            format!(
                "the model {model:?} is routed to the provider {:?}, which speaks the anthropic API, not openai",
                provider.name
            ),
        ));
    }
    let call = ModelCall {
        task_id,
        provider: provider.name.clone(),
        price_as: provider.price_as.clone(),
        model: resolved.model.clone(),
        max_input_tokens: input_bound,
        max_output_tokens: cap,
        ttl_seconds: provider.timeout.as_secs().saturating_add(60),
    };
    let engine = gateway.engine();
    let held = engine.hold_call(&actor, call).await?;
    let hold = held.reservation;
    // What goes upstream: the routed model name and, always, the cap that was held.
    request.insert("model".into(), Value::String(resolved.model.clone()));
    request.insert(cap_field.into(), Value::from(cap));
    if cap_field == "max_completion_tokens" && request.contains_key("max_tokens") {
        request.insert("max_tokens".into(), Value::from(cap));
    }
    let answer = match provider.kind {
        ProviderKind::Simulated => {
            let body = simulated::chat_completion(&request, &resolved.model, cap);
            Ok(crate::upstream::Answer {
                status: StatusCode::OK,
                headers: HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]),
                body: Bytes::from(body.to_string()),
            })
        }
        _ => {
            let upstream = gateway.upstream(&provider.name);
            let body = Bytes::from(Value::Object(request).to_string());
            match upstream {
                Some(upstream) => upstream.post("/chat/completions", body).await,
                None => Err(UpstreamError::Unreachable("no client for this provider".into())),
            }
        }
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            let _ = engine.release(&actor, hold.id).await;
            let (status, code) = match error {
                UpstreamError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
                _ => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
            };
            tracing::warn!(provider = %provider.name, error = %error, "gateway call failed upstream");
            return Err(OpenAiError::new(
                status,
                "api_error",
                Some(code),
                format!("provider {}: {error}", provider.name),
            ));
        }
    };
    if !answer.status.is_success() {
        // The provider refused or failed: nothing was spent, the hold goes back.
        let _ = engine.release(&actor, hold.id).await;
        return Ok(passed(answer.status, &answer.headers, answer.body));
    }
    let usage = serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| usage(&v));
    let used = match usage {
        Some(usage) => CallUsage { usage, complete: true },
        // An answer without usage: the worst case that was held, marked estimated.
        None => CallUsage { usage: Usage { input: input_bound, output: cap, ..Usage::default() }, complete: false },
    };
    let mut response = passed(answer.status, &answer.headers, answer.body);
    match engine.settle_call(&actor, &hold, &provider.price_as, used, GenAiOperation::Chat).await {
        Ok(reported) => {
            if let Ok(id) = HeaderValue::from_str(&reported.record.id.to_string()) {
                response.headers_mut().insert(HeaderName::from_static("x-synthorg-cost-record-id"), id);
            }
        }
        // The call was made and answered: the client gets its answer; the hold stays open
        // until it expires, so the budget keeps counting the worst case meanwhile.
        Err(error) => tracing::error!(reservation_id = %hold.id, %error, "a gateway call could not be settled"),
    }
    Ok(response)
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

/// An upstream answer as the client gets it: its status, body and chosen headers.
fn passed(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    for name in PASSED_HEADERS {
        if let Some(value) = headers.get(name) {
            response.headers_mut().insert(HeaderName::from_static(name), value.clone());
        }
    }
    response
}

/// The task a call is for, from [`TASK_HEADER`].
fn task(headers: &HeaderMap) -> Result<Option<uuid::Uuid>, OpenAiError> {
    let Some(value) = headers.get(TASK_HEADER) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| OpenAiError::invalid(TASK_HEADER, format!("{TASK_HEADER} must be a task id (a UUID)")))
}

/// `GET /gateway/openai/v1/models`: the models routed by exact name.
pub(crate) async fn models(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if let Err(error) = gateway.authenticate_read(&headers).await {
        return error.into_response();
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
