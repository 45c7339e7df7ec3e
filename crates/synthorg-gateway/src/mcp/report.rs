//! What a request through the tool gateway leaves behind: spans in the MCP semantic
//! conventions — `{mcp.method.name} {tool}` as the server the agent talks to (SERVER, under
//! the HTTP request's span) and, under it, as the client of the upstream (CLIENT), whose
//! context is what the upstream receives in `params._meta` — and an `McpRequest` event for
//! the gateway's metrics and log line.

use std::time::{Duration, Instant, SystemTime};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use synthorg_core::event::{Event, ToolOutcome};
use synthorg_core::security::Verdict;
use synthorg_engine::Engine;
use synthorg_telemetry::context::{self, TraceContext};
use synthorg_telemetry::otlp::{AttrValue, SpanKind, SpanRecord};
use uuid::Uuid;

use super::Session;
use super::config::Transport;
use super::link::LinkError;
use super::reply::Reply;

/// One request in flight.
#[derive(Debug)]
pub(crate) struct Report {
    method: String,
    request_id: String,
    started: Instant,
    started_at: SystemTime,
    /// This request's span as the agent's MCP server, when the request is traced.
    span: Option<TraceContext>,
    pub(crate) tool: Option<String>,
    pub(crate) verdict: Option<Verdict>,
    pub(crate) evaluation: Option<Uuid>,
    pub(crate) outcome: ToolOutcome,
    /// Time spent waiting for the upstream server.
    upstream: Option<Duration>,
    /// Time spent waiting for an approval's decision.
    pub(crate) waited: Duration,
}

impl Report {
    pub(crate) fn new(method: &str, request_id: &Value) -> Self {
        let span = context::current().map(|parent| TraceContext {
            span_id: context::new_span_id(),
            parent_span_id: Some(parent.span_id),
            ..parent
        });
        let request_id = match request_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Self {
            method: method.to_owned(),
            request_id,
            started: Instant::now(),
            started_at: SystemTime::now(),
            span,
            tool: None,
            verdict: None,
            evaluation: None,
            outcome: ToolOutcome::Forwarded,
            upstream: None,
            waited: Duration::ZERO,
        }
    }

    /// Sends `method` upstream on `session`, timed and traced as a CLIENT span; a tool call
    /// carries that span's context in `params._meta` (`traceparent`, `tracestate`).
    pub(crate) async fn upstream(
        &mut self,
        engine: &Engine,
        session: &Session,
        method: &str,
        mut params: Value,
    ) -> Result<Box<RawValue>, LinkError> {
        let client =
            self.span.map(|s| TraceContext { span_id: context::new_span_id(), parent_span_id: Some(s.span_id), ..s });
        if let Some(client) = client
            && method == "tools/call"
            && let Some(params) = params.as_object_mut()
        {
            let meta = params.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("traceparent".into(), json!(client.traceparent()));
                if let Some(state) = context::current_state() {
                    meta.insert("tracestate".into(), json!(state.as_str()));
                }
            }
        }
        let (started, started_at) = (Instant::now(), SystemTime::now());
        let result = session.link.call(method, params).await;
        *self.upstream.get_or_insert(Duration::ZERO) += started.elapsed();
        if let (Some(client), Some(tracer)) = (client.filter(sampled), &engine.settings().tracer) {
            let error = match &result {
                Err(e) => Some(link_error_type(e)),
                Ok(r) if method == "tools/call" && is_error(r) => Some("tool_error".to_owned()),
                Ok(_) => None,
            };
            // The upstream request's own method: a call may list the server's tools first.
            let tool = self.tool.as_deref().filter(|_| method == "tools/call");
            let mut attributes = attributes(method, tool, session);
            match &session.server.transport {
                Transport::Http { endpoint, .. } => {
                    attributes.push(("network.transport", "tcp".into()));
                    attributes.push(("server.address", endpoint.host().into()));
                    attributes.push(("server.port", AttrValue::Int(i64::from(endpoint.port()))));
                }
                Transport::Stdio { .. } => attributes.push(("network.transport", "pipe".into())),
                Transport::Simulated => {}
            }
            if let Some(error) = &error {
                attributes.push(("error.type", error.as_str().into()));
            }
            tracer.record(SpanRecord {
                trace_id: client.trace_id,
                span_id: client.span_id,
                parent_span_id: client.parent_span_id,
                flags: client.flags,
                name: span_name(method, tool),
                kind: SpanKind::Client,
                start: started_at,
                end: SystemTime::now(),
                attributes,
                error,
                trace_state: context::current_state(),
            });
        }
        result
    }

    /// The request ended with `answer` (a JSON-RPC response): its SERVER span and its event.
    pub(crate) fn finish(self, engine: &Engine, session: &Session, answer: &Reply) {
        let seconds = self.started.elapsed();
        let error_code = answer.error_code();
        let tool_error = answer.tool_error();
        let error_type = match (error_code, tool_error) {
            (Some(code), _) => Some(code.to_string()),
            (None, true) => Some("tool_error".to_owned()),
            (None, false) => None,
        };
        if let (Some(span), Some(tracer)) = (self.span.filter(sampled), &engine.settings().tracer) {
            let mut attributes = attributes(&self.method, self.tool.as_deref(), session);
            attributes.push(("jsonrpc.request.id", self.request_id.as_str().into()));
            attributes.push(("mcp.session.id", hashed(&session.id).into()));
            attributes.push(("network.transport", "tcp".into()));
            if let Some(code) = error_code {
                attributes.push(("rpc.response.status_code", code.to_string().into()));
            }
            if let Some(error) = &error_type {
                attributes.push(("error.type", error.as_str().into()));
            }
            if let Some(verdict) = self.verdict {
                attributes.push(("synthorg.security.verdict", verdict.as_str().into()));
            }
            if let Some(id) = self.evaluation {
                attributes.push(("synthorg.security.evaluation_id", id.to_string().into()));
            }
            attributes.push(("synthorg.mcp.outcome", self.outcome.as_str().into()));
            let message = answer.error_message().map(str::to_owned);
            tracer.record(SpanRecord {
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
                flags: span.flags,
                name: span_name(&self.method, self.tool.as_deref()),
                kind: SpanKind::Server,
                start: self.started_at,
                end: SystemTime::now(),
                attributes,
                error: message.or_else(|| tool_error.then(|| "the tool call was not run".to_owned())),
                trace_state: context::current_state(),
            });
        }
        let upstream = self.upstream.unwrap_or_default();
        engine.record(vec![Event::McpRequest {
            agent_id: session.actor.agent_id().unwrap_or_default(),
            server: session.server.name.clone(),
            method: self.method,
            tool: self.tool,
            verdict: self.verdict,
            outcome: self.outcome,
            error_type,
            seconds: seconds.as_secs_f64(),
            upstream_seconds: self.upstream.map(|d| d.as_secs_f64()),
            overhead_seconds: seconds.saturating_sub(upstream).saturating_sub(self.waited).as_secs_f64(),
        }]);
    }
}

/// A span's name in the conventions: `{mcp.method.name} {target}`.
fn span_name(method: &str, tool: Option<&str>) -> String {
    match tool {
        Some(tool) => format!("{method} {tool}"),
        None => method.to_owned(),
    }
}

/// The attributes both sides of a request share.
fn attributes(method: &str, tool: Option<&str>, session: &Session) -> Vec<(&'static str, AttrValue)> {
    let mut attributes: Vec<(&'static str, AttrValue)> = vec![
        ("mcp.method.name", method.into()),
        ("mcp.protocol.version", session.version.as_str().into()),
        ("synthorg.mcp.server", session.server.name.as_str().into()),
    ];
    if let Some(tool) = tool {
        attributes.push(("gen_ai.tool.name", tool.into()));
        attributes.push(("gen_ai.operation.name", "execute_tool".into()));
    }
    attributes
}

/// Whether a tool result is marked `isError` (read without parsing the rest).
pub(crate) fn is_error(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Marked {
        #[serde(rename = "isError", default)]
        is_error: Option<bool>,
    }
    serde_json::from_str::<Marked>(result.get()).is_ok_and(|m| m.is_error == Some(true))
}

fn sampled(context: &TraceContext) -> bool {
    context.flags & 0x01 == 0x01
}

/// The conventions' `error.type` of a failed upstream request.
fn link_error_type(e: &LinkError) -> String {
    match e {
        LinkError::Timeout(_) => "timeout".into(),
        LinkError::Unreachable(_) => "unreachable".into(),
        LinkError::Protocol(_) => "protocol_error".into(),
        LinkError::Ended => "process_ended".into(),
        LinkError::Rpc(error) => {
            error.get("code").and_then(Value::as_i64).map_or("jsonrpc_error".into(), |c| c.to_string())
        }
    }
}

/// A session id as spans carry it: hashed (SHA-256, the first 16 bytes in hex), so a trace
/// store never holds a value that would let its reader join another's session.
pub(crate) fn hashed(session: &str) -> String {
    Sha256::digest(session.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}
