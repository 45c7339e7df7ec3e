//! `gateway.mcp`: the MCP servers the tool gateway fronts, checked into [`McpSettings`] with
//! every problem named by its path.
//!
//! As for model providers, credentials are never written in the file: an HTTP server's
//! headers and a stdio server's secret environment name the variables that hold them
//! (`headers_env`, `env_from`), read once at start into [`Secret`]s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use synthorg_core::FieldError;
use synthorg_core::security::SecurityAction;
use synthorg_telemetry::otlp::endpoint::{CheckedEndpoint, EndpointPolicy, Resolver, tls_problem};

use crate::checks::{check_name, checked_headers, duration_or, private_policy, read_secret, timeout_of};
use crate::provider::Secret;

/// `gateway.mcp` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Upstream MCP servers by name; agents reach each at `/mcp/<name>`.
    pub servers: BTreeMap<String, McpServerConfig>,
    /// How long an escalated tool call waits for its approval's decision (e.g. `60s`).
    pub approval_wait: String,
    /// Longest one upstream request may take; a server may set its own.
    pub timeout: String,
    /// A session unused this long is closed (its stdio process stopped).
    pub idle_timeout: String,
    /// Most stdio server processes running at once (one per session); past it a new session
    /// is refused with a 503 until one ends.
    pub max_processes: usize,
    /// Most sessions open at once, over every server.
    pub max_sessions: usize,
    /// Most sessions one key may hold open at once, over every server (so that one agent
    /// cannot take every session or process from the others).
    pub max_sessions_per_key: usize,
    /// Whether secrets and personal data found in tool results are replaced by
    /// `[REDACTED]` before the agent sees them (they are counted either way).
    pub redact_results: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            servers: BTreeMap::new(),
            approval_wait: "60s".into(),
            timeout: "60s".into(),
            idle_timeout: "10m".into(),
            max_processes: 32,
            max_sessions: 1024,
            max_sessions_per_key: 16,
            redact_results: true,
        }
    }
}

/// One upstream MCP server: `url` (Streamable HTTP) or `command` (stdio), not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpServerConfig {
    /// The server's Streamable HTTP endpoint, e.g. `https://tools.internal/mcp`.
    pub url: Option<String>,
    /// Extra request headers (an HTTP server's credentials), each value read from the named
    /// environment variable.
    pub headers_env: BTreeMap<String, String>,
    /// Private ranges an HTTP server may be reached in; loopback is always allowed, the
    /// cloud metadata address never.
    pub allowed_private_cidrs: Vec<String>,
    /// The program a stdio server runs as (one process per session).
    pub command: Option<String>,
    pub args: Vec<String>,
    /// The process's environment, as written (nothing else is inherited but `PATH`).
    pub env: BTreeMap<String, String>,
    /// More of the process's environment, each value read from the named variable of
    /// synthorg's own (for the server's credentials).
    pub env_from: BTreeMap<String, String>,
    /// Action types by tool name, overriding what the tool's annotations suggest.
    pub action_types: BTreeMap<String, String>,
    /// Longest one request to this server may take; the section's `timeout` when absent.
    pub timeout: Option<String>,
}

/// How the gateway reaches a server.
#[derive(Debug, Clone)]
pub enum Transport {
    Http {
        endpoint: CheckedEndpoint,
        policy: EndpointPolicy,
        /// Extra headers; their values may be credentials.
        headers: Vec<(String, Secret)>,
    },
    Stdio {
        command: String,
        args: Vec<String>,
        /// The whole environment of the process, literal and secret values alike.
        env: Vec<(String, Secret)>,
    },
    /// Answered in process (the demo's `/mcp/demo`): its tools run nothing.
    Simulated,
}

/// A checked server.
#[derive(Debug, Clone)]
pub struct McpServer {
    pub name: String,
    pub transport: Transport,
    pub action_types: BTreeMap<String, String>,
    pub timeout: Duration,
}

impl McpServer {
    pub fn transport_name(&self) -> &'static str {
        match self.transport {
            Transport::Http { .. } => "http",
            Transport::Stdio { .. } => "stdio",
            Transport::Simulated => "simulated",
        }
    }
}

/// The tool gateway as checked.
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub servers: Vec<Arc<McpServer>>,
    pub approval_wait: Duration,
    pub idle_timeout: Duration,
    pub max_processes: usize,
    pub max_sessions: usize,
    pub max_sessions_per_key: usize,
    pub redact_results: bool,
}

impl McpSettings {
    /// These settings with the simulated server added as `/mcp/demo` (for `serve --demo`).
    pub fn with_simulated(mut self) -> Self {
        self.servers.push(Arc::new(McpServer {
            name: super::simulated::DEMO_SERVER.to_owned(),
            transport: Transport::Simulated,
            action_types: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }));
        self
    }
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            approval_wait: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            max_processes: 32,
            max_sessions: 1024,
            max_sessions_per_key: 16,
            redact_results: true,
        }
    }
}

/// Headers the gateway sets itself on an upstream request.
const OWN_HEADERS: [&str; 6] =
    ["host", "content-type", "accept", "mcp-session-id", "mcp-protocol-version", "content-length"];

impl McpConfig {
    /// Checks the section; `env` reads environment variables (headers, `env_from`).
    pub fn check(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        resolver: &dyn Resolver,
        errors: &mut Vec<FieldError>,
        warnings: &mut Vec<String>,
    ) -> McpSettings {
        let defaults = McpSettings::default();
        let approval_wait =
            duration_or("gateway.mcp.approval_wait", &self.approval_wait, defaults.approval_wait, errors);
        let default_timeout = duration_or("gateway.mcp.timeout", &self.timeout, Duration::from_secs(60), errors);
        let idle_timeout = duration_or("gateway.mcp.idle_timeout", &self.idle_timeout, defaults.idle_timeout, errors);
        if approval_wait > Duration::from_secs(3600) {
            errors.push(FieldError::new("gateway.mcp.approval_wait", "must be at most 1h (60m)"));
        }
        for (field, value) in [
            ("max_processes", self.max_processes),
            ("max_sessions", self.max_sessions),
            ("max_sessions_per_key", self.max_sessions_per_key),
        ] {
            if !(1..=100_000).contains(&value) {
                errors.push(FieldError::new(format!("gateway.mcp.{field}"), "must be between 1 and 100000"));
            }
        }
        let mut servers = Vec::new();
        for (name, s) in &self.servers {
            let path = |field: &str| format!("gateway.mcp.servers.{name}.{field}");
            check_name("gateway.mcp.servers", "server", name, errors);
            let timeout = timeout_of(&path("timeout"), s.timeout.as_deref(), default_timeout, errors);
            for (tool, kind) in &s.action_types {
                if let Err(e) = SecurityAction::check_names(tool, kind) {
                    errors.push(FieldError::new(path(&format!("action_types.{tool}")), e.to_string()));
                }
            }
            let transport = match (&s.url, &s.command) {
                (Some(_), Some(_)) | (None, None) => {
                    errors.push(FieldError::new(
                        format!("gateway.mcp.servers.{name}"),
                        "give either url (Streamable HTTP) or command (stdio)",
                    ));
                    continue;
                }
                (Some(url), None) => {
                    for field in ["command", "args", "env", "env_from"] {
                        let set = match field {
                            "args" => !s.args.is_empty(),
                            "env" => !s.env.is_empty(),
                            "env_from" => !s.env_from.is_empty(),
                            _ => false,
                        };
                        if set {
                            errors.push(FieldError::new(path(field), "only for a stdio server (command)"));
                        }
                    }
                    let policy = private_policy(&s.allowed_private_cidrs, &path("allowed_private_cidrs"), errors);
                    let endpoint = match policy.check_logs_url(url, resolver) {
                        Ok(endpoint) => endpoint,
                        Err(e) => {
                            errors.push(FieldError::new(path("url"), e.to_string()));
                            continue;
                        }
                    };
                    let headers = checked_headers(
                        &s.headers_env,
                        &path("headers_env"),
                        &OWN_HEADERS,
                        "the gateway sets this header itself",
                        env,
                        errors,
                    );
                    if let Some(problem) = tls_problem(&endpoint, !headers.is_empty()) {
                        warnings.push(format!("gateway.mcp.servers.{name}: {problem}"));
                    }
                    Transport::Http { endpoint, policy, headers }
                }
                (None, Some(command)) => {
                    if !s.headers_env.is_empty() || !s.allowed_private_cidrs.is_empty() {
                        errors.push(FieldError::new(
                            path("headers_env"),
                            "headers_env and allowed_private_cidrs are only for an HTTP server (url)",
                        ));
                    }
                    if command.trim().is_empty() {
                        errors.push(FieldError::new(path("command"), "must name a program"));
                    }
                    let mut process_env = Vec::new();
                    if let Some(path_var) = env("PATH") {
                        process_env.push(("PATH".to_owned(), Secret::new(path_var)));
                    }
                    for (var, value) in &s.env {
                        if !valid_env_name(var) {
                            errors
                                .push(FieldError::new(path(&format!("env.{var}")), "not an environment variable name"));
                        }
                        process_env.push((var.clone(), Secret::new(value.clone())));
                    }
                    for (var, from) in &s.env_from {
                        let field = path(&format!("env_from.{var}"));
                        if !valid_env_name(var) {
                            errors.push(FieldError::new(field, "not an environment variable name"));
                        } else if let Some(value) = read_secret(env, field, from, errors) {
                            process_env.push((var.clone(), value));
                        }
                    }
                    Transport::Stdio { command: command.clone(), args: s.args.clone(), env: process_env }
                }
            };
            servers.push(Arc::new(McpServer {
                name: name.clone(),
                transport,
                action_types: s.action_types.clone(),
                timeout,
            }));
        }
        McpSettings {
            servers,
            approval_wait,
            idle_timeout,
            max_processes: self.max_processes,
            max_sessions: self.max_sessions,
            max_sessions_per_key: self.max_sessions_per_key,
            redact_results: self.redact_results,
        }
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 256
}
