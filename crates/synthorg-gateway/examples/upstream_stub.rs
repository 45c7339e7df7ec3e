//! A fast stand-in for an OpenAI-compatible provider, for `bench/gateway.sh`: it answers
//! `POST /v1/chat/completions` at once with a fixed completion and its `usage`, or with
//! `"stream": true` with 16 content chunks, the usage chunk and `[DONE]`, so that what a
//! benchmark measures is the proxy in front of it, not the model.
//!
//!   cargo run --release -p synthorg-gateway --example upstream_stub -- PORT

#![allow(clippy::unwrap_used)] // A benchmark tool: any failure is fatal and loud.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const ANSWER: &str = r#"{"id":"chatcmpl-stub","object":"chat.completion","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"message":{"role":"assistant","content":"A short answer from the stub."},"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":8,"total_tokens":33,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;

fn stream() -> String {
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let mut body = chunk(r#"{"role":"assistant","content":""}"#, "null");
    for i in 0..16 {
        body.push_str(&chunk(&format!("{{\"content\":\"w{i} \"}}"), "null"));
    }
    body.push_str(&chunk("{}", "\"stop\""));
    body.push_str("data: {\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":16,\"total_tokens\":41}}\n\ndata: [DONE]\n\n");
    body
}

async fn answer(request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let streamed = body.windows(13).any(|w| w == b"\"stream\":true");
    let (kind, text) = match streamed {
        true => ("text/event-stream", stream()),
        false => ("application/json", ANSWER.to_owned()),
    };
    Ok(Response::builder().header("content-type", kind).body(Full::new(Bytes::from(text))).unwrap())
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("port={}", listener.local_addr().unwrap().port());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
}
