//! Liveness, readiness and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::AppState;
use crate::dto::Health;

fn health(status: &str) -> Json<Health> {
    Json(Health { status: status.to_owned(), version: env!("CARGO_PKG_VERSION").to_owned() })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "getHealth", tag = "health", security(()),
    responses((status = 200, body = Health)))]
pub(super) async fn live() -> Json<Health> {
    health("ok")
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/api/v1/health/ready", operation_id = "getReadiness", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.blocking(|s| Ok(s.store().ping()?)).await {
        Ok(()) => (StatusCode::OK, health("ready")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, health("unavailable")),
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApiDocument", tag = "meta", security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi_json().to_owned())
}
