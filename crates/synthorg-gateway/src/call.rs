//! One model call through the gateway, whatever its wire format ([`Wire`]): translated to
//! the engine's operations and back. The agent's key authenticates it,
//! [`synthorg_engine::Engine::hold_call`] holds its worst case (an upper bound of the input
//! and the output cap, after the trust level's rules), the request goes upstream with the
//! cap that was held so the provider cannot spend past the hold, and
//! [`synthorg_engine::Engine::settle_call`] records the provider's own usage against the hold.
//! An upstream error releases the hold and reaches the client with its status, body and
//! `Retry-After`.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::BodyExt;
use serde_json::Value;
use synthorg_core::Actor;
use synthorg_core::event::CallOutcome;
use synthorg_core::price::Usage;
use synthorg_core::reservation::Reservation;
use synthorg_engine::{CallUsage, EngineError, ModelCall};
use tracing::Instrument;

use crate::error::GatewayError;
use crate::provider::{Provider, ProviderKind};
use crate::report::{Answered, CallReport};
use crate::upstream::{Answer, UpstreamError};
use crate::wire::{Parsed, Wire};
use crate::{Gateway, TASK_HEADER, stream};

/// `POST /gateway/openai/v1/chat/completions`.
pub(crate) async fn openai_chat(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&gateway, Wire::OpenAi, &headers, body).await
}

/// `POST /gateway/openai/v1/responses`.
pub(crate) async fn openai_responses(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&gateway, Wire::Responses, &headers, body).await
}

/// `POST /gateway/openai/v1/embeddings`.
pub(crate) async fn openai_embeddings(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&gateway, Wire::Embeddings, &headers, body).await
}

/// `POST /gateway/anthropic/v1/messages`.
pub(crate) async fn anthropic_messages(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&gateway, Wire::Anthropic, &headers, body).await
}

/// Handles one call; every failure answers in the wire format's error shape.
async fn handle(gateway: &Gateway, wire: Wire, headers: &HeaderMap, body: Bytes) -> Response {
    match call(gateway, wire, headers, body).await {
        Ok(response) => response,
        Err(error) => error.response(wire),
    }
}

/// What a held call carries from the hold to its end.
struct Held<'a> {
    gateway: &'a Gateway,
    wire: Wire,
    actor: Actor,
    provider: std::sync::Arc<Provider>,
    hold: Reservation,
    input_bound: u64,
    cap: u64,
    /// Count the call's tokens against the agent's tokens-per-minute rate.
    per_minute: bool,
    report: CallReport,
}

async fn call(gateway: &Gateway, wire: Wire, headers: &HeaderMap, body: Bytes) -> Result<Response, GatewayError> {
    let actor = gateway.authenticate(headers).await?;
    let task_id = task(headers)?;
    let input_bound = body.len() as u64;
    let mut parsed = wire.parse(&body, gateway.settings().default_max_output_tokens)?;
    let Some(resolved) = gateway.settings().routes.resolve(&parsed.model) else {
        return Err(GatewayError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("no gateway route serves the model {:?}; see gateway.routes", parsed.model),
        ));
    };
    let provider = resolved.provider;
    if !wire.served_by(provider.kind) {
        return Err(GatewayError::invalid(
            "model",
            format!(
                "the model {:?} is routed to the provider {:?}, which speaks the {} API, not {}",
                parsed.model,
                provider.name,
                provider.kind.as_str(),
                wire.name()
            ),
        ));
    }
    let call = ModelCall {
        task_id,
        provider: provider.name.clone(),
        price_as: provider.price_as.clone(),
        model: resolved.model.clone(),
        max_input_tokens: input_bound,
        max_output_tokens: parsed.cap,
        ttl_seconds: provider.timeout.as_secs().saturating_add(60),
        on_short: gateway.settings().on_short,
        rates: gateway.settings().rates,
    };
    let engine = gateway.engine();
    // Only an agent key gets past the hold; the others' calls leave no report.
    let agent = actor.agent_id().unwrap_or_default();
    let mut report = CallReport::new(agent, wire.operation(), &provider, &resolved.model, parsed.cap, parsed.streamed);
    let held = match engine.hold_call(&actor, call).await {
        Ok(held) => held,
        Err(error) => {
            match error {
                EngineError::BudgetExhausted(_) => report.finish(engine, CallOutcome::Refused, Answered::default()),
                EngineError::RateLimited(_) => report.finish(engine, CallOutcome::RateLimited, Answered::default()),
                _ => {}
            }
            return Err(error.into());
        }
    };
    let (hold, cap) = (held.held.reservation, held.max_output_tokens);
    report.reservation_id = Some(hold.id);
    report.max_tokens = cap;
    wire.forward(&mut parsed, &resolved.model, cap);
    let per_minute = gateway.settings().rates.tokens_per_minute > 0;
    let held = Held { gateway, wire, actor, provider, hold, input_bound, cap, per_minute, report };
    match parsed.streamed {
        true => streamed(held, parsed, headers).await,
        false => whole(held, parsed, headers).await,
    }
}

/// A call answered at once: the provider's answer passed back, the call settled from it.
async fn whole(mut held: Held<'_>, parsed: Parsed, headers: &HeaderMap) -> Result<Response, GatewayError> {
    let wire = held.wire;
    let waited = Instant::now();
    let answer = match held.provider.kind {
        ProviderKind::Simulated => {
            let body = wire.simulated(&parsed.request, &held.report.model, held.cap);
            Ok(Answer {
                status: StatusCode::OK,
                headers: HeaderMap::from_iter([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]),
                body: Bytes::from(body.to_string()),
            })
        }
        _ => match held.gateway.upstream(&held.provider.name) {
            Some(upstream) => {
                let body = Bytes::from(Value::Object(parsed.request).to_string());
                upstream.post(wire.path(), body, &wire.passed_on(headers)).await
            }
            None => Err(UpstreamError::Unreachable("no client for this provider".into())),
        },
    };
    held.report.upstream = waited.elapsed();
    match answer {
        Ok(answer) => Ok(settled(held, answer).await),
        Err(error) => Err(unanswered(held, error).await),
    }
}

/// The provider's whole answer: passed back, and the call settled from its usage.
async fn settled(held: Held<'_>, answer: Answer) -> Response {
    let (wire, engine) = (held.wire, held.gateway.engine());
    if !answer.status.is_success() {
        return refused_upstream(held, answer.status, &answer.headers, answer.body).await;
    }
    let body = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    let answered = wire.answered(&body);
    let record_id = uuid::Uuid::now_v7();
    let per_minute = held.per_minute;
    let used = match answered.usage {
        Some(usage) => CallUsage { usage, complete: true, record_id, per_minute },
        // An answer without usage: the worst case that was held, marked estimated.
        None => CallUsage {
            usage: Usage { input: held.input_bound, output: held.cap, ..Usage::default() },
            complete: false,
            record_id,
            per_minute,
        },
    };
    let mut response = passed(wire, answer.status, &answer.headers, answer.body);
    if let Ok(id) = HeaderValue::from_str(&record_id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static("x-synthorg-cost-record-id"), id);
    }
    // The settlement is not on the client's path: the answer goes at once, and the hold,
    // durable since before the call, keeps counting the worst case until the record that
    // settles it commits (a few milliseconds later; if the store fails, until the hold
    // expires). Budgets stay exact; the answer is one durable write sooner.
    let gateway = held.gateway;
    let (engine, actor, hold, price_as, mut report) =
        (engine.clone(), held.actor, held.hold, held.provider.price_as.clone(), held.report);
    report.answered_at = Some((Instant::now(), std::time::SystemTime::now()));
    let settle = async move {
        if let Err(error) = engine.settle_call(&actor, &hold, &price_as, used, wire.operation()).await {
            tracing::error!(reservation_id = %hold.id, %error, "a gateway call could not be settled");
        }
        report.finish(&engine, CallOutcome::Answered, answered);
    };
    gateway.spawn(settle.instrument(tracing::Span::current()));
    response
}

/// A streamed call: the provider's events relayed as they come (see [`stream`]), or its
/// error passed back.
async fn streamed(mut held: Held<'_>, parsed: Parsed, headers: &HeaderMap) -> Result<Response, GatewayError> {
    let wire = held.wire;
    let (source, idle): (BoxStream<'static, std::io::Result<Bytes>>, _) = match held.provider.kind {
        ProviderKind::Simulated => {
            let events = wire.simulated_stream(&parsed.request, &held.report.model, held.cap);
            (futures_util::stream::iter(events.into_iter().map(Ok)).boxed(), held.provider.timeout)
        }
        _ => {
            let Some(upstream) = held.gateway.upstream(&held.provider.name) else {
                return Err(unanswered(held, UpstreamError::Unreachable("no client for this provider".into())).await);
            };
            let body = Bytes::from(Value::Object(parsed.request).to_string());
            let waited = Instant::now();
            let response = upstream.open(wire.path(), body, &wire.passed_on(headers)).await;
            held.report.upstream = waited.elapsed();
            let (parts, body) = match response {
                Ok(response) => response.into_parts(),
                Err(error) => return Err(unanswered(held, error).await),
            };
            // An error, or a provider that answered the stream request with a whole answer:
            // passed back as it came, and settled from it.
            let events = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if !parts.status.is_success() || !events.is_some_and(|t| t.starts_with("text/event-stream")) {
                let body = http_body_util::Limited::new(body, crate::MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Ok(settled(held, Answer { status: parts.status, headers: parts.headers, body }).await);
            }
            let source = body.into_data_stream().map(|chunk| chunk.map_err(std::io::Error::other)).boxed();
            (source, upstream.timeout())
        }
    };
    let meter = stream::Meter::new(wire, parsed.client_wants_usage, held.cap);
    let settlement = stream::Settlement {
        engine: held.gateway.engine().clone(),
        actor: held.actor,
        hold: held.hold,
        price_as: held.provider.price_as.clone(),
        input_bound: held.input_bound,
        per_minute: held.per_minute,
    };
    let body = axum::body::Body::from_stream(stream::relay(held.gateway, source, meter, settlement, held.report, idle));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies in front of synthorg must not hold the events back either.
    headers.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    Ok(response)
}

/// The provider gave no answer: the hold goes back, and the client gets a 502 or 504.
async fn unanswered(held: Held<'_>, error: UpstreamError) -> GatewayError {
    let engine = held.gateway.engine();
    let _ = engine.release(&held.actor, held.hold.id).await;
    let (outcome, status, code) = match error {
        UpstreamError::Timeout(_) => (CallOutcome::UpstreamTimeout, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        _ => (CallOutcome::UpstreamUnreachable, StatusCode::BAD_GATEWAY, "upstream_unreachable"),
    };
    tracing::warn!(provider = %held.provider.name, error = %error, "gateway call failed upstream");
    held.report.finish(engine, outcome, Answered::default());
    GatewayError::new(status, "api_error", Some(code), format!("provider {}: {error}", held.provider.name))
}

/// The provider refused or failed: nothing was spent, the hold goes back, and the client
/// gets the provider's answer as it was.
async fn refused_upstream(held: Held<'_>, status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response {
    let engine = held.gateway.engine();
    let _ = engine.release(&held.actor, held.hold.id).await;
    let answered = Answered { status: Some(status.as_u16()), ..Answered::default() };
    held.report.finish(engine, CallOutcome::UpstreamError, answered);
    passed(held.wire, status, headers, body)
}

/// An upstream answer as the client gets it: its status, body and the format's headers.
fn passed(wire: Wire, status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    for name in wire.passed_back() {
        if let Some(value) = headers.get(*name) {
            response.headers_mut().insert(HeaderName::from_static(name), value.clone());
        }
    }
    response
}

/// The task a call is for, from [`TASK_HEADER`].
fn task(headers: &HeaderMap) -> Result<Option<uuid::Uuid>, GatewayError> {
    let Some(value) = headers.get(TASK_HEADER) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| GatewayError::invalid(TASK_HEADER, format!("{TASK_HEADER} must be a task id (a UUID)")))
}
