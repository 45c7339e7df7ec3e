//! Extractors whose rejections are [`ApiError`]s naming the offending field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use synthorg_store::{MAX_PAGE, PageRequest};
use uuid::Uuid;

use crate::error::ApiError;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON object body. It needs `Content-Type: application/json` (or `+json`), else 415.
/// Malformed JSON is a 400; a well-formed body of the wrong shape (an array, an unknown
/// field, a wrong type, a missing field) is a 422 naming the field's path.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = req.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or(""));
        let essence = ct.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                match ct {
                    None => "a JSON body needs Content-Type: application/json",
                    Some(_) => "Content-Type must be application/json",
                },
            ));
        }
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {BODY_LIMIT} bytes"),
            )
        };
        // A declared length over the limit is refused at once, before a byte is read: waiting
        // for a body that large (or for one that never comes) would hold the connection.
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            other => ApiError::bad_request(format!("cannot read request body: {other}")),
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON object into `T`, classifying errors as in [`ApiJson`]. A top-level array
/// is refused: serde would otherwise read it into a struct field by field, by position.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid("body", "must be a JSON object, not an array"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::invalid(&field, strip_position(&inner.to_string())),
            // serde_json reports a wrong JSON type for an enum (a number where a status
            // belongs) as a syntax error; the body is well-formed JSON, so it is the field's
            // fault, and the answer names the field.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                ApiError::invalid(&field, "has the wrong JSON type (see the OpenAPI document)")
            }
            _ => ApiError::bad_request(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line L column C" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string. Unknown parameters and bad values are 422s naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "query".to_owned() } else { path };
            ApiError::invalid(&field, e.into_inner())
        })
    }
}

/// A UUID path parameter; anything else is a 400 naming the parameter.
#[derive(Debug)]
pub struct ApiId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ApiId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Uuid::parse_str(&raw)
            .map(ApiId)
            .map_err(|_| ApiError::bad_request(format!("path parameter id: {:?} is not a UUID", truncate(&raw, 64))))
    }
}

/// Pagination parameters shared by every list: `limit` (1–1000, default 100) and the
/// opaque `cursor` returned as `next_cursor` by the previous page.
pub fn page_request(
    limit: Option<u64>,
    cursor: Option<&str>,
    order: Option<crate::dto::Order>,
) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => synthorg_store::DEFAULT_PAGE,
        Some(n) if (1..=u64::from(MAX_PAGE)).contains(&n) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_PAGE}, got {n}")));
        }
    };
    let after = match cursor {
        None => None,
        Some(c) => Some(
            // Exactly the document's pattern, `^[0-9]{1,18}$`: no sign, no spaces.
            Some(c)
                .filter(|c| (1..=18).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<i64>().ok())
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor returned by this API"))?,
        ),
    };
    Ok(PageRequest { limit, after, newest_first: order == Some(crate::dto::Order::Desc) })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The audit trail of a request's changes: who makes them (the caller's key) and the
/// request's correlation ids, which every audit event the request writes carries.
#[derive(Debug)]
pub struct Audited(pub synthorg_core::audit::AuditContext);

impl<S: Send + Sync> FromRequestParts<S> for Audited {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let actor = parts
            .extensions
            .get::<synthorg_core::Actor>()
            .cloned()
            .ok_or_else(|| ApiError::internal("an audited route was reached without a caller"))?;
        let correlation = parts.extensions.get::<crate::middleware::Correlation>();
        let context = synthorg_core::audit::AuditContext::new(
            &actor,
            correlation.map(|c| c.request_id.clone()),
            correlation.map(|c| c.trace.trace_id_hex()),
        );
        Ok(Audited(context))
    }
}
