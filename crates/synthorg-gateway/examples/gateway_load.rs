//! An open-loop load generator for `bench/gateway.sh`: sends chat completions at a fixed
//! rate (each request at its scheduled time, however long earlier ones take, so a stalled
//! server cannot slow the load down; timed from when it is sent, since the timer wakes up to a
//! millisecond late), or flat out over a number of connections, and prints one line of JSON: the rate achieved, errors, latency percentiles
//! and, for streams, the time to the first chunk.
//!
//!   gateway_load URL KEY RATE SECONDS [whole|stream|mcp-call|mcp-list] [connections]   (RATE 0: flat out)
//!
//! `mcp-call` and `mcp-list` send MCP `tools/call` / `tools/list` requests instead (for
//! `bench/mcp.sh`), on a session opened with `initialize` first.

#![allow(clippy::unwrap_used)] // A benchmark tool: any failure is fatal and loud.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Default)]
struct Tally {
    total: Vec<f64>,
    first: Vec<f64>,
    errors: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, key) = (args[1].clone(), args[2].clone());
    let rate: f64 = args[3].parse().unwrap();
    let seconds: f64 = args[4].parse().unwrap();
    let mode = args.get(5).map_or("whole", String::as_str);
    let streamed = mode == "stream";
    let connections: usize = args.get(6).and_then(|c| c.parse().ok()).unwrap_or(64);
    let body = match mode {
        "mcp-call" => r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"tool_0","arguments":{"path":"records/2026/12/report.txt"}}}"#.to_owned(),
        "mcp-list" => r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#.to_owned(),
        _ => format!(
            r#"{{"model":"gpt-4.1-mini","max_tokens":64,"stream":{streamed},"messages":[{{"role":"user","content":"Say something short about the weather in Paris today."}}]}}"#
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let session = mode.starts_with("mcp-").then(|| runtime.block_on(mcp_session(&url, &key)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    runtime.block_on(async {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build(connector);
        let shared = Arc::new((url, format!("Bearer {key}"), Bytes::from(body), session));
        let tally_of_all = Arc::clone(&tally);
        let one = move |client: Client<HttpConnector, Full<Bytes>>| {
            let (shared, tally) = (Arc::clone(&shared), Arc::clone(&tally_of_all));
            async move {
                let sent = Instant::now();
                let (url, auth, body, session) = &*shared;
                let mut request = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("authorization", auth.as_str());
                if let Some(session) = session {
                    request = request.header("mcp-session-id", session.as_str());
                }
                let request = request.body(Full::new(body.clone())).unwrap();
                let outcome = tokio::time::timeout(Duration::from_secs(10), async {
                    let response = client.request(request).await.map_err(|_| ())?;
                    // An MCP answer is a success unless it is a JSON-RPC error.
                    let ok = response.status().is_success();
                    let mut body = response.into_body();
                    let mut first = None;
                    let mut failed = false;
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|_| ())?;
                        if let Some(data) = frame.data_ref() {
                            if !data.is_empty() && first.is_none() {
                                first = Some(sent.elapsed());
                            }
                            failed |= data.windows(9).any(|w| w == b"\"error\":{");
                        }
                    }
                    Ok::<_, ()>((ok && !failed, first))
                })
                .await;
                let mut tally = tally.lock().unwrap();
                match outcome {
                    Ok(Ok((true, first))) => {
                        tally.total.push(sent.elapsed().as_secs_f64() * 1e3);
                        if let Some(first) = first {
                            tally.first.push(first.as_secs_f64() * 1e3);
                        }
                    }
                    _ => tally.errors += 1,
                }
            }
        };
        let deadline = started + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        if rate > 0.0 {
            let gap = Duration::from_secs_f64(1.0 / rate);
            let mut next = Instant::now();
            while next < deadline {
                tokio::time::sleep_until(next.into()).await;
                tasks.push(tokio::spawn(one(client.clone())));
                next += gap;
            }
        } else {
            for _ in 0..connections {
                let (client, one) = (client.clone(), one.clone());
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        one(client.clone()).await;
                    }
                }));
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut tally = tally.lock().unwrap();
    tally.total.sort_by(f64::total_cmp);
    tally.first.sort_by(f64::total_cmp);
    println!(
        r#"{{"rate":{rate},"achieved":{:.1},"ok":{},"errors":{},"p50_ms":{:.3},"p99_ms":{:.3},"first_p50_ms":{:.3},"first_p99_ms":{:.3}}}"#,
        tally.total.len() as f64 / elapsed,
        tally.total.len(),
        tally.errors,
        percentile(&tally.total, 0.5),
        percentile(&tally.total, 0.99),
        percentile(&tally.first, 0.5),
        percentile(&tally.first, 0.99),
    );
}

/// Opens an MCP session at `url` (`initialize`, then `notifications/initialized`): its id.
async fn mcp_session(url: &str, key: &str) -> String {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let send = |body: &'static str, session: Option<String>| {
        let mut request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {key}"));
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        client.request(request.body(Full::new(Bytes::from(body))).unwrap())
    };
    let response = send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}"#,
        None,
    )
    .await
    .unwrap();
    let session = response.headers().get("mcp-session-id").unwrap().to_str().unwrap().to_owned();
    let _ = response.into_body().collect().await;
    let done = send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, Some(session.clone())).await.unwrap();
    let _ = done.into_body().collect().await;
    session
}
