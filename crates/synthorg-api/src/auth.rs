//! API keys and the authentication middleware.
//!
//! A key reads `sk_<id>_<secret>`: `id` (16 hex digits) is public and finds the stored
//! record; `secret` (64 hex digits, 256 random bits) is never stored: only its SHA-256, which
//! is compared in constant time. A fast hash is the right tool here: the secret has full
//! entropy, so there is nothing for a slow password hash to protect.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use regex::RegexSet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use synthorg_core::{Actor, Role};
use synthorg_store::{ApiKeyRecord, Store, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

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

/// A freshly generated key: the full secret, shown once, and the record to store.
pub struct NewKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("key", &synthorg_core::security::REDACTED).field("record", &self.record).finish()
    }
}

/// Generates a key. Agent keys must name their agent; other roles must not.
pub fn generate_key(
    role: Role,
    agent_id: Option<Uuid>,
    label: String,
    now: OffsetDateTime,
) -> Result<NewKey, ApiError> {
    match (role, agent_id) {
        (Role::Agent, None) => {
            return Err(ApiError::invalid("agent_id", "required for role agent"));
        }
        (Role::Admin | Role::Viewer, Some(_)) => {
            return Err(ApiError::invalid(
                "agent_id",
                format!("only agent keys are bound to an agent, not {role} keys"),
            ));
        }
        _ => {}
    }
    if label.chars().count() > 128 {
        return Err(ApiError::invalid("label", "must be at most 128 characters"));
    }
    synthorg_core::security::names::check_visible(&label).map_err(|message| ApiError::invalid("label", message))?;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(ApiError::internal)?;
    getrandom::fill(&mut secret).map_err(ApiError::internal)?;
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    let key = format!("sk_{id}_{secret}");
    let record =
        ApiKeyRecord { id, secret_hash: hash(&secret), role, agent_id, label, created_at: now, revoked_at: None };
    Ok(NewKey { key, record })
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Splits `sk_<id>_<secret>`; `None` for anything else.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("sk_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Checks a presented key against the store. Every failure looks the same to the caller.
/// For a request that may change something (`write`), an agent key must belong to an agent
/// that may still write: a terminated agent's keys get 403.
pub fn authenticate(store: &dyn Store, presented: &str, write: bool) -> Result<Actor, ApiError> {
    let rejected = || ApiError::unauthorized("invalid or revoked API key");
    let (id, secret) = parse_key(presented).ok_or_else(rejected)?;
    let record = store.find_api_key(id).map_err(ApiError::from)?;
    // Hash and compare even when the id is unknown, so timing does not reveal which ids exist.
    let presented_hash = hash(secret);
    let stored = record.as_ref().map(|r| r.secret_hash).unwrap_or([0; 32]);
    let matches: bool = presented_hash.ct_eq(&stored).into();
    let record = record.filter(|r| matches && r.revoked_at.is_none()).ok_or_else(rejected)?;
    Ok(match (record.role, record.agent_id) {
        (Role::Admin, _) => Actor::Admin { key_id: record.id },
        (Role::Agent, Some(agent_id)) => {
            if write && !store.get_agent(agent_id).map_err(ApiError::from)?.status.may_write() {
                return Err(ApiError::forbidden(format!("agent {agent_id} is terminated: its keys may only read")));
            }
            Actor::Agent { key_id: record.id, agent_id }
        }
        (Role::Agent, None) => {
            return Err(StoreError::Internal(format!("agent key {} has no agent", record.id)).into());
        }
        (Role::Viewer, _) => Actor::Viewer { key_id: record.id },
    })
}

/// The routes only admin keys may use (the handlers check it too).
const ADMIN_ONLY: &[(&str, &str)] = &[
    ("POST", "/api/v1/agents"),
    ("PUT", "/api/v1/budget/config"),
    ("POST", "/api/v1/approvals/{id}/decision"),
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/{id}"),
];

/// Middleware: excluded paths pass; everything else needs a valid key, viewers may only read,
/// and the authenticated [`Actor`] is put in the request extensions.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if state.settings().exclude_paths.is_excluded(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|v| v.trim().to_owned());
    let Some(presented) = presented else {
        return challenge(ApiError::unauthorized("missing API key: send Authorization: Bearer <key>"));
    };
    let store: Arc<dyn Store> = state.store().clone();
    let read_only = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // An in-process store answers a key lookup in microseconds: on the async worker that
    // costs less than the two thread wake-ups of a hop to the blocking pool.
    let authenticated = match store.reads_in_process() {
        true => authenticate(store.as_ref(), &presented, !read_only),
        false => tokio::task::spawn_blocking(move || authenticate(store.as_ref(), &presented, !read_only))
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e))),
    };
    let actor = match authenticated {
        Ok(actor) => actor,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return challenge(e),
        Err(e) => return e.into_response(),
    };
    if matches!(actor, Actor::Viewer { .. }) && !read_only {
        return ApiError::forbidden("a viewer key may only read").into_response();
    }
    // The role is checked before the body is read: a key that may not use the route gets
    // 403 whatever it sent, never a 422 about a body it could not have had accepted.
    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    if !actor.is_admin() && route.is_some_and(|r| ADMIN_ONLY.contains(&(req.method().as_str(), r))) {
        return ApiError::forbidden("this needs an admin key").into_response();
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

/// Requires an admin key.
pub fn require_admin(actor: &Actor) -> Result<(), ApiError> {
    if actor.is_admin() { Ok(()) } else { Err(ApiError::forbidden("this needs an admin key")) }
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

    #[test]
    fn keys_parse_and_never_print() {
        let k = generate_key(Role::Admin, None, "ops".into(), OffsetDateTime::UNIX_EPOCH).unwrap();
        let (id, secret) = parse_key(&k.key).unwrap();
        assert_eq!(id, k.record.id);
        assert_eq!(hash(secret), k.record.secret_hash);
        assert!(!format!("{k:?}").contains(secret));
        for bad in ["", "sk_", "sk_abc_def", &k.key[..k.key.len() - 1], &k.key.replace("sk_", "pk_")] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
        assert!(generate_key(Role::Agent, None, String::new(), OffsetDateTime::UNIX_EPOCH).is_err());
        assert!(generate_key(Role::Viewer, Some(Uuid::nil()), String::new(), OffsetDateTime::UNIX_EPOCH).is_err());
    }
}
