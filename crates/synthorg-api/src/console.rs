//! `/console`: the operator console (SPEC §14). Three assets compiled into the binary, a page,
//! its script and its style, served with the headers that keep them to themselves: a strict
//! Content-Security-Policy (this origin's script and style only, nothing inline, no framing),
//! `nosniff`, no referrer. The page signs in with an API key and calls the JSON API like any
//! client (see docs/console.md for the session design and its threat model).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The console's Content-Security-Policy: no inline script or style (so no `unsafe-inline`),
/// requests to this origin only, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, outside the API's key check (the page itself holds nothing; its
/// data comes from the API with the key the operator gives).
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/console") }))
        .route("/console/", get(|| async { Redirect::permanent("/console") }))
        .route("/console", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/console/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/console/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Revalidated on every load, so a new binary's console is never mixed with an old one.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    response
}
