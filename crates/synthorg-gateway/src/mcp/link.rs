//! The gateway's connection to one upstream MCP server, as its client: JSON-RPC requests over
//! Streamable HTTP (answers as JSON or as an event stream) or over a stdio process's pipes
//! (one process per session). Both start with the `initialize` handshake; the gateway speaks
//! the handshake revisions upstream, whatever revision the agent speaks to the gateway.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::config::{McpServer, Transport};
use crate::stream::{Events, data_of};
use crate::upstream::{Upstream, UpstreamError};

/// Largest message read from an upstream server (a tool result with a large file, say).
pub(crate) const MAX_UPSTREAM_MESSAGE: usize = 16 * 1024 * 1024;

/// The least time a server has to answer its handshake (a process starting).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The revision the gateway offers upstream in `initialize`.
pub(crate) const UPSTREAM_VERSION: &str = "2025-11-25";

/// Why a request to the upstream server got no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("the MCP server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the MCP server could not be reached: {0}")]
    Unreachable(String),
    /// It answered something that is not MCP: the session is over.
    #[error("the MCP server broke the protocol: {0}")]
    Protocol(String),
    /// The stdio process exited (or was stopped): the session is over.
    #[error("the MCP server's process ended")]
    Ended,
    /// The server answered with a JSON-RPC error, passed on to the agent as it is.
    #[error("the MCP server answered with an error")]
    Rpc(Value),
}

impl LinkError {
    /// Whether the session over this link can go on.
    pub(crate) fn ends_session(&self) -> bool {
        matches!(self, LinkError::Protocol(_) | LinkError::Ended)
    }
}

impl From<UpstreamError> for LinkError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Timeout(d) => LinkError::Timeout(d),
            UpstreamError::TooLarge => {
                LinkError::Protocol(format!("a message larger than {MAX_UPSTREAM_MESSAGE} bytes"))
            }
            UpstreamError::Unreachable(m) => LinkError::Unreachable(m),
        }
    }
}

/// An open connection to a server, after the handshake.
#[derive(Debug)]
pub(crate) struct Link {
    kind: Kind,
    timeout: Duration,
    next_id: AtomicU64,
    /// What the server said of itself in `initialize` (name, version, capabilities).
    pub(crate) initialized: Value,
}

#[derive(Debug)]
enum Kind {
    Http(Box<HttpLink>),
    Stdio(StdioLink),
    Simulated,
}

impl Link {
    /// Connects to `server` and runs the handshake. A stdio server's process holds `permit`
    /// (one of `gateway.mcp.max_processes`) while it runs.
    pub(crate) async fn open(
        server: &McpServer,
        http: Option<&Upstream>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Link, LinkError> {
        let kind = match (&server.transport, http) {
            (Transport::Http { .. }, Some(upstream)) => Kind::Http(Box::new(HttpLink {
                upstream: upstream.clone(),
                session: Mutex::new(None),
                version: Mutex::new(None),
            })),
            (Transport::Stdio { command, args, env }, _) => Kind::Stdio(StdioLink::spawn(command, args, env, permit)?),
            (Transport::Http { .. }, None) => return Err(LinkError::Unreachable("no client for this server".into())),
            (Transport::Simulated, _) => Kind::Simulated,
        };
        let mut link = Link { kind, timeout: server.timeout, next_id: AtomicU64::new(1), initialized: Value::Null };
        let params = json!({
            "protocolVersion": UPSTREAM_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "synthorg", "version": env!("CARGO_PKG_VERSION")},
        });
        // A process needs time to start (an interpreter, its imports): the handshake gets
        // at least START_TIMEOUT, whatever the server's timeout for calls.
        let initialized =
            tokio::time::timeout(START_TIMEOUT.max(link.timeout), link.call_untimed("initialize", params))
                .await
                .map_err(|_| LinkError::Timeout(START_TIMEOUT.max(link.timeout)))??;
        let initialized: Value = serde_json::from_str(initialized.get())
            .map_err(|e| LinkError::Protocol(format!("an initialize result that is not JSON: {e}")))?;
        if let Kind::Http(http) = &link.kind {
            let version = initialized.get("protocolVersion").and_then(Value::as_str).unwrap_or(UPSTREAM_VERSION);
            *http.version.lock().unwrap_or_else(|p| p.into_inner()) = HeaderValue::from_str(version).ok();
        }
        link.notify("notifications/initialized", json!({})).await?;
        link.initialized = initialized;
        Ok(link)
    }

    /// Sends request `method` and waits (at most the server's timeout) for its result, as
    /// the server wrote it: a tool list of hundreds of tools passes through without being
    /// parsed into a tree and written again.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Box<RawValue>, LinkError> {
        tokio::time::timeout(self.timeout, self.call_untimed(method, params))
            .await
            .map_err(|_| LinkError::Timeout(self.timeout))?
    }

    async fn call_untimed(&self, method: &str, params: Value) -> Result<Box<RawValue>, LinkError> {
        if let Kind::Simulated = self.kind {
            return super::simulated::answer(method, &params);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let exchange = async {
            match &self.kind {
                Kind::Http(http) => http.exchange(id, &message).await,
                Kind::Stdio(stdio) => stdio.exchange(id, &message).await,
                Kind::Simulated => Err(LinkError::Unreachable("answered in process".into())),
            }
        };
        let answer = exchange.await?;
        result_of(&answer)
    }

    /// Sends notification `method` (no answer).
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<(), LinkError> {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let send = async {
            match &self.kind {
                Kind::Http(http) => http.post(&message).await.map(drop),
                Kind::Stdio(stdio) => stdio.write(&message).await,
                Kind::Simulated => Ok(()),
            }
        };
        tokio::time::timeout(self.timeout, send).await.map_err(|_| LinkError::Timeout(self.timeout))?
    }

    /// Whether the connection can still carry requests (a stdio process that exited cannot).
    pub(crate) fn alive(&self) -> bool {
        match &self.kind {
            Kind::Http(_) | Kind::Simulated => true,
            Kind::Stdio(stdio) => stdio.alive.load(Ordering::SeqCst),
        }
    }

    /// Ends the connection: an HTTP session is deleted (best effort), a process stopped.
    pub(crate) async fn close(&self) {
        match &self.kind {
            Kind::Http(http) => http.close().await,
            Kind::Stdio(stdio) => stdio.stop().await,
            Kind::Simulated => {}
        }
    }
}

/// A JSON-RPC message as the gateway reads it: only what tells an answer from a request,
/// and the result left unparsed.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

impl Envelope<'_> {
    /// Whether this is the answer to request `id`.
    fn answers(&self, id: u64) -> bool {
        self.method.is_none() && self.id.as_ref().and_then(Value::as_u64) == Some(id)
    }
}

fn envelope(text: &str) -> Result<Envelope<'_>, LinkError> {
    serde_json::from_str(text).map_err(|e| LinkError::Protocol(format!("a message that is not JSON-RPC: {e}")))
}

/// The result of the JSON-RPC answer `text`, or its error.
fn result_of(text: &str) -> Result<Box<RawValue>, LinkError> {
    let answer = envelope(text)?;
    if let Some(error) = answer.error {
        return Err(LinkError::Rpc(error));
    }
    match answer.result {
        Some(result) => Ok(result.to_owned()),
        None => Err(LinkError::Protocol("an answer with neither result nor error".into())),
    }
}

/// Streamable HTTP: each message is a POST; the session id the server gives in
/// `initialize`'s answer is sent with every later one.
#[derive(Debug)]
struct HttpLink {
    upstream: Upstream,
    session: Mutex<Option<HeaderValue>>,
    version: Mutex<Option<HeaderValue>>,
}

impl HttpLink {
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers =
            vec![(hyper::header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"))];
        if let Some(session) = self.session.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            headers.push((HeaderName::from_static("mcp-session-id"), session));
        }
        if let Some(version) = self.version.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            headers.push((HeaderName::from_static("mcp-protocol-version"), version));
        }
        headers
    }

    async fn post(&self, message: &Value) -> Result<hyper::Response<hyper::body::Incoming>, LinkError> {
        let body = Bytes::from(serde_json::to_vec(message).unwrap_or_default());
        let response = self.upstream.request(hyper::Method::POST, "", body, &self.headers()).await?;
        if let Some(session) = response.headers().get("mcp-session-id") {
            *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.clone());
        }
        let status = response.status();
        if status == hyper::StatusCode::NOT_FOUND && self.session.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Err(LinkError::Protocol("the server no longer knows this session".into()));
        }
        if !status.is_success() {
            return Err(LinkError::Unreachable(format!("the server answered HTTP {}", status.as_u16())));
        }
        Ok(response)
    }

    /// Posts request `id` and reads its answer: a JSON body, or the first event of an event
    /// stream that answers it (the server's notifications and requests before it are let by).
    async fn exchange(&self, id: u64, message: &Value) -> Result<String, LinkError> {
        let response = self.post(message).await?;
        let is_stream = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut body = response.into_body();
        if !is_stream {
            let bytes = http_body_util::Limited::new(body, MAX_UPSTREAM_MESSAGE)
                .collect()
                .await
                .map_err(|e| LinkError::Protocol(format!("reading the answer: {e}")))?
                .to_bytes();
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| LinkError::Protocol("an answer that is not UTF-8".into()))?;
            if text.trim_start().starts_with('[') {
                let batch: Vec<&RawValue> = serde_json::from_str(&text)
                    .map_err(|e| LinkError::Protocol(format!("an answer that is not JSON: {e}")))?;
                return batch
                    .into_iter()
                    .find(|m| envelope(m.get()).is_ok_and(|e| e.answers(id)))
                    .map(|m| m.get().to_owned())
                    .ok_or_else(|| LinkError::Protocol("a batch without the answer".into()));
            }
            return match envelope(&text)?.answers(id) {
                true => Ok(text),
                false => Err(LinkError::Protocol("an answer to another request".into())),
            };
        }
        let mut events = Events::default();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| LinkError::Unreachable(format!("reading the event stream: {e}")))?;
            let Ok(chunk) = frame.into_data() else { continue };
            read += chunk.len();
            if read > MAX_UPSTREAM_MESSAGE {
                return Err(LinkError::Protocol(format!("an answer larger than {MAX_UPSTREAM_MESSAGE} bytes")));
            }
            for event in events.push(&chunk) {
                let Some(data) = data_of(&event) else { continue };
                if data.trim().is_empty() {
                    continue;
                }
                if envelope(&data)?.answers(id) {
                    return Ok(data);
                }
            }
        }
        Err(LinkError::Protocol("the event stream ended without the answer".into()))
    }

    async fn close(&self) {
        let Some(_) = self.session.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.upstream.request(hyper::Method::DELETE, "", Bytes::new(), &self.headers()),
        )
        .await;
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<String, LinkError>>>>>;

/// stdio: newline-delimited JSON-RPC on the process's stdin and stdout. A reader task hands
/// each answer to the request waiting for it; the process's end (or a line that is not
/// JSON-RPC) fails every waiting request and ends the session.
#[derive(Debug)]
struct StdioLink {
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    pending: Pending,
    alive: Arc<AtomicBool>,
    child: Arc<tokio::sync::Mutex<Child>>,
}

impl StdioLink {
    fn spawn(
        command: &str,
        args: &[String],
        env: &[(String, crate::provider::Secret)],
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Self, LinkError> {
        let mut child = Command::new(command)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.expose())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LinkError::Unreachable(format!("starting {command}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(LinkError::Unreachable("the process has no pipes".into()));
        };
        let link = StdioLink {
            stdin: Arc::new(tokio::sync::Mutex::new(stdin)),
            pending: Arc::default(),
            alive: Arc::new(AtomicBool::new(true)),
            child: Arc::new(tokio::sync::Mutex::new(child)),
        };
        let process = Process { stdin: Arc::clone(&link.stdin), child: Arc::clone(&link.child), _permit: permit };
        tokio::spawn(read_loop(stdout, Arc::clone(&link.pending), Arc::clone(&link.alive), process));
        Ok(link)
    }

    async fn write(&self, message: &Value) -> Result<(), LinkError> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(LinkError::Ended);
        }
        let mut line = serde_json::to_vec(message).unwrap_or_default();
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(&line).await.map_err(|_| LinkError::Ended)?;
        stdin.flush().await.map_err(|_| LinkError::Ended)
    }

    async fn exchange(&self, id: u64, message: &Value) -> Result<String, LinkError> {
        let (answer, answered) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, answer);
        let guard = Forget { pending: &self.pending, id };
        self.write(message).await?;
        let result = answered.await.map_err(|_| LinkError::Ended)?;
        drop(guard);
        result
    }

    async fn stop(&self) {
        self.alive.store(false, Ordering::SeqCst);
        let _ = self.child.lock().await.kill().await;
    }
}

/// Removes a request from the waiting ones when its caller stops waiting (a timeout).
struct Forget<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// What the reader holds of the process: its stdin (to answer the server's pings), the
/// process itself, and its place among `gateway.mcp.max_processes`, given back when it ends.
struct Process {
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    child: Arc<tokio::sync::Mutex<Child>>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Reads the process's stdout until it ends, then fails whatever still waits and stops it.
async fn read_loop(stdout: ChildStdout, pending: Pending, alive: Arc<AtomicBool>, process: Process) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let ended = loop {
        line.clear();
        let limit = (MAX_UPSTREAM_MESSAGE + 1) as u64;
        match (&mut reader).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break LinkError::Ended,
            Ok(_) if line.len() > MAX_UPSTREAM_MESSAGE => {
                break LinkError::Protocol(format!("a message larger than {MAX_UPSTREAM_MESSAGE} bytes"));
            }
            Ok(_) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            break LinkError::Protocol("a line on stdout that is not UTF-8".into());
        };
        let Ok(message) = envelope(text) else {
            break LinkError::Protocol("a line on stdout that is not a JSON-RPC message".into());
        };
        match (message.id.as_ref(), message.method) {
            (Some(id), None) => {
                let waiting = id.as_u64().and_then(|id| pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id));
                if let Some(waiting) = waiting {
                    let _ = waiting.send(Ok(text.to_owned()));
                }
            }
            // The server's own requests (sampling, roots, elicitation) are not offered:
            // the gateway declared no client capabilities. A ping is answered.
            (Some(id), Some(method)) => {
                let answer = match method.get() {
                    r#""ping""# => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
                    _ => {
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "not offered by the gateway"}})
                    }
                };
                let mut line = serde_json::to_vec(&answer).unwrap_or_default();
                line.push(b'\n');
                let _ = process.stdin.lock().await.write_all(&line).await;
            }
            _ => {}
        }
    };
    alive.store(false, Ordering::SeqCst);
    let waiting: Vec<_> = pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    let message = ended.to_string();
    for (_, waiting) in waiting {
        let error = match &ended {
            LinkError::Protocol(_) => LinkError::Protocol(message.clone()),
            _ => LinkError::Ended,
        };
        let _ = waiting.send(Err(error));
    }
    let _ = process.child.lock().await.kill().await;
}

impl Drop for StdioLink {
    /// A link dropped without [`Link::close`] still stops its process.
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
        if let Ok(mut child) = self.child.try_lock() {
            let _ = child.start_kill();
        }
    }
}
