//! `/console`: the operator console (SPEC §14). Three assets compiled into the binary, a page,
//! its script and its style, served with the headers that keep them to themselves: a strict
//! Content-Security-Policy (this origin's script and style only, nothing inline, no framing),
//! `nosniff`, no referrer. The page signs in with an API key and calls the JSON API like any
//! client (see docs/console.md for the session design and its threat model).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The console's Content-Security-Policy: no inline script or style (so no `unsafe-inline`),
/// requests to this origin only, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, outside the API's key check (the page itself holds nothing; its
/// data comes from the API with the key the operator gives).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/console/sign-in", post(sign_in))
        .route("/", get(|| async { Redirect::temporary("/console") }))
        .route("/console/", get(|| async { Redirect::permanent("/console") }))
        .route("/console", get(|| async { asset(INDEX, "text/html; charset=utf-8") }))
        .route("/console/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/console/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
}

/// A one-time sign-in for the console (`serve --demo`): a random token, shown once to the
/// person at the terminal, that the console exchanges once, within its lifetime, for the admin
/// key made for it. Only the token's hash is kept; the key leaves the process once.
pub struct OneTimeSignIn {
    digest: [u8; 32],
    key: Mutex<Option<String>>,
    expires: Instant,
}

impl std::fmt::Debug for OneTimeSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeSignIn").field("expires", &self.expires).finish_non_exhaustive()
    }
}

impl OneTimeSignIn {
    /// A sign-in to `key` valid for `lifetime`, and its token (64 hex digits).
    pub fn new(key: String, lifetime: Duration) -> Result<(Self, String), ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
        let token = hex::encode(bytes);
        let digest = Sha256::digest(token.as_bytes()).into();
        Ok((Self { digest, key: Mutex::new(Some(key)), expires: Instant::now() + lifetime }, token))
    }

    /// The key, the first time the right token comes within the lifetime; `None` after.
    fn redeem(&self, token: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if Instant::now() > self.expires || !bool::from(digest.ct_eq(&self.digest)) {
            return None;
        }
        self.key.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    token: String,
}

#[derive(Serialize)]
struct SignInAnswer {
    key: String,
}

/// `POST /console/sign-in {"token": …}`: the key of a one-time sign-in, once.
async fn sign_in(State(state): State<AppState>, ApiJson(body): ApiJson<SignInRequest>) -> Response {
    let refused = || {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "this sign-in link was used, has expired or is unknown")
    };
    let Some(once) = &state.settings().console_sign_in else { return refused().into_response() };
    match once.redeem(body.token.trim()) {
        Some(key) => {
            tracing::info!("console: the one-time sign-in link was used");
            let mut response = Json(SignInAnswer { key }).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None => refused().into_response(),
    }
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
