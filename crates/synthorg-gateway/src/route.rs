//! Model routes: which provider serves the model a client names.
//!
//! A client names a model the way its SDK does (`gpt-4.1-mini`); routes match it exactly or by
//! prefix (`gpt-4.1*`), the first in the configuration's order winning. A client may also
//! name a provider itself, `provider/model` (`openai/gpt-4.1-mini`): the model is then
//! forwarded without the provider's name.

use std::sync::Arc;

use crate::provider::Provider;

/// One route: a model name or prefix, and its provider.
#[derive(Debug, Clone)]
pub struct Route {
    pattern: Pattern,
    provider: Arc<Provider>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

/// Longest model name a route or a request may carry.
pub(crate) const MAX_MODEL_LEN: usize = 256;

/// Why a route's model pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a model is 1 to {MAX_MODEL_LEN} bytes")]
    Length,
    #[error("a model name has no spaces or control characters (found U+{0:04X})")]
    Character(u32),
    #[error("only a trailing '*' is a wildcard")]
    Wildcard,
}

impl Route {
    /// A route for `model` (exact, or a prefix ending in `*`); the problem otherwise.
    pub fn new(model: &str, provider: Arc<Provider>) -> Result<Self, PatternError> {
        if model.is_empty() || model.len() > MAX_MODEL_LEN {
            return Err(PatternError::Length);
        }
        if let Some(bad) = model.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(PatternError::Character(bad as u32));
        }
        let pattern = match model.strip_suffix('*') {
            Some(prefix) if prefix.contains('*') => return Err(PatternError::Wildcard),
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None if model.contains('*') => return Err(PatternError::Wildcard),
            None => Pattern::Exact(model.to_owned()),
        };
        Ok(Self { pattern, provider })
    }

    fn matches(&self, model: &str) -> bool {
        match &self.pattern {
            Pattern::Exact(name) => name == model,
            Pattern::Prefix(prefix) => model.starts_with(prefix.as_str()),
        }
    }

    /// The exact model name, for `GET /v1/models`.
    pub fn exact(&self) -> Option<&str> {
        match &self.pattern {
            Pattern::Exact(name) => Some(name),
            Pattern::Prefix(_) => None,
        }
    }

    pub fn provider(&self) -> &Arc<Provider> {
        &self.provider
    }
}

/// Every route, in order, and the providers a client may name directly.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
    providers: Vec<Arc<Provider>>,
}

/// Where a call goes: the provider, and the model name to forward.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub provider: Arc<Provider>,
    pub model: String,
}

impl Routes {
    pub fn new(routes: Vec<Route>, providers: Vec<Arc<Provider>>) -> Self {
        Self { routes, providers }
    }

    /// The provider of `model`: the first route that matches, else `provider/model` naming a
    /// configured provider.
    pub fn resolve(&self, model: &str) -> Option<Resolved> {
        if let Some(route) = self.routes.iter().find(|r| r.matches(model)) {
            return Some(Resolved { provider: Arc::clone(&route.provider), model: model.to_owned() });
        }
        let (name, rest) = model.split_once('/')?;
        let provider = self.providers.iter().find(|p| p.name == name)?;
        (!rest.is_empty()).then(|| Resolved { provider: Arc::clone(provider), model: rest.to_owned() })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use synthorg_telemetry::otlp::endpoint::EndpointPolicy;

    use super::*;
    use crate::provider::ProviderKind;

    fn provider(name: &str) -> Arc<Provider> {
        Arc::new(Provider {
            name: name.into(),
            kind: ProviderKind::Simulated,
            endpoint: None,
            policy: EndpointPolicy::default(),
            api_key: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(1),
            price_as: name.into(),
        })
    }

    #[test]
    fn first_match_wins_then_provider_slash_model() {
        let (a, b) = (provider("a"), provider("b"));
        let routes = Routes::new(
            vec![
                Route::new("gpt-4.1-mini", Arc::clone(&b)).unwrap(),
                Route::new("gpt-4.1*", Arc::clone(&a)).unwrap(),
                Route::new("gpt*", Arc::clone(&b)).unwrap(),
            ],
            vec![Arc::clone(&a), Arc::clone(&b)],
        );
        let at = |model: &str| routes.resolve(model).map(|r| (r.provider.name.clone(), r.model));
        assert_eq!(at("gpt-4.1-mini"), Some(("b".into(), "gpt-4.1-mini".into())));
        assert_eq!(at("gpt-4.1"), Some(("a".into(), "gpt-4.1".into())));
        assert_eq!(at("gpt-5"), Some(("b".into(), "gpt-5".into())));
        assert_eq!(at("a/claude-haiku-4-5"), Some(("a".into(), "claude-haiku-4-5".into())));
        assert_eq!(at("c/claude"), None, "no provider c");
        assert_eq!(at("a/"), None);
        assert_eq!(at("claude"), None);
    }

    #[test]
    fn patterns_are_checked() {
        for bad in ["", "gpt *", "g*pt", "*gpt*", "gpt\n"] {
            assert!(Route::new(bad, provider("a")).is_err(), "{bad:?}");
        }
        assert!(Route::new(&"m".repeat(MAX_MODEL_LEN + 1), provider("a")).is_err());
    }
}
