//! A provider as the gateway runs with it: its wire format, its checked endpoint, and the
//! key and headers it is called with, which no output prints.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use synthorg_telemetry::otlp::endpoint::{CheckedEndpoint, EndpointPolicy};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI's API, or any compatible server (vLLM, Ollama, OpenRouter, Groq, …).
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Answered in process, for the demo, the tour and benchmarks: no model is called.
    Simulated,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Simulated => "simulated",
        }
    }
}

/// A value that must not be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A checked upstream.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// The checked base URL (`None` for `simulated`).
    pub endpoint: Option<CheckedEndpoint>,
    pub policy: EndpointPolicy,
    pub api_key: Option<Secret>,
    /// Extra headers; their values may be credentials too.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    /// The provider's name in the price catalogue.
    pub price_as: String,
}
