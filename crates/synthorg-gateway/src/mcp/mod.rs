//! The tool gateway (SPEC §18): the organization's MCP servers, fronted at `/mcp/<name>` so
//! that every tool call an agent makes passes synthorg's rules.
//!
//! A door of the engine like the model gateway: `tools/list` is filtered by
//! [`synthorg_engine::Engine::visible_tools`], `tools/call` is judged by
//! [`synthorg_engine::Engine::evaluate`] (the operation `POST /security/evaluate` runs), an
//! escalated call waits on [`synthorg_engine::Engine::await_decision`], and a result passes
//! [`synthorg_engine::Engine::scan_tool_result`]. This module keeps the sessions: each
//! belongs to the key that opened it and holds one connection upstream ([`link::Link`]).

pub(crate) mod config;
pub(crate) mod door;
pub(crate) mod link;
mod reply;
mod report;
mod simulated;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synthorg_core::Actor;
use tokio::sync::Semaphore;

use self::config::{McpServer, McpSettings, Transport};
use self::link::{Link, LinkError};
use crate::upstream::{Upstream, sensitive};

/// The tool gateway's servers, sessions and process slots.
#[derive(Debug)]
pub(crate) struct Tools {
    pub(crate) settings: McpSettings,
    servers: HashMap<String, Server>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// One permit per stdio process that may run (`gateway.mcp.max_processes`).
    processes: Arc<Semaphore>,
}

#[derive(Debug)]
struct Server {
    config: Arc<McpServer>,
    /// The pooled client of an HTTP server.
    http: Option<Upstream>,
}

/// One agent's session with one server: the key that opened it, the revision it speaks, and
/// its connection upstream.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) actor: Actor,
    pub(crate) server: Arc<McpServer>,
    pub(crate) link: Link,
    /// The protocol revision the agent speaks.
    pub(crate) version: String,
    last_used: Mutex<Instant>,
    /// Requests in progress: a session is not idle while one runs (a call waiting for its
    /// approval may wait longer than `idle_timeout`).
    busy: AtomicUsize,
    /// Each tool's action type, from the server's last tool list.
    action_types: Mutex<HashMap<String, String>>,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{0} sessions are open, the most the gateway keeps (gateway.mcp.max_sessions)")]
    Sessions(usize),
    #[error(
        "this key holds {0} sessions, the most one key may (gateway.mcp.max_sessions_per_key); end one (DELETE) first"
    )]
    KeySessions(usize),
    #[error("{0} server processes are running, the most the gateway starts (gateway.mcp.max_processes)")]
    Processes(usize),
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl Tools {
    pub(crate) fn new(settings: McpSettings, tls: &tokio_rustls::TlsConnector) -> Self {
        let servers = settings
            .servers
            .iter()
            .map(|s| {
                let http = match &s.transport {
                    Transport::Http { endpoint, policy, headers } => Some(Upstream::new(
                        endpoint.clone(),
                        policy.clone(),
                        sensitive(headers),
                        s.timeout,
                        tls.clone(),
                    )),
                    Transport::Stdio { .. } | Transport::Simulated => None,
                };
                (s.name.clone(), Server { config: Arc::clone(s), http })
            })
            .collect();
        let processes = Arc::new(Semaphore::new(settings.max_processes));
        Self { settings, servers, sessions: Mutex::default(), processes }
    }

    pub(crate) fn server(&self, name: &str) -> Option<&Arc<McpServer>> {
        self.servers.get(name).map(|s| &s.config)
    }

    /// Opens a session of `actor` with `server` under `id`: connects upstream and runs the
    /// handshake there (for stdio, starts the server's process).
    pub(crate) async fn open(
        &self,
        id: String,
        actor: &Actor,
        server: &str,
        version: String,
    ) -> Result<Arc<Session>, OpenError> {
        let Some(entry) = self.servers.get(server) else {
            return Err(LinkError::Unreachable(format!("no MCP server named {server}")).into());
        };
        {
            let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if sessions.len() >= self.settings.max_sessions {
                return Err(OpenError::Sessions(sessions.len()));
            }
            // A session replaced under the same id (the stateless one, reopened) is not one more.
            let held = sessions.values().filter(|s| s.actor.key() == actor.key() && s.id != id).count();
            if held >= self.settings.max_sessions_per_key {
                return Err(OpenError::KeySessions(held));
            }
        }
        let permit = match entry.config.transport {
            Transport::Stdio { .. } => Some(
                Arc::clone(&self.processes)
                    .try_acquire_owned()
                    .map_err(|_| OpenError::Processes(self.settings.max_processes))?,
            ),
            Transport::Http { .. } | Transport::Simulated => None,
        };
        let link = Link::open(&entry.config, entry.http.as_ref(), permit).await?;
        let session = Arc::new(Session {
            id: id.clone(),
            actor: actor.clone(),
            server: Arc::clone(&entry.config),
            link,
            version,
            last_used: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
            action_types: Mutex::default(),
        });
        let replaced = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::clone(&session));
        if let Some(old) = replaced {
            old.link.close().await;
            old.log_closed(Closed::Replaced);
        }
        tracing::info!(target: "synthorg::tools", agent_id = actor.agent_id().map(tracing::field::display),
            server, protocol = session.version, transport = session.server.transport_name(),
            session = report::hashed(&session.id), "mcp session opened");
        Ok(session)
    }

    /// The session `id` of `actor`'s key on `server`; `None` when there is none, it is
    /// another key's, or its connection ended (then it is closed).
    pub(crate) async fn session(&self, id: &str, actor: &Actor, server: &str) -> Option<Arc<Session>> {
        let found = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()?;
        if found.actor.key() != actor.key() || found.server.name != server {
            return None;
        }
        if !found.link.alive() {
            self.close(id, Closed::Upstream).await;
            return None;
        }
        *found.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Some(found)
    }

    /// Ends session `id` (its process stopped, its upstream session deleted), saying why.
    pub(crate) async fn close(&self, id: &str, why: Closed) -> bool {
        let removed = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        match removed {
            Some(session) => {
                session.link.close().await;
                session.log_closed(why);
                true
            }
            None => false,
        }
    }

    /// Closes the sessions unused for `gateway.mcp.idle_timeout`.
    pub(crate) async fn close_idle(&self) {
        let limit = self.settings.idle_timeout;
        let idle: Vec<String> = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| {
                let idle = s.busy.load(Ordering::SeqCst) == 0
                    && s.last_used.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= limit;
                idle || !s.link.alive()
            })
            .map(|s| s.id.clone())
            .collect();
        for id in idle {
            self.close(&id, Closed::Idle).await;
        }
    }

    /// Closes every session (the server is stopping).
    pub(crate) async fn close_all(&self) {
        let all: Vec<String> = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        for id in all {
            self.close(&id, Closed::Shutdown).await;
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Closed {
    /// The client ended it (`DELETE`).
    Client,
    /// Unused for `idle_timeout`.
    Idle,
    /// Its upstream connection ended or broke the protocol (a process that exited).
    Upstream,
    /// The server is stopping.
    Shutdown,
    /// A new session took its id (the stateless one, reopened).
    Replaced,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Closed::Client => "client",
            Closed::Idle => "idle",
            Closed::Upstream => "upstream_ended",
            Closed::Shutdown => "shutdown",
            Closed::Replaced => "replaced",
        }
    }
}

impl Session {
    /// The log line of its end (its id hashed, as on spans: never the id itself).
    fn log_closed(&self, why: Closed) {
        tracing::info!(target: "synthorg::tools", agent_id = self.actor.agent_id().map(tracing::field::display),
            server = self.server.name, session = report::hashed(&self.id), reason = why.as_str(), "mcp session closed");
    }

    /// Marks a request in progress until the guard is dropped (then the session was last
    /// used now).
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self)
    }

    /// The action type `tool` is judged as: the server's configuration, else the tool's
    /// annotations as last listed; `None` for a tool the server did not list.
    pub(crate) fn action_type(&self, tool: &str) -> Option<String> {
        if let Some(kind) = self.server.action_types.get(tool) {
            return Some(kind.clone());
        }
        self.action_types.lock().unwrap_or_else(|p| p.into_inner()).get(tool).cloned()
    }

    /// Remembers the action types of the tools in a listing, and returns them in order.
    pub(crate) fn learn(&self, tools: &[ToolHead]) -> Vec<String> {
        let kinds: Vec<String> = tools
            .iter()
            .map(|t| self.server.action_types.get(&t.name).cloned().unwrap_or_else(|| t.annotated().to_owned()))
            .collect();
        let mut known = self.action_types.lock().unwrap_or_else(|p| p.into_inner());
        for (tool, kind) in tools.iter().zip(&kinds) {
            known.insert(tool.name.clone(), kind.clone());
        }
        kinds
    }
}

/// A request in progress on a session.
pub(crate) struct Busy<'a>(&'a Session);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the gateway reads of a listed tool: its name and its hints.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ToolHead {
    pub(crate) name: String,
    #[serde(default)]
    annotations: Option<Hints>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Hints {
    #[serde(rename = "readOnlyHint", default)]
    read_only: Option<bool>,
    #[serde(rename = "destructiveHint", default)]
    destructive: Option<bool>,
    #[serde(rename = "openWorldHint", default)]
    open_world: Option<bool>,
}

impl ToolHead {
    /// The action type its annotations suggest, which are the server's hints (SPEC §18):
    /// read-only → `read`, destructive → `delete`, open-world → `network`, else `write`.
    pub(crate) fn annotated(&self) -> &'static str {
        let hints = self.annotations.as_ref();
        let hint = |f: fn(&Hints) -> Option<bool>| hints.and_then(f) == Some(true);
        if hint(|h| h.read_only) {
            "read"
        } else if hint(|h| h.destructive) {
            "delete"
        } else if hint(|h| h.open_world) {
            "network"
        } else {
            "write"
        }
    }
}

/// How often idle sessions are looked for.
pub(crate) const IDLE_SWEEP: Duration = Duration::from_secs(15);
