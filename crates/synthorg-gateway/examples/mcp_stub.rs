//! A fast stand-in for an MCP server over Streamable HTTP, for `bench/mcp.sh`: it answers
//! `initialize` (session `stub`), `tools/list` with TOOLS tools (half read-only, half not) and
//! `tools/call` at once with a short text result, all as JSON, so that what a benchmark
//! measures is the gateway in front of it, not the tool.
//!
//!   cargo run --release -p synthorg-gateway --example mcp_stub -- PORT [TOOLS]

#![allow(clippy::unwrap_used)] // A benchmark tool: any failure is fatal and loud.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

async fn answer(
    request: Request<hyper::body::Incoming>,
    tools: Arc<Value>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return Ok(Response::builder().status(StatusCode::ACCEPTED).body(Full::new(Bytes::new())).unwrap());
    };
    let result = match message.get("method").and_then(Value::as_str) {
        Some("initialize") => json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "stub", "version": "1"},
        }),
        Some("tools/list") => (*tools).clone(),
        Some("tools/call") => json!({"content": [{"type": "text", "text": "ok"}], "isError": false}),
        _ => json!({}),
    };
    let text = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("mcp-session-id", "stub")
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let count: usize = std::env::args().nth(2).and_then(|p| p.parse().ok()).unwrap_or(500);
    let tools: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "name": format!("tool_{i}"),
                "description": format!("Tool number {i}, which reads or writes a record."),
                "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
                "annotations": {"readOnlyHint": i % 2 == 0},
            })
        })
        .collect();
    let tools = Arc::new(json!({"tools": tools}));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("port={}", listener.local_addr().unwrap().port());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let tools = Arc::clone(&tools);
            tokio::spawn(async move {
                let service = service_fn(move |r| answer(r, Arc::clone(&tools)));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
