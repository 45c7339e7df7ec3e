//! The model gateway (SPEC §17): the model APIs agents already speak, served by synthorg,
//! which holds the provider keys, takes the budget hold before each call and settles it
//! from the provider's own usage after.
//!
//! A door of the engine, like the REST API: it translates the OpenAI wire format to the
//! engine's operations ([`synthorg_engine::Engine::hold_call`],
//! [`synthorg_engine::Engine::settle_call`], [`synthorg_engine::Engine::release`]) and back,
//! and reaches the store only through them. Its routes sit under `/gateway`, beside the
//! API's `/api/v1`, behind the same request logging, tracing and timeout.

mod anthropic;
mod call;
mod checks;
mod config;
mod error;
mod format;
mod mcp;
mod openai;
mod provider;
mod report;
mod route;
mod simulated;
mod stream;
mod upstream;
mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use synthorg_core::Actor;
use synthorg_engine::Engine;
use tokio::sync::Notify;

pub use config::{BudgetShort, GatewayConfig, GatewaySettings, MAX_OUTPUT_TOKENS, ProviderConfig, RouteConfig};
pub use mcp::config::{McpConfig, McpServer, McpServerConfig, McpSettings, Transport};
pub use provider::{Provider, ProviderKind, Secret};
pub use route::{PatternError, Resolved, Route, Routes};
pub use upstream::MAX_ANSWER_BYTES;

use crate::error::GatewayError;

/// The optional header naming the task a call is for (checked like any task reference:
/// the task must exist and be assigned to the calling agent).
pub const TASK_HEADER: &str = "x-synthorg-task-id";

/// Largest request body a call may send (images as data URLs make chat requests large).
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// The gateway: the engine, the checked configuration and one pooled client per upstream.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    settings: GatewaySettings,
    upstreams: HashMap<String, upstream::Upstream>,
    in_flight: InFlight,
    /// The tool gateway's servers and sessions.
    tools: mcp::Tools,
}

/// Work a call leaves running after its answer (a settlement, a stream's relay): counted,
/// so that a stopping server waits for it and no call goes unrecorded.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
#[error("the model gateway cannot start: {0}")]
pub struct StartError(String);

impl Gateway {
    /// A gateway on `engine`; `https` upstreams are verified against the system's trust store.
    pub fn new(engine: Engine, settings: GatewaySettings) -> Result<Self, StartError> {
        let tls =
            synthorg_telemetry::tls::client_config(None, &[b"http/1.1"]).map_err(|e| StartError(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(tls);
        let upstreams = settings
            .providers
            .iter()
            .filter_map(|p| upstream::Upstream::for_provider(p, tls.clone()).map(|u| (p.name.clone(), u)))
            .collect();
        let tools = mcp::Tools::new(settings.mcp.clone(), &tls);
        let gateway =
            Self { inner: Arc::new(Inner { engine, settings, upstreams, in_flight: InFlight::default(), tools }) };
        // Idle sessions are closed (their processes stopped) in the background; the sweep
        // ends with the gateway.
        if !gateway.inner.settings.mcp.servers.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&gateway.inner);
            let idle = gateway.inner.settings.mcp.idle_timeout;
            tokio::spawn(async move {
                let mut every = tokio::time::interval(mcp::IDLE_SWEEP.min(idle / 2).max(Duration::from_millis(100)));
                loop {
                    every.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    inner.tools.close_idle().await;
                }
            });
        }
        Ok(gateway)
    }

    fn tools(&self) -> &mcp::Tools {
        &self.inner.tools
    }

    /// Ends every tool gateway session (stopping their server processes): for shutdown.
    pub async fn close_sessions(&self) {
        self.inner.tools.close_all().await;
    }

    /// Runs `work` (a settlement, a relay) beside the answer, counted in flight.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner.in_flight.count.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            work.await;
            if inner.in_flight.count.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.in_flight.idle.notify_waiters();
            }
        });
    }

    /// Waits until every settlement and relay still running has finished, at most `limit`;
    /// false when some had not. A stopping server calls it after its last connection closed.
    pub async fn drained(&self, limit: Duration) -> bool {
        let in_flight = &self.inner.in_flight;
        let wait = async {
            loop {
                let idle = in_flight.idle.notified();
                if in_flight.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.inner.settings
    }

    fn upstream(&self, provider: &str) -> Option<&upstream::Upstream> {
        self.inner.upstreams.get(provider)
    }

    /// The caller of a model call: the key in `Authorization: Bearer` (OpenAI's SDKs) or
    /// `x-api-key` (Anthropic's), checked by the engine as on the REST API.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, GatewayError> {
        self.authenticate_as(headers, true).await
    }

    /// The caller of a read (the model list): any valid key.
    async fn authenticate_read(&self, headers: &HeaderMap) -> Result<Actor, GatewayError> {
        self.authenticate_as(headers, false).await
    }

    async fn authenticate_as(&self, headers: &HeaderMap, write: bool) -> Result<Actor, GatewayError> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim());
        let presented = bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim));
        let Some(presented) = presented else {
            return Err(GatewayError::unauthenticated(
                "missing API key: use your synthorg agent key as the API key (Authorization: Bearer <key>)",
            ));
        };
        let actor = self.engine().authenticate(presented, write).await?;
        if let Some(agent) = actor.agent_id() {
            tracing::Span::current().record("agent_id", tracing::field::display(agent));
        }
        Ok(actor)
    }
}

/// The gateway's routes, under `/gateway`.
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/gateway/openai/v1/chat/completions", post(call::openai_chat))
        .route("/gateway/openai/v1/responses", post(call::openai_responses))
        .route("/gateway/openai/v1/embeddings", post(call::openai_embeddings))
        .route("/gateway/openai/v1/models", get(openai::models))
        .route("/gateway/anthropic/v1/messages", post(call::anthropic_messages))
        .route("/gateway/anthropic/v1/messages/count_tokens", post(anthropic::count_tokens))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // A message up to twice the largest is read whole, so that its client, still sending
        // when the answer comes, gets the JSON-RPC 413 rather than a closed connection.
        .route(
            "/mcp/{server}",
            post(mcp::door::post)
                .get(mcp::door::get)
                .delete(mcp::door::delete)
                .layer(DefaultBodyLimit::max(2 * mcp::door::MAX_MESSAGE_BYTES)),
        )
        .with_state(gateway)
}
