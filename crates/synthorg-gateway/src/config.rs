//! The `gateway` section: providers, model routes and what happens when a budget is short,
//! checked into [`GatewaySettings`] with every problem named by its path.
//!
//! Provider keys are never written in the file: a provider names the environment variable
//! that holds its key (`api_key_env`), read once at start into a [`Secret`], whose `Debug`
//! prints nothing of it. `config show` therefore shows the variable's name, never its value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use synthorg_core::FieldError;
use synthorg_core::rate::CallRates;
use synthorg_engine::OnBudgetShort;
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, Resolver, tls_problem};

use crate::checks::{check_name, checked_headers, duration_or, private_policy, read_secret, timeout_of};
use crate::mcp::config::{McpConfig, McpSettings};
use crate::provider::{Provider, ProviderKind};
use crate::route::{Route, Routes};

/// The `gateway` section as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Upstreams by name: `openai`, `anthropic` or `simulated`.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Which provider serves which model: the first route that matches wins.
    pub routes: Vec<RouteConfig>,
    /// The output cap held and forwarded when the client gives none.
    pub default_max_output_tokens: u64,
    /// Longest an upstream call may take (e.g. `120s`); a provider may set its own.
    pub timeout: String,
    /// When the budget cannot cover a call's output cap: `refuse` (402) or `clamp` (lower the
    /// cap to what remains).
    pub on_budget_short: BudgetShort,
    /// With `clamp`: the fewest output tokens worth a call; below it the call is refused.
    pub min_output_tokens: u64,
    /// Model calls each agent may make per minute (0: unlimited), counted by every replica
    /// together; past it a call is a 429 with `Retry-After`.
    pub per_agent_requests_per_minute: u64,
    /// Tokens each agent may use per minute (0: unlimited): what its calls of the last minute
    /// used, plus what its open calls hold.
    pub per_agent_tokens_per_minute: u64,
    /// The tool gateway: the MCP servers agents reach through `/mcp/<name>`.
    pub mcp: McpConfig,
}

/// `gateway.on_budget_short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetShort {
    #[default]
    Refuse,
    Clamp,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            providers: BTreeMap::new(),
            routes: Vec::new(),
            default_max_output_tokens: 4096,
            timeout: "120s".into(),
            on_budget_short: BudgetShort::Refuse,
            min_output_tokens: 16,
            per_agent_requests_per_minute: 0,
            per_agent_tokens_per_minute: 0,
            mcp: McpConfig::default(),
        }
    }
}

/// One upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// The API's base URL, e.g. `https://api.openai.com/v1` (requests go to
    /// `{base_url}/chat/completions`). Not for `simulated`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the provider's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Longest a call may take; the section's `timeout` when absent.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Extra request headers, each value read from the named environment variable.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// The provider's name in the price catalogue (default: the kind, e.g. `openai`).
    #[serde(default)]
    pub price_as: Option<String>,
    /// Private ranges this provider may reach (an in-cluster vLLM, say); loopback is always
    /// allowed, the cloud metadata address never.
    #[serde(default)]
    pub allowed_private_cidrs: Vec<String>,
}

/// One model route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// An exact model name, or a prefix ending in `*` (`gpt-4.1*`).
    pub model: String,
    /// The provider (a key of `providers`).
    pub provider: String,
}

/// The gateway as checked: what [`crate::Gateway`] runs with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub providers: Vec<Arc<Provider>>,
    pub routes: Routes,
    pub default_max_output_tokens: u64,
    pub on_short: OnBudgetShort,
    /// Each agent's requests and tokens per minute.
    pub rates: CallRates,
    /// The tool gateway's servers and limits.
    pub mcp: McpSettings,
}

impl GatewaySettings {
    /// The demo's gateway: the `simulated` provider (priced as `openai`) serving `gpt-*`.
    pub fn simulated(default_max_output_tokens: u64) -> Self {
        let provider = Arc::new(Provider {
            name: "simulated".into(),
            kind: ProviderKind::Simulated,
            endpoint: None,
            policy: EndpointPolicy::default(),
            api_key: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            price_as: "openai".into(),
        });
        let routes = ["gpt-*", "text-embedding-*"]
            .into_iter()
            .filter_map(|pattern| Route::new(pattern, Arc::clone(&provider)).ok())
            .collect();
        Self {
            routes: Routes::new(routes, vec![Arc::clone(&provider)]),
            providers: vec![provider],
            default_max_output_tokens,
            on_short: OnBudgetShort::Refuse,
            rates: CallRates::default(),
            mcp: McpSettings::default(),
        }
    }
}

/// Most output tokens one call may hold.
pub const MAX_OUTPUT_TOKENS: u64 = 1_000_000;

impl GatewayConfig {
    /// Checks the section; `env` reads environment variables (provider keys and headers);
    /// `warnings` gets what does not stop the program (a key sent over plain http).
    pub fn check(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        resolver: &dyn Resolver,
        errors: &mut Vec<FieldError>,
        warnings: &mut Vec<String>,
    ) -> GatewaySettings {
        let default_timeout = duration_or("gateway.timeout", &self.timeout, Duration::from_secs(120), errors);
        if !(1..=MAX_OUTPUT_TOKENS).contains(&self.default_max_output_tokens) {
            errors.push(FieldError::new(
                "gateway.default_max_output_tokens",
                format!("must be between 1 and {MAX_OUTPUT_TOKENS}"),
            ));
        }
        let mut providers = Vec::new();
        for (name, p) in &self.providers {
            let path = |field: &str| format!("gateway.providers.{name}.{field}");
            check_name("gateway.providers", "provider", name, errors);
            let timeout = timeout_of(&path("timeout"), p.timeout.as_deref(), default_timeout, errors);
            let policy = private_policy(&p.allowed_private_cidrs, &path("allowed_private_cidrs"), errors);
            let endpoint = match (p.kind, &p.base_url) {
                (ProviderKind::Simulated, None) => None,
                (ProviderKind::Simulated, Some(_)) => {
                    errors.push(FieldError::new(path("base_url"), "a simulated provider calls no upstream"));
                    None
                }
                (_, None) => {
                    errors.push(FieldError::new(path("base_url"), "required for an openai or anthropic provider"));
                    None
                }
                (_, Some(url)) => match policy.check_logs_url(url.trim_end_matches('/'), resolver) {
                    Ok(endpoint) => Some(endpoint),
                    Err(e) => {
                        errors.push(FieldError::new(path("base_url"), e.to_string()));
                        None
                    }
                },
            };
            let read = |field: String, var: &str, errors: &mut Vec<FieldError>| read_secret(env, field, var, errors);
            let api_key = match (&p.api_key_env, p.kind) {
                (Some(_), ProviderKind::Simulated) => {
                    errors.push(FieldError::new(path("api_key_env"), "a simulated provider takes no key"));
                    None
                }
                (Some(var), _) => read(path("api_key_env"), var, errors),
                (None, _) => None,
            };
            let headers = checked_headers(
                &p.headers_env,
                &path("headers_env"),
                &["authorization", "x-api-key", "host"],
                "the gateway sets this header itself (the key from api_key_env)",
                env,
                errors,
            );
            if let Some(endpoint) = &endpoint
                && let Some(problem) = tls_problem(endpoint, api_key.is_some() || !headers.is_empty())
            {
                warnings.push(format!("gateway.providers.{name}: {problem}"));
            }
            providers.push(Arc::new(Provider {
                name: name.clone(),
                kind: p.kind,
                endpoint,
                policy,
                api_key,
                headers,
                timeout,
                price_as: p.price_as.clone().unwrap_or_else(|| p.kind.as_str().to_owned()),
            }));
        }
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let path = format!("gateway.routes[{i}]");
            match providers.iter().find(|p| p.name == r.provider) {
                None => errors.push(FieldError::new(
                    format!("{path}.provider"),
                    format!("no provider named {:?} in gateway.providers", r.provider),
                )),
                Some(provider) => match Route::new(&r.model, Arc::clone(provider)) {
                    Ok(route) => routes.push(route),
                    Err(problem) => errors.push(FieldError::new(format!("{path}.model"), problem.to_string())),
                },
            }
        }
        if !(1..=MAX_OUTPUT_TOKENS).contains(&self.min_output_tokens) {
            errors.push(FieldError::new(
                "gateway.min_output_tokens",
                format!("must be between 1 and {MAX_OUTPUT_TOKENS}"),
            ));
        }
        let on_short = match self.on_budget_short {
            BudgetShort::Refuse => OnBudgetShort::Refuse,
            BudgetShort::Clamp => OnBudgetShort::Clamp { min_output_tokens: self.min_output_tokens },
        };
        GatewaySettings {
            routes: Routes::new(routes, providers.clone()),
            providers,
            default_max_output_tokens: self.default_max_output_tokens,
            on_short,
            rates: CallRates {
                requests_per_minute: self.per_agent_requests_per_minute,
                tokens_per_minute: self.per_agent_tokens_per_minute,
            },
            mcp: self.mcp.check(env, resolver, errors, warnings),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::parse_duration;
    use crate::provider::Secret;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "s", "10", "0s", "1h", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("sk-live-123".into());
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        let provider = Provider {
            name: "openai".into(),
            kind: ProviderKind::Openai,
            endpoint: None,
            policy: EndpointPolicy::default(),
            api_key: Some(secret.clone()),
            headers: vec![("x-org".into(), secret)],
            timeout: Duration::from_secs(1),
            price_as: "openai".into(),
        };
        assert!(!format!("{provider:?}").contains("sk-live"));
    }
}
