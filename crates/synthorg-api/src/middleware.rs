//! Cross-cutting middleware: request timeout, access log, JSON fallbacks.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use synthorg_telemetry::context::{TraceContext, TraceState, request_id};
use synthorg_telemetry::otlp::{AttrValue, SpanKind, SpanRecord};
use tracing::Instrument;

use crate::AppState;
use crate::error::ApiError;

/// The correlation of one request, in its extensions.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub request_id: String,
    pub trace: TraceContext,
}

/// Correlates, times out and observes every request:
/// - a request id (a valid incoming `X-Request-Id` is kept, else one is generated; echoed in
///   the response) and a trace context (a valid `traceparent` is continued, else a new trace;
///   a new span id per request) go on a `request` span, so every event of the request, in
///   every sink, carries them; handlers add `task_id` / `agent_id`;
/// - 503 `timeout` when the request runs past `request_timeout`;
/// - one access log line and the HTTP metrics, by route template (never the raw path).
pub async fn timeout_and_log(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let correlation = {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let mut trace = TraceContext::for_request_with(header("traceparent"), &state.settings().trace_policy);
        // A probe or a scrape that continues no caller's trace starts none of its own: a
        // kubelet or Prometheus would fill the trace store with a span every few seconds.
        if trace.parent_span_id.is_none() && req.method() == Method::GET && is_probe(route.as_deref()) {
            trace.flags &= !0x01;
        }
        Correlation { request_id: request_id(header("x-request-id")), trace }
    };
    let span = tracing::info_span!(
        "request",
        request_id = %correlation.request_id,
        trace_id = %correlation.trace.trace_id_hex(),
        span_id = %correlation.trace.span_id_hex(),
        trace_flags = correlation.trace.flags,
        task_id = tracing::field::Empty,
        agent_id = tracing::field::Empty,
    );
    // Code inside the request (its writes' effects included, on any thread) finds its trace.
    synthorg_telemetry::context::attach(&span, correlation.trace);
    synthorg_telemetry::context::attach_request_id(&span, &correlation.request_id);
    // The caller's vendor state travels with a trace it continues, on every span of it.
    let trace_state = correlation
        .trace
        .parent_span_id
        .and_then(|_| TraceState::parse(req.headers().get_all("tracestate").iter().filter_map(|v| v.to_str().ok())));
    if let Some(state) = &trace_state {
        synthorg_telemetry::context::attach_state(&span, state.clone());
    }
    let echoed = axum::http::HeaderValue::from_str(&correlation.request_id).ok();
    let trace = correlation.trace;
    // Only a sampled trace becomes a span and an exemplar (SPEC §13).
    let sampled = trace.flags & 0x01 == 0x01;
    req.extensions_mut().insert(correlation);
    let method = req.method().clone();
    // Kept only for the span, when spans are exported.
    let target =
        state.settings().tracer.as_ref().map(|_| (req.uri().path().to_owned(), req.uri().query().map(str::to_owned)));
    let limit = state.settings().request_timeout;
    let mut response = match tokio::time::timeout(limit, next.run(req)).instrument(span.clone()).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request did not complete within {} ms", limit.as_millis()),
        )
        .into_response(),
    };
    let status = response.status().as_u16();
    if let Some(metrics) = state.metrics() {
        metrics.http().observe(
            method.as_str(),
            route.as_deref().unwrap_or("unmatched"),
            status,
            started.elapsed().as_secs_f64(),
            sampled.then_some((trace.trace_id, trace.span_id)),
        );
    }
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if let (Some(tracer), Some((path, query)), true) = (&state.settings().tracer, &target, sampled) {
        let mut server = server_span(&trace, &method, route.as_deref(), path, query.as_deref(), status, started_at);
        server.trace_state = trace_state;
        tracer.record(server);
    }
    let route = route.as_deref().unwrap_or("unmatched");
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(target: "synthorg::access", %method, route, status, elapsed_us, "request");
        } else if state.settings().quiet_requests {
            tracing::debug!(target: "synthorg::access", %method, route, status, elapsed_us, "request");
        } else {
            tracing::info!(target: "synthorg::access", %method, route, status, elapsed_us, "request");
        }
    });
    if let Some(id) = echoed {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The health probes and the metrics scrape: polled by machines, traced only when the
/// caller sends a `traceparent`.
fn is_probe(route: Option<&str>) -> bool {
    matches!(route, Some("/api/v1/health" | "/api/v1/health/ready" | "/api/v1/metrics"))
}

/// The request's SERVER span, in the HTTP semantic conventions: named `{method} {route}`,
/// a child of the caller's span when a `traceparent` came in, failed on a 5xx.
fn server_span(
    trace: &TraceContext,
    method: &Method,
    route: Option<&str>,
    path: &str,
    query: Option<&str>,
    status: u16,
    start: std::time::SystemTime,
) -> SpanRecord {
    // Methods outside the HTTP standard's set are `_OTHER`, as the conventions ask.
    let known = matches!(
        method.as_str(),
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH"
    );
    let method_attr = if known { method.as_str() } else { "_OTHER" };
    // An unknown method names its span `HTTP`, as the conventions ask (not `_OTHER`).
    let name_method = if known { method_attr } else { "HTTP" };
    let name = match route {
        Some(route) => format!("{name_method} {route}"),
        None => name_method.to_owned(),
    };
    let mut attributes: Vec<(&'static str, AttrValue)> = vec![
        ("http.request.method", method_attr.into()),
        // The server speaks plain HTTP/1.1; TLS, where used, ends in front of it.
        ("url.scheme", "http".into()),
        ("url.path", path.into()),
        ("http.response.status_code", i64::from(status).into()),
    ];
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        attributes.push(("url.query", query.into()));
    }
    if !known {
        attributes.push(("http.request.method_original", method.as_str().into()));
    }
    if let Some(route) = route {
        attributes.push(("http.route", route.into()));
    }
    let error = (status >= 500).then(|| {
        attributes.push(("error.type", status.to_string().into()));
        format!("HTTP {status}")
    });
    SpanRecord {
        trace_id: trace.trace_id,
        span_id: trace.span_id,
        parent_span_id: trace.parent_span_id,
        // The caller's W3C flags as they came (the random bit included); only sampled
        // requests reach here.
        flags: trace.flags,
        name,
        kind: SpanKind::Server,
        start,
        end: std::time::SystemTime::now(),
        attributes,
        error,
        trace_state: None,
    }
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
