//! `/mcp/<server>`: the Streamable HTTP endpoint an agent's MCP client connects to.
//!
//! Both eras of the protocol are served. The handshake revisions (2024-11-05 to 2025-11-25)
//! open a session with `initialize` and name it in `Mcp-Session-Id`; the stateless revision
//! (2026-07-28) sends each request self-contained, its revision in `params._meta`, after an
//! optional `server/discover` — its requests share one session per key and server. Either
//! way a session belongs to the key that opened it: another key, even of the same agent,
//! gets a 404.
//!
//! The methods offered are `tools/list`, `tools/call` and `ping` (and the handshakes);
//! anything else is "method not found". Answers are JSON, except an escalated `tools/call`
//! whose client asked for progress (`_meta.progressToken`) and accepts an event stream: it
//! gets `notifications/progress` while it waits for its approval, then its answer.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use synthorg_core::Actor;
use synthorg_core::audit::AuditContext;
use synthorg_core::event::ToolOutcome;
use synthorg_core::security::{ApprovalStatus, SecurityAction, Verdict};
use synthorg_engine::{EngineError, ListedTool, StoreError};
use synthorg_telemetry::context;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::link::LinkError;
use super::reply::{Body, Reply};
use super::report::Report;
use super::{Closed, OpenError, Session, ToolHead};
use crate::{Gateway, TASK_HEADER};

/// Largest message an agent may send.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most messages in one batch (handshake revision 2025-03-26).
pub(crate) const MAX_BATCH: usize = 32;
/// The stateless revision.
pub(crate) const MODERN_VERSION: &str = "2026-07-28";
/// The handshake revisions, oldest to newest.
pub(crate) const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";
const SESSION_HEADER: &str = "mcp-session-id";

// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
const UNSUPPORTED_VERSION: i64 = -32022;
/// The server's own range: the upstream could not be used, or a limit was reached.
const UPSTREAM_ERROR: i64 = -32000;
const UNAUTHENTICATED: i64 = -32001;

/// A JSON-RPC error answer to request `id`.
fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// An HTTP answer carrying one JSON-RPC message.
fn answer(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], message.to_string()).into_response()
}

/// `GET /mcp/{server}`: the gateway opens no stream of its own to the client.
pub(crate) async fn get() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}

/// `DELETE /mcp/{server}`: ends the session named in `Mcp-Session-Id`.
pub(crate) async fn delete(State(gateway): State<Gateway>, Path(server): Path<String>, headers: HeaderMap) -> Response {
    let actor = match gateway.authenticate(&headers).await {
        Ok(actor) => actor,
        Err(e) => return answer(e.status, error(&Value::Null, UNAUTHENTICATED, e.message)),
    };
    let tools = gateway.tools();
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return answer(StatusCode::BAD_REQUEST, error(&Value::Null, INVALID_REQUEST, "Mcp-Session-Id is required"));
    };
    match tools.session(id, &actor, &server).await {
        Some(session) => {
            tools.close(&session.id, Closed::Client).await;
            StatusCode::NO_CONTENT.into_response()
        }
        None => answer(StatusCode::NOT_FOUND, error(&Value::Null, INVALID_REQUEST, "no such session")),
    }
}

/// `POST /mcp/{server}`: one JSON-RPC message, or a batch of them.
pub(crate) async fn post(
    State(gateway): State<Gateway>,
    Path(server): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let actor = match gateway.authenticate(&headers).await {
        Ok(actor) => actor,
        Err(e) => return answer(e.status, error(&Value::Null, UNAUTHENTICATED, e.message)),
    };
    if actor.agent_id().is_none() {
        let message = "the tool gateway takes agent keys: a tool call is an agent's";
        return answer(StatusCode::FORBIDDEN, error(&Value::Null, UNAUTHENTICATED, message));
    }
    if gateway.tools().server(&server).is_none() {
        let message = format!("no MCP server named {server:?} (gateway.mcp.servers)");
        return answer(StatusCode::NOT_FOUND, error(&Value::Null, INVALID_REQUEST, message));
    }
    if body.len() > MAX_MESSAGE_BYTES {
        let message = format!("a message is at most {MAX_MESSAGE_BYTES} bytes");
        return answer(StatusCode::PAYLOAD_TOO_LARGE, error(&Value::Null, INVALID_REQUEST, message));
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => return answer(StatusCode::BAD_REQUEST, error(&Value::Null, PARSE_ERROR, format!("not JSON: {e}"))),
    };
    let call = Call { gateway: &gateway, actor: &actor, server: &server, headers: &headers };
    match message {
        Value::Array(batch) => {
            if batch.is_empty() || batch.len() > MAX_BATCH {
                let message = format!("a batch holds 1 to {MAX_BATCH} messages");
                return answer(StatusCode::BAD_REQUEST, error(&Value::Null, INVALID_REQUEST, message));
            }
            let mut answers = Vec::new();
            let mut session_id = None;
            for message in batch {
                let (reply, session) = call.one(message, None).await;
                session_id = session_id.or(session);
                if let Some(reply) = reply {
                    answers.push(reply);
                }
            }
            let mut response = match answers.is_empty() {
                true => StatusCode::ACCEPTED.into_response(),
                false => {
                    let texts: Vec<String> = answers.iter().map(ToString::to_string).collect();
                    answer(StatusCode::OK, format!("[{}]", texts.join(",")))
                }
            };
            with_session(&mut response, session_id);
            response
        }
        message => {
            let wants_progress = message.pointer("/params/_meta/progressToken").is_some()
                && message.get("method").and_then(Value::as_str) == Some("tools/call")
                && accepts_stream(&headers);
            if !wants_progress {
                let (reply, session) = call.one(message, None).await;
                return reply_response(reply, session);
            }
            // Progress while an escalated call waits: the answer is an event stream.
            let (sender, receiver) = mpsc::channel::<Reply>(8);
            let gateway = gateway.clone();
            let (actor, headers) = (actor.clone(), headers.clone());
            let span = tracing::Span::current();
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    let call = Call { gateway: &gateway, actor: &actor, server: &server, headers: &headers };
                    let (reply, _) = call.one(message, Some(sender.clone())).await;
                    if let Some(reply) = reply {
                        let _ = sender.send(reply).await;
                    }
                },
                span,
            ));
            let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
                let message = receiver.recv().await?;
                let event = format!("event: message\ndata: {message}\n\n");
                Some((Ok::<_, Infallible>(Bytes::from(event)), receiver))
            });
            (
                [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
                axum::body::Body::from_stream(events),
            )
                .into_response()
        }
    }
}

fn accepts_stream(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/event-stream"))
}

fn reply_response(reply: Option<Reply>, session: Option<String>) -> Response {
    let mut response = match reply {
        None => StatusCode::ACCEPTED.into_response(),
        Some(reply) => {
            // A session the gateway does not know is a 404, so the client starts a new one.
            let status = match reply.pointer("/error/data/synthorg") {
                Some(Value::String(s)) if s == "no_session" => StatusCode::NOT_FOUND,
                Some(Value::String(s)) if s == "missing_session" => StatusCode::BAD_REQUEST,
                _ => StatusCode::OK,
            };
            answer(status, reply)
        }
    };
    with_session(&mut response, session);
    response
}

fn with_session(response: &mut Response, session: Option<String>) {
    if let Some(value) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
}

/// One request's context.
struct Call<'a> {
    gateway: &'a Gateway,
    actor: &'a Actor,
    server: &'a str,
    headers: &'a HeaderMap,
}

/// A request the gateway answers, its id and parameters.
struct Request<'a> {
    id: &'a Value,
    method: &'a str,
    params: Value,
}

impl Call<'_> {
    /// Answers one message: `None` for a notification or a client's answer; with the id of
    /// a session it opened.
    async fn one(&self, mut message: Value, progress: Option<mpsc::Sender<Reply>>) -> (Option<Reply>, Option<String>) {
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str).map(str::to_owned);
        let (Some(id), Some(method)) = (id, method) else {
            // A notification (initialized, cancelled, progress) or an answer: taken, nothing said.
            if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                return (Some(Reply::from(error(&Value::Null, INVALID_REQUEST, "not a JSON-RPC 2.0 message"))), None);
            }
            return (None, None);
        };
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return (
                Some(Reply::from(error(&Value::Null, INVALID_REQUEST, "a request id is a string or an integer"))),
                None,
            );
        }
        let params = message.get_mut("params").map(Value::take).unwrap_or(Value::Null);
        if !(params.is_null() || params.is_object()) {
            return (Some(Reply::from(error(&id, INVALID_PARAMS, "params must be an object"))), None);
        }
        let request = Request { id: &id, method: &method, params };
        let modern =
            request.params.pointer("/_meta").and_then(|m| m.get(VERSION_KEY)).is_some() || method == "server/discover";
        if modern {
            return (Some(self.modern(request, progress).await), None);
        }
        if method == "initialize" {
            return self.initialize(request).await;
        }
        let Some(session_id) = self.headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            let mut answer = error(&id, INVALID_REQUEST, "Mcp-Session-Id is required: initialize a session first");
            answer["error"]["data"] = json!({"synthorg": "missing_session"});
            return (Some(answer.into()), None);
        };
        let Some(session) = self.gateway.tools().session(session_id, self.actor, self.server).await else {
            let mut answer = error(&id, INVALID_REQUEST, "no such session: initialize a new one");
            answer["error"]["data"] = json!({"synthorg": "no_session"});
            return (Some(answer.into()), None);
        };
        (Some(self.dispatch(&session, request, progress).await), None)
    }

    /// `initialize`: a new session, connected upstream.
    async fn initialize(&self, request: Request<'_>) -> (Option<Reply>, Option<String>) {
        let asked = request.params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
        let version = match HANDSHAKE_VERSIONS.contains(&asked) {
            true => asked.to_owned(),
            false => HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1].to_owned(),
        };
        let id = new_session_id();
        match self.gateway.tools().open(id.clone(), self.actor, self.server, version.clone()).await {
            Ok(session) => {
                let mut result = json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": self.server_info(),
                });
                if let Some(instructions) = session.link.initialized.get("instructions") {
                    result["instructions"] = instructions.clone();
                }
                (Some(Reply::result(request.id, Body::Tree(result))), Some(id))
            }
            Err(e) => (Some(open_failed(request.id, &e).into()), None),
        }
    }

    fn server_info(&self) -> Value {
        json!({"name": format!("synthorg/{}", self.server), "version": env!("CARGO_PKG_VERSION")})
    }

    /// A request of the stateless revision: checked, then answered on the key's session.
    async fn modern(&self, request: Request<'_>, progress: Option<mpsc::Sender<Reply>>) -> Reply {
        let asked = request.params.pointer("/_meta").and_then(|m| m.get(VERSION_KEY)).and_then(Value::as_str);
        // A discovery may come before the client knows a revision to ask for.
        if request.method == "server/discover" && asked.is_none_or(|v| v == MODERN_VERSION) {
            let result = json!({
                "supportedVersions": [MODERN_VERSION],
                "capabilities": {"tools": {"listChanged": false}},
                "resultType": "complete",
                "ttlMs": 0,
                "cacheScope": "private",
                "_meta": {SERVER_INFO_KEY: self.server_info()},
            });
            return Reply::result(request.id, Body::Tree(result));
        }
        if asked != Some(MODERN_VERSION) {
            let mut answer = error(request.id, UNSUPPORTED_VERSION, "Unsupported protocol version");
            answer["error"]["data"] = json!({"supported": [MODERN_VERSION], "requested": asked});
            return answer.into();
        }
        let tools = self.gateway.tools();
        let key = self.actor.key().map(|(k, _)| k).unwrap_or_default();
        let session_id = format!("stateless:{key}:{}", self.server);
        let session = match tools.session(&session_id, self.actor, self.server).await {
            Some(session) => session,
            None => match tools.open(session_id, self.actor, self.server, MODERN_VERSION.to_owned()).await {
                Ok(session) => session,
                Err(e) => return open_failed(request.id, &e).into(),
            },
        };
        let mut answer = self.dispatch(&session, request, progress).await;
        // Every result of this revision says it is complete (a listing, written by the door
        // itself, already does).
        if let Reply::Tree(answer) = &mut answer
            && let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut)
        {
            result.entry("resultType").or_insert_with(|| json!("complete"));
        }
        answer
    }

    /// Answers a request on `session`.
    async fn dispatch(&self, session: &Session, request: Request<'_>, progress: Option<mpsc::Sender<Reply>>) -> Reply {
        let id = request.id;
        let _busy = session.busy();
        let mut report = Report::new(request.method, id);
        let result = match request.method {
            "ping" => Ok(Body::Tree(json!({}))),
            "tools/list" => self.list(session, &request.params, &mut report).await,
            "tools/call" => self.call(session, request.params, progress, &mut report).await.map(Body::Tree),
            "logging/setLevel" => Ok(Body::Tree(json!({}))),
            other => return error(id, METHOD_NOT_FOUND, format!("method not found: {other}")).into(),
        };
        let answer = match result {
            Ok(result) => Reply::result(id, result),
            Err(Failed::Rpc(code, message)) => {
                report.outcome = ToolOutcome::Invalid;
                error(id, code, message).into()
            }
            Err(Failed::Upstream(LinkError::Rpc(upstream))) => {
                report.outcome = ToolOutcome::UpstreamError;
                json!({"jsonrpc": "2.0", "id": id, "error": upstream}).into()
            }
            Err(Failed::Upstream(e)) => {
                report.outcome = ToolOutcome::UpstreamError;
                if e.ends_session() {
                    self.gateway.tools().close(&session.id, Closed::Upstream).await;
                }
                tracing::warn!(server = self.server, error = %e, "mcp upstream failed");
                error(id, UPSTREAM_ERROR, e.to_string()).into()
            }
        };
        report.finish(self.gateway.engine(), session, &answer);
        answer
    }

    /// `tools/list`: the server's tools (one page, as asked) minus those the agent's policy
    /// denies. The tools are read only for their names and annotations and passed on as the
    /// server wrote them: a list of hundreds of tools is not parsed into a tree and written
    /// again.
    async fn list(&self, session: &Session, params: &Value, report: &mut Report) -> Result<Body, Failed> {
        let engine = self.gateway.engine();
        let result = self.fetch_list(session, params, report).await?;
        let listing = Listing::read(&result)?;
        let heads = listing.heads()?;
        let kinds = session.learn(&heads);
        let listed: Vec<ListedTool> = heads
            .iter()
            .zip(kinds)
            .map(|(t, action_type)| ListedTool { name: policy_name(self.server, &t.name), action_type })
            .collect();
        let shown = engine.visible_tools(self.actor, &listed).await.map_err(Failed::engine)?;
        let mut text = String::with_capacity(result.get().len() + 64);
        text.push_str(r#"{"tools":["#);
        let mut first = true;
        for (tool, _) in listing.tools.iter().zip(shown).filter(|(_, shown)| *shown) {
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(tool.get());
        }
        text.push(']');
        if let Some(cursor) = listing.next_cursor.filter(|c| !c.is_null()) {
            text.push_str(&format!(r#","nextCursor":{cursor}"#));
        }
        if session.version == MODERN_VERSION {
            // A listing is a cacheable result in this revision: never cached, as each agent's
            // policy decides what it shows.
            text.push_str(r#","resultType":"complete","ttlMs":0,"cacheScope":"private""#);
        }
        text.push('}');
        let text = RawValue::from_string(text)
            .map_err(|e| Failed::Upstream(LinkError::Protocol(format!("a tool list that is not JSON: {e}"))))?;
        Ok(Body::Text(text))
    }

    /// One page of the server's tool list, as it wrote it.
    async fn fetch_list(
        &self,
        session: &Session,
        params: &Value,
        report: &mut Report,
    ) -> Result<Box<RawValue>, Failed> {
        let mut upstream = json!({});
        if let Some(cursor) = params.get("cursor") {
            upstream["cursor"] = cursor.clone();
        }
        let engine = self.gateway.engine();
        report.upstream(engine, session, "tools/list", upstream).await.map_err(Failed::Upstream)
    }

    /// Reads one page of the server's tool list into the session's action types: the next
    /// page's cursor, if any.
    async fn list_page(&self, session: &Session, params: &Value, report: &mut Report) -> Result<Option<Value>, Failed> {
        let result = self.fetch_list(session, params, report).await?;
        let listing = Listing::read(&result)?;
        session.learn(&listing.heads()?);
        Ok(listing.next_cursor.filter(|c| !c.is_null()))
    }

    /// `tools/call`: judged by the engine, then forwarded, refused or held for approval.
    async fn call(
        &self,
        session: &Session,
        mut params: Value,
        progress: Option<mpsc::Sender<Reply>>,
        report: &mut Report,
    ) -> Result<Value, Failed> {
        let Some(tool) = params.get("name").and_then(Value::as_str).map(str::to_owned) else {
            return Err(Failed::Rpc(INVALID_PARAMS, "params.name (the tool) is required".into()));
        };
        report.tool = Some(tool.clone());
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => return Err(Failed::Rpc(INVALID_PARAMS, "params.arguments must be an object".into())),
        };
        let action_type = match session.action_type(&tool) {
            Some(kind) => kind,
            None => {
                // Not listed yet in this session: the server's list says what it is, page
                // after page until the tool is found.
                let mut cursor = Value::Null;
                for _ in 0..MAX_LIST_PAGES {
                    let params = if cursor.is_null() { json!({}) } else { json!({"cursor": cursor}) };
                    cursor = self.list_page(session, &params, report).await?.unwrap_or(Value::Null);
                    if session.action_type(&tool).is_some() || cursor.is_null() {
                        break;
                    }
                }
                session.action_type(&tool).ok_or_else(|| {
                    Failed::Rpc(INVALID_PARAMS, format!("the server {} has no tool named {tool:?}", self.server))
                })?
            }
        };
        let task = task(self.headers)?;
        let agent_id = self.actor.agent_id().unwrap_or_default();
        let action =
            SecurityAction { agent_id, task_id: task, tool: policy_name(self.server, &tool), action_type, arguments };
        let engine = self.gateway.engine();
        let evaluated = engine.evaluate(self.actor, self.audit(), action, None).await.map_err(Failed::engine)?;
        let record = &evaluated.record;
        report.verdict = Some(record.verdict);
        report.evaluation = Some(record.id);
        let refusal = match record.action {
            Verdict::Allow => None,
            Verdict::Deny => {
                report.outcome = ToolOutcome::Denied;
                Some(format!("synthorg denied this tool call: {} (evaluation {})", record.reason, record.id))
            }
            Verdict::Escalate | Verdict::OutputScan => match record.approval_id {
                None => {
                    report.outcome = ToolOutcome::Denied;
                    Some(format!("synthorg did not allow this tool call (evaluation {})", record.id))
                }
                Some(approval) => {
                    let token = params.pointer("/_meta/progressToken").cloned();
                    let waiting = Instant::now();
                    let (outcome, refusal) = self.wait(approval, progress.as_ref().zip(token)).await?;
                    report.waited = waiting.elapsed();
                    report.outcome = outcome;
                    refusal
                }
            },
        };
        if let Some(refusal) = refusal {
            return Ok(json!({"content": [{"type": "text", "text": refusal}], "isError": true}));
        }
        if progress.as_ref().is_some_and(mpsc::Sender::is_closed) {
            // The client went away while the call waited: nothing is forwarded.
            return Err(Failed::Rpc(INTERNAL_ERROR, "the client went away".into()));
        }
        strip_envelope(&mut params);
        let result = report.upstream(engine, session, "tools/call", params).await.map_err(Failed::Upstream)?;
        let mut result: Value = serde_json::from_str(result.get())
            .map_err(|e| Failed::Upstream(LinkError::Protocol(format!("a tool result that is not JSON: {e}"))))?;
        self.scan(&mut result, task).await?;
        Ok(result)
    }

    /// Waits for approval `id`'s decision: how it ended, and the refusal unless approved.
    async fn wait(
        &self,
        approval: Uuid,
        progress: Option<(&mpsc::Sender<Reply>, Value)>,
    ) -> Result<(ToolOutcome, Option<String>), Failed> {
        let limit = self.gateway.tools().settings.approval_wait;
        let engine = self.gateway.engine();
        let started = Instant::now();
        let decided = match progress {
            None => engine.await_decision(self.actor, approval, limit).await.map_err(Failed::engine)?,
            Some((sender, token)) => loop {
                // Told at once, then every few seconds, until the decision or the limit.
                let note = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": token,
                        "progress": started.elapsed().as_secs_f64().floor(),
                        "total": limit.as_secs_f64(),
                        "message": format!("waiting for approval {approval}"),
                    },
                });
                let _ = sender.send(note.into()).await;
                let step = limit.saturating_sub(started.elapsed()).min(PROGRESS_EVERY);
                let decided = engine.await_decision(self.actor, approval, step).await.map_err(Failed::engine)?;
                if decided.status != ApprovalStatus::Pending || started.elapsed() >= limit || sender.is_closed() {
                    break decided;
                }
            },
        };
        Ok(match decided.status {
            ApprovalStatus::Approved => (ToolOutcome::Approved, None),
            ApprovalStatus::Rejected => (
                ToolOutcome::Rejected,
                Some(format!(
                    "synthorg: approval {} was rejected{}",
                    decided.id,
                    decided.decision_note.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
                )),
            ),
            _ => (
                ToolOutcome::Unanswered,
                Some(format!(
                    "synthorg: this tool call needs approval {} ({}), not decided within {}s; it was not run",
                    decided.id,
                    decided.reason,
                    limit.as_secs()
                )),
            ),
        })
    }

    /// Scans the result's texts (its text content, and every string of its structured
    /// content); replaces what was found by `[REDACTED]` when so configured.
    async fn scan(&self, result: &mut Value, task: Option<Uuid>) -> Result<(), Failed> {
        let mut texts: Vec<String> = Vec::new();
        visit_texts(result, &mut |text| texts.push(text.clone()));
        if texts.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let scans = self
            .gateway
            .engine()
            .scan_tool_result(self.actor, self.audit(), task, &refs)
            .await
            .map_err(Failed::engine)?;
        if !self.gateway.tools().settings.redact_results || !scans.iter().any(|s| s.sensitive_data_found) {
            return Ok(());
        }
        let mut scans = scans.into_iter();
        visit_texts(result, &mut |text| {
            if let Some(scan) = scans.next()
                && scan.sensitive_data_found
            {
                *text = scan.redacted_output;
            }
        });
        Ok(())
    }

    fn audit(&self) -> AuditContext {
        AuditContext::new(self.actor, context::current_request_id(), context::current().map(|t| t.trace_id_hex()))
    }
}

/// Most pages of a server's tool list read to find a tool called before it was listed.
const MAX_LIST_PAGES: usize = 50;

/// A page of a server's tool list: the tools as the server wrote them.
#[derive(serde::Deserialize)]
struct Listing<'a> {
    #[serde(borrow)]
    tools: Vec<&'a RawValue>,
    #[serde(rename = "nextCursor", default)]
    next_cursor: Option<Value>,
}

impl<'a> Listing<'a> {
    fn read(result: &'a RawValue) -> Result<Self, Failed> {
        serde_json::from_str(result.get())
            .map_err(|e| Failed::Upstream(LinkError::Protocol(format!("a tool list without tools: {e}"))))
    }

    /// Each tool's name and hints.
    fn heads(&self) -> Result<Vec<ToolHead>, Failed> {
        self.tools
            .iter()
            .map(|t| serde_json::from_str::<ToolHead>(t.get()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failed::Upstream(LinkError::Protocol(format!("a tool that is not a tool: {e}"))))
    }
}

/// How often a waiting call tells its client it still waits.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Every text of a tool result the scan reads, in one fixed order: the `text` of each
/// content item, then each string of the structured content, depth first.
fn visit_texts(result: &mut Value, visit: &mut dyn FnMut(&mut String)) {
    fn strings(value: &mut Value, visit: &mut dyn FnMut(&mut String)) {
        match value {
            Value::String(s) => visit(s),
            Value::Array(items) => items.iter_mut().for_each(|v| strings(v, visit)),
            Value::Object(fields) => fields.values_mut().for_each(|v| strings(v, visit)),
            _ => {}
        }
    }
    if let Some(Value::Array(content)) = result.get_mut("content") {
        for item in content {
            if let Some(Value::String(text)) = item.get_mut("text") {
                visit(text);
            }
        }
    }
    if let Some(structured) = result.get_mut("structuredContent") {
        strings(structured, visit);
    }
}

/// A tool's name in the policy: `<server>.<tool>`.
pub(crate) fn policy_name(server: &str, tool: &str) -> String {
    format!("{server}.{tool}")
}

/// The stateless revision's envelope keys are the gateway's, not the upstream's.
fn strip_envelope(params: &mut Value) {
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
    }
}

/// Why a request failed.
enum Failed {
    /// An error of the gateway's own.
    Rpc(i64, String),
    /// The upstream failed (or answered an error, passed on as it is).
    Upstream(LinkError),
}

impl Failed {
    fn engine(e: EngineError) -> Self {
        match e {
            EngineError::Store(StoreError::Domain(synthorg_core::DomainError::Invalid(fields))) => {
                Failed::Rpc(INVALID_PARAMS, fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            }
            EngineError::Store(StoreError::Domain(synthorg_core::DomainError::Forbidden(m))) => {
                Failed::Rpc(INVALID_PARAMS, m)
            }
            EngineError::Store(e @ StoreError::NotFound { .. }) => Failed::Rpc(INVALID_PARAMS, e.to_string()),
            EngineError::Unauthenticated(m) => Failed::Rpc(UNAUTHENTICATED, m.to_owned()),
            other => {
                tracing::error!(error = %other, "mcp request failed");
                Failed::Rpc(INTERNAL_ERROR, "internal error".into())
            }
        }
    }
}

impl From<crate::error::GatewayError> for Failed {
    fn from(e: crate::error::GatewayError) -> Self {
        Failed::Rpc(INVALID_PARAMS, e.message)
    }
}

/// The task a call is for, from [`TASK_HEADER`].
fn task(headers: &HeaderMap) -> Result<Option<Uuid>, Failed> {
    let Some(value) = headers.get(TASK_HEADER) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| Failed::Rpc(INVALID_PARAMS, format!("{TASK_HEADER} must be a task id (a UUID)")))
}

fn open_failed(id: &Value, e: &OpenError) -> Value {
    tracing::warn!(error = %e, "mcp session not opened");
    error(id, UPSTREAM_ERROR, e.to_string())
}

/// A session id: a random (v4) UUID, 122 random bits, as hex.
fn new_session_id() -> String {
    Uuid::new_v4().simple().to_string()
}
