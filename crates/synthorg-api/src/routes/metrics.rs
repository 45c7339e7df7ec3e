//! `GET /api/v1/metrics`: the Prometheus / OpenMetrics scrape endpoint. Never needs a key.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use synthorg_telemetry::metrics::{accepts_gzip, choose_format, gzip};

use crate::AppState;

fn plain(status: StatusCode, line: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{line}\n")).into_response()
}

/// The organization's metrics and the service's own. OpenMetrics 1.0.0 or text 0.0.4 by
/// `Accept`; gzip when asked. 503 before the collector is wired, 500 on an unexpected
/// failure, each with a one-line plain-text body.
#[utoipa::path(get, path = "/api/v1/metrics", operation_id = "getMetrics", tag = "meta", security(()),
    responses((status = 200, description = "exposition", content_type = "text/plain"),
        (status = 500, description = "an unexpected failure", content_type = "text/plain"),
        (status = 503, description = "collector not wired", content_type = "text/plain")))]
pub(super) async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(collector) = state.metrics().cloned() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "metrics collector not ready");
    };
    let format = choose_format(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzipped = accepts_gzip(headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));
    let encoded = tokio::task::spawn_blocking(move || {
        let body = collector.scrape(format);
        if gzipped { gzip(&body).map(|b| (b, true)) } else { Ok((body, false)) }
    })
    .await;
    let (body, compressed) = match encoded {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => {
            tracing::error!(%error, "metrics compression failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics exposition failed");
        }
        Err(error) => {
            tracing::error!(%error, "metrics scrape failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics exposition failed");
        }
    };
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    h.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if compressed {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}
