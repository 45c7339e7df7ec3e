//! The authentication middleware: the key in `Authorization: Bearer` checked by the engine
//! ([`synthorg_engine::Engine::authenticate`], where keys are made and compared), the caller
//! put in the request, viewers kept to reading, the per-key rate limit.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use regex::RegexSet;
use synthorg_core::{Actor, Role};

use crate::AppState;
use crate::error::ApiError;

/// The metrics path pattern, always excluded from authentication.
pub const METRICS_EXCLUDE: &str = "^/api/v1/metrics$";

/// The default `auth.exclude_paths`: health, the OpenAPI document and metrics.
pub const DEFAULT_EXCLUDE_PATHS: &[&str] = &["^/api/v1/health(/.*)?$", "^/api/v1/openapi\\.json$", METRICS_EXCLUDE];

/// The exclude list in force: the operator's list (or the default), with the metrics
/// pattern appended unless that exact pattern is already present. Scrapers never hold keys.
pub fn effective_exclude_paths(configured: Option<&[String]>) -> Vec<String> {
    let mut list: Vec<String> = match configured {
        Some(list) => list.to_vec(),
        None => DEFAULT_EXCLUDE_PATHS.iter().map(|s| (*s).to_owned()).collect(),
    };
    if !list.iter().any(|p| p == METRICS_EXCLUDE) {
        list.push(METRICS_EXCLUDE.to_owned());
    }
    list
}

/// Compiled exclude patterns, matched against the request path (no query string).
#[derive(Debug, Clone)]
pub struct ExcludePaths {
    patterns: Vec<String>,
    set: RegexSet,
}

impl ExcludePaths {
    /// Compiles the effective list; the error names the index of the bad pattern.
    pub fn new(configured: Option<&[String]>) -> Result<Self, (usize, regex::Error)> {
        let patterns = effective_exclude_paths(configured);
        for (i, p) in patterns.iter().enumerate() {
            regex::Regex::new(p).map_err(|e| (i, e))?;
        }
        let set = RegexSet::new(&patterns).map_err(|e| (0, e))?;
        Ok(Self { patterns, set })
    }

    pub fn is_excluded(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl Default for ExcludePaths {
    fn default() -> Self {
        // The defaults are constants covered by tests.
        Self::new(None).expect("default exclude paths compile")
    }
}

pub use synthorg_engine::{NewKey, generate_key};

/// Middleware: excluded paths pass; everything else needs a valid key, viewers may only read,
/// and the authenticated [`Actor`] is put in the request extensions.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Keys are for the API: any other path (the console's assets, `/favicon.ico`, a typo)
    // is answered without one — a 404 where nothing is served.
    let path = req.uri().path();
    if !path.starts_with("/api/") || state.settings().exclude_paths.is_excluded(path) {
        return next.run(req).await;
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let Some(presented) = presented else {
        return challenge(ApiError::unauthorized("missing API key: send Authorization: Bearer <key>"));
    };
    let read_only = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A key seen in the last second is checked against what was read then; otherwise the
    // engine reads it (see `synthorg_engine::KEY_FRESH` for what that means for revocation).
    let authenticated = state.engine().authenticate(presented, !read_only).await;
    let actor = match authenticated.map_err(ApiError::from) {
        Ok(actor) => actor,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return challenge(e),
        Err(e) => return e.into_response(),
    };
    // A viewer is refused before the body is read: 403 whatever it sent, never a 422 about a
    // body it could not have had accepted.
    if !read_only && let Err(e) = synthorg_engine::authorize::may_write(&actor) {
        return ApiError::from(e).into_response();
    }
    if let Some(agent) = actor.agent_id() {
        tracing::Span::current().record("agent_id", tracing::field::display(agent));
    }
    if let Some((key_id, role)) = actor.key()
        && let Err(wait) = state.limiter().check(key_id, role, std::time::Instant::now())
    {
        let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        if let Some(metrics) = state.metrics() {
            metrics.http().rate_limited(role, route);
        }
        return rate_limited(state.limiter().limits().of(role), role, wait);
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

/// 429 with `Retry-After` (whole seconds, at least 1) and the limit in the message.
fn rate_limited(limit: crate::ratelimit::RateLimit, role: Role, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "this {role} key sent more than {} requests per second (burst {}); retry in {seconds} s",
            limit.per_second, limit.burst
        ),
    );
    let mut response = error.into_response();
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

fn challenge(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

/// Route layer of the routes that serve admin-only operations: the engine's rule
/// ([`synthorg_engine::authorize::admin`]) applied before the body is read, so a key that may
/// not use the route gets 403 whatever it sent. The operation checks it again.
pub async fn admin_only(req: Request, next: Next) -> Response {
    match req.extensions().get::<Actor>().map(synthorg_engine::authorize::admin) {
        Some(Ok(())) => next.run(req).await,
        Some(Err(refused)) => ApiError::from(refused).into_response(),
        None => challenge(ApiError::unauthorized("missing API key: send Authorization: Bearer <key>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_lists() {
        let default = effective_exclude_paths(None);
        assert_eq!(default, DEFAULT_EXCLUDE_PATHS);
        let custom = effective_exclude_paths(Some(&["^/status$".to_owned()]));
        assert_eq!(custom, ["^/status$", METRICS_EXCLUDE]);
        let with = effective_exclude_paths(Some(&[METRICS_EXCLUDE.to_owned(), "^/x$".to_owned()]));
        assert_eq!(with, [METRICS_EXCLUDE, "^/x$"], "no duplicate");
        let empty = effective_exclude_paths(Some(&[]));
        assert_eq!(empty, [METRICS_EXCLUDE]);
        let paths = ExcludePaths::new(Some(&["^/status$".to_owned()])).unwrap();
        assert!(paths.is_excluded("/api/v1/metrics"));
        assert!(paths.is_excluded("/status"));
        assert!(!paths.is_excluded("/api/v1/health"));
        assert!(!paths.is_excluded("/api/v1/metrics/x"));
        assert_eq!(ExcludePaths::new(Some(&["(".to_owned()])).unwrap_err().0, 0);
    }
}
