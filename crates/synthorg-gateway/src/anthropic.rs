//! The Anthropic-compatible door: `POST /gateway/anthropic/v1/messages` (its handler and
//! call flow are [`crate::call`]) and `POST /gateway/anthropic/v1/messages/count_tokens`, and what is
//! particular to Anthropic's wire format: `max_tokens` is required, the key may come as
//! `x-api-key`, the `anthropic-version` and `anthropic-beta` headers travel to the provider,
//! and `usage.input_tokens` excludes the cached input, which comes in its own fields.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use synthorg_core::price::Usage;

use crate::Gateway;
use crate::error::GatewayError;
use crate::format::Wire;
use crate::provider::ProviderKind;

/// The API version sent when the client names none.
const DEFAULT_VERSION: &str = "2023-06-01";

/// `anthropic-version` (the client's, else the default) and `anthropic-beta`, when valid.
pub(crate) fn passed_on(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let version = headers.get("anthropic-version").cloned().unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    let mut passed = vec![(HeaderName::from_static("anthropic-version"), version)];
    if let Some(beta) = headers.get("anthropic-beta") {
        passed.push((HeaderName::from_static("anthropic-beta"), beta.clone()));
    }
    passed
}

/// The provider's usage in a Messages `usage` object: `input_tokens` counts the input that
/// was neither read from nor written to the cache, so the input is the sum of the three.
pub(crate) fn usage(usage: &Value) -> Option<Usage> {
    let n = |key: &str| usage.get(key).and_then(Value::as_u64);
    let (read, write) = (n("cache_read_input_tokens").unwrap_or(0), n("cache_creation_input_tokens").unwrap_or(0));
    Some(Usage {
        input: n("input_tokens")?.saturating_add(read).saturating_add(write),
        output: n("output_tokens")?,
        cache_read_input: read,
        cache_write_input: write,
        reasoning_output: 0,
    })
}

/// `POST /gateway/anthropic/v1/messages/count_tokens`: passed to the model's provider as is
/// (counting spends nothing: no hold, no record), or counted by the simulated provider.
pub(crate) async fn count_tokens(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    match count(&gateway, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.response(Wire::Anthropic),
    }
}

async fn count(gateway: &Gateway, headers: &HeaderMap, body: Bytes) -> Result<Response, GatewayError> {
    gateway.authenticate_read(headers).await?;
    let model = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => match map.get("model") {
            Some(Value::String(model)) => model.clone(),
            _ => return Err(GatewayError::invalid("model", "model is required and must be a string")),
        },
        _ => return Err(GatewayError::invalid("body", "the request body must be a JSON object")),
    };
    let Some(resolved) = gateway.settings().routes.resolve(&model) else {
        return Err(GatewayError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("no gateway route serves the model {model:?}; see gateway.routes"),
        ));
    };
    let provider = resolved.provider;
    match provider.kind {
        ProviderKind::Simulated => {
            let tokens = body.len().div_ceil(4);
            Ok(axum::Json(json!({"input_tokens": tokens})).into_response())
        }
        ProviderKind::Anthropic => {
            let Some(upstream) = gateway.upstream(&provider.name) else {
                return Err(GatewayError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    Some("upstream_unreachable"),
                    "no client",
                ));
            };
            let mut request: serde_json::Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
            request.insert("model".into(), Value::String(resolved.model));
            let body = Bytes::from(Value::Object(request).to_string());
            match upstream.post("/messages/count_tokens", body, &passed_on(headers)).await {
                Ok(answer) => {
                    let mut response = (answer.status, answer.body).into_response();
                    if let Some(kind) = answer.headers.get("content-type") {
                        response.headers_mut().insert("content-type", kind.clone());
                    }
                    Ok(response)
                }
                Err(error) => Err(GatewayError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    Some("upstream_unreachable"),
                    format!("provider {}: {error}", provider.name),
                )),
            }
        }
        ProviderKind::Openai => Err(GatewayError::invalid(
            "model",
            format!("the model {model:?} is routed to the provider {:?}, which speaks the openai API", provider.name),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_input_is_part_of_the_input() {
        let u = json!({"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 7});
        assert_eq!(
            usage(&u),
            Some(Usage { input: 1110, output: 7, cache_read_input: 1000, cache_write_input: 100, reasoning_output: 0 })
        );
        assert_eq!(usage(&json!({"output_tokens": 7})), None);
    }
}
