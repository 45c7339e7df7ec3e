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
use std::time::Instant;
use synthorg_core::cost::GenAiOperation;
use synthorg_core::price::Usage;

use synthorg_core::event::CallOutcome;
use synthorg_engine::{CallUsage, EngineError, ModelCall};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::BodyExt;

use crate::config::{MAX_OUTPUT_TOKENS, Provider, ProviderKind};
use crate::error::OpenAiError;
use crate::report::{Answered, CallReport};
use crate::route::MAX_MODEL_LEN;
use crate::upstream::UpstreamError;
use crate::{Gateway, TASK_HEADER, simulated, stream};

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
    let streamed = match request.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(streamed)) => *streamed,
        Some(_) => return Err(OpenAiError::invalid("stream", "stream must be a boolean")),
    };
    let client_wants_usage = match request.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => options.get("include_usage") == Some(&Value::Bool(true)),
        Some(_) => return Err(OpenAiError::invalid("stream_options", "stream_options must be an object")),
    };
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
        on_short: gateway.settings().on_short,
    };
    let engine = gateway.engine();
    // Only an agent key gets past the hold; the others' calls leave no report.
    let mut report = CallReport::new(actor.agent_id().unwrap_or_default(), &provider, &resolved.model, cap, streamed);
    let (hold, cap) = match engine.hold_call(&actor, call).await {
        Ok(held) => (held.held.reservation, held.max_output_tokens),
        Err(error) => {
            if matches!(error, EngineError::BudgetExhausted(_)) {
                report.finish(engine, CallOutcome::Refused, Answered::default());
            }
            return Err(error.into());
        }
    };
    report.reservation_id = Some(hold.id);
    report.max_tokens = cap;
    // What goes upstream: the routed model name and, always, the cap that was held.
    request.insert("model".into(), Value::String(resolved.model.clone()));
    request.insert(cap_field.into(), Value::from(cap));
    if cap_field == "max_completion_tokens" && request.contains_key("max_tokens") {
        request.insert("max_tokens".into(), Value::from(cap));
    }
    if streamed {
        // The provider's usage comes as the stream's last chunk only when asked for.
        let mut options = match request.remove("stream_options") {
            Some(Value::Object(options)) => options,
            _ => Map::new(),
        };
        options.insert("include_usage".into(), Value::Bool(true));
        request.insert("stream_options".into(), Value::Object(options));
        let meter = stream::Meter::new(client_wants_usage, cap);
        let settlement = stream::Settlement {
            engine: engine.clone(),
            actor: actor.clone(),
            hold: hold.clone(),
            price_as: provider.price_as.clone(),
            input_bound,
        };
        return streamed_call(gateway, &provider, request, &resolved.model, meter, settlement, report).await;
    }
    let waited = Instant::now();
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
    report.upstream = waited.elapsed();
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            let _ = engine.release(&actor, hold.id).await;
            report.finish(engine, outcome_of(&error), Answered::default());
            return Err(upstream_failed(&provider, error));
        }
    };
    if !answer.status.is_success() {
        // The provider refused or failed: nothing was spent, the hold goes back.
        let _ = engine.release(&actor, hold.id).await;
        let status = Some(answer.status.as_u16());
        report.finish(engine, CallOutcome::UpstreamError, Answered { status, ..Answered::default() });
        return Ok(passed(answer.status, &answer.headers, answer.body));
    }
    let parsed = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    let usage = usage(&parsed);
    let answered = Answered {
        id: parsed.get("id").and_then(Value::as_str).map(str::to_owned),
        model: parsed.get("model").and_then(Value::as_str).map(str::to_owned),
        finish_reasons: parsed
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("finish_reason").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        usage,
        ..Answered::default()
    };
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
    report.finish(engine, CallOutcome::Answered, answered);
    Ok(response)
}

/// The outcome of a call the provider did not answer.
fn outcome_of(error: &UpstreamError) -> CallOutcome {
    match error {
        UpstreamError::Timeout(_) => CallOutcome::UpstreamTimeout,
        _ => CallOutcome::UpstreamUnreachable,
    }
}

/// A streamed call: the upstream's events relayed as they come (see [`stream`]), or its
/// error passed through (the hold released).
async fn streamed_call(
    gateway: &Gateway,
    provider: &Provider,
    request: Map<String, Value>,
    model: &str,
    meter: stream::Meter,
    settlement: stream::Settlement,
    mut report: CallReport,
) -> Result<Response, OpenAiError> {
    let cap = meter.cap();
    let engine = settlement.engine.clone();
    let (source, idle): (BoxStream<'static, Result<Bytes, String>>, _) = match provider.kind {
        ProviderKind::Simulated => {
            let events = simulated::chat_stream(&request, model, cap);
            (futures_util::stream::iter(events.into_iter().map(Ok)).boxed(), provider.timeout)
        }
        _ => {
            let Some(upstream) = gateway.upstream(&provider.name) else {
                let _ = settlement.engine.release(&settlement.actor, settlement.hold.id).await;
                report.finish(&engine, CallOutcome::UpstreamUnreachable, Answered::default());
                return Err(upstream_failed(
                    provider,
                    UpstreamError::Unreachable("no client for this provider".into()),
                ));
            };
            let body = Bytes::from(Value::Object(request).to_string());
            let waited = Instant::now();
            let response = upstream.open("/chat/completions", body).await;
            report.upstream = waited.elapsed();
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    let _ = settlement.engine.release(&settlement.actor, settlement.hold.id).await;
                    report.finish(&engine, outcome_of(&error), Answered::default());
                    return Err(upstream_failed(provider, error));
                }
            };
            let (parts, body) = response.into_parts();
            if !parts.status.is_success() {
                let _ = settlement.engine.release(&settlement.actor, settlement.hold.id).await;
                let status = Some(parts.status.as_u16());
                report.finish(&engine, CallOutcome::UpstreamError, Answered { status, ..Answered::default() });
                let body = http_body_util::Limited::new(body, crate::MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Ok(passed(parts.status, &parts.headers, body));
            }
            let source = body.into_data_stream().map(|chunk| chunk.map_err(|e| e.to_string())).boxed();
            (source, upstream.timeout())
        }
    };
    let body = axum::body::Body::from_stream(stream::relay(source, meter, settlement, report, idle));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies in front of synthorg must not hold the events back either.
    headers.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    Ok(response)
}

/// The client's answer when the provider gave none.
fn upstream_failed(provider: &Provider, error: UpstreamError) -> OpenAiError {
    let (status, code) = match error {
        UpstreamError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        _ => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
    };
    tracing::warn!(provider = %provider.name, error = %error, "gateway call failed upstream");
    OpenAiError::new(status, "api_error", Some(code), format!("provider {}: {error}", provider.name))
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
