//! Cross-cutting middleware: request timeout, access log, JSON fallbacks.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Answers 503 `timeout` when a request runs past `request_timeout`, and logs every request
/// once with its route template (never the raw path, which may carry ids), status and latency.
pub async fn timeout_and_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let limit = state.settings().request_timeout;
    let response = match tokio::time::timeout(limit, next.run(req)).await {
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
        metrics.pushed().http_request(
            method.as_str(),
            route.as_deref().unwrap_or("unmatched"),
            status,
            started.elapsed().as_secs_f64(),
        );
    }
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let route = route.as_deref().unwrap_or("unmatched");
    if status >= 500 {
        tracing::warn!(target: "synthorg::access", %method, route, status, elapsed_us, "request");
    } else {
        tracing::info!(target: "synthorg::access", %method, route, status, elapsed_us, "request");
    }
    response
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
