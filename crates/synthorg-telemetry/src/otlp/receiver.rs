//! An exact-count OTLP/HTTP receiver of logs, traces and metrics for tests and benchmarks
//! (feature `receiver`): decodes every `ExportLogsServiceRequest`, on `/v1/traces` every
//! `ExportTraceServiceRequest` and on `/v1/metrics` every `ExportMetricsServiceRequest`
//! (protobuf or JSON, gzip or not) with the official message definitions, counts each signal
//! apart (metrics in data points), and answers from a script: accept, a status (with
//! `Retry-After`), partial success, no answer at all, or a dropped connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::oneshot;

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with an empty `ExportLogsServiceResponse`: every record delivered.
    Accept,
    /// This status, with this `Retry-After` value when given; nothing delivered.
    Status(u16, Option<String>),
    /// 200 with a partial success rejecting this many records.
    Partial(i64),
    /// Never answers (the connection stays open).
    Hang,
    /// Closes the connection without an answer.
    Close,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    /// Records in requests answered with success, minus those rejected.
    delivered: u64,
    /// Records in every decoded request, whatever the answer.
    seen: u64,
    requests: u64,
    replies: Vec<Reply>,
    requests_kept: Vec<ExportLogsServiceRequest>,
    keep: bool,
    /// Spans, counted like records; trace requests are always kept.
    spans_delivered: u64,
    spans_seen: u64,
    traces_kept: Vec<ExportTraceServiceRequest>,
    /// Data points, counted like records; metric requests are always kept.
    points_delivered: u64,
    points_seen: u64,
    metrics_kept: Vec<ExportMetricsServiceRequest>,
    content_types: Vec<String>,
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub fn start() -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0".parse().map_err(std::io::Error::other)?)
    }

    /// Listens on a free loopback port over TLS with this certificate chain and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> std::io::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(std::io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::listen("127.0.0.1:0".parse().map_err(std::io::Error::other)?, Some(acceptor))
    }

    /// Listens on this address (a test may bring a collector back on a known port).
    pub fn bind(address: SocketAddr) -> std::io::Result<Self> {
        Self::listen(address, None)
    }

    fn listen(address: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State { default: Some(Reply::Accept), ..State::default() }));
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("otlp-receiver".into()).spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(serve(listener, shared, stop_rx, tls));
        })?;
        Ok(Self { address, state, stop: Some(stop_tx), thread: Some(thread) })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replies for the next requests, in order; then the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// Keep every decoded request for inspection.
    pub fn keep_requests(&self) {
        self.lock().keep = true;
    }

    /// Records accepted (answered 2xx and not rejected).
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Records decoded, whatever the answer.
    pub fn seen(&self) -> u64 {
        self.lock().seen
    }

    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// The replies given, in order.
    pub fn replies(&self) -> Vec<Reply> {
        self.lock().replies.clone()
    }

    pub fn content_types(&self) -> Vec<String> {
        self.lock().content_types.clone()
    }

    /// The kept requests (see [`Self::keep_requests`]).
    pub fn kept(&self) -> Vec<ExportLogsServiceRequest> {
        self.lock().requests_kept.clone()
    }

    /// Spans in trace requests answered with success, minus those rejected.
    pub fn delivered_spans(&self) -> u64 {
        self.lock().spans_delivered
    }

    /// Spans in every decoded trace request, whatever the answer.
    pub fn seen_spans(&self) -> u64 {
        self.lock().spans_seen
    }

    /// Every decoded trace request.
    pub fn kept_traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.lock().traces_kept.clone()
    }

    /// Every span of the decoded trace requests, in arrival order.
    pub fn spans(&self) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        let requests = self.kept_traces().into_iter();
        requests.flat_map(|r| r.resource_spans).flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect()
    }

    /// Every metric of the decoded metric requests, in arrival order.
    pub fn metrics(&self) -> Vec<opentelemetry_proto::tonic::metrics::v1::Metric> {
        let requests = self.kept_metrics().into_iter();
        requests.flat_map(|r| r.resource_metrics).flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics).collect()
    }

    /// Data points in metric requests answered with success, minus those rejected.
    pub fn delivered_points(&self) -> u64 {
        self.lock().points_delivered
    }

    /// Data points in every decoded metric request, whatever the answer.
    pub fn seen_points(&self) -> u64 {
        self.lock().points_seen
    }

    /// Every decoded metric request.
    pub fn kept_metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.lock().metrics_kept.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stop: oneshot::Receiver<()>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&state)));
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

/// A decoded request of one signal.
enum Decoded {
    Logs(ExportLogsServiceRequest),
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

/// The data points of a metric request, of every metric type.
pub fn data_points(request: &ExportMetricsServiceRequest) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
}

fn decode(path: &str, content_type: &str, encoding: Option<&str>, body: &[u8]) -> Option<Decoded> {
    let body = match encoding {
        Some("gzip") => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).ok()?;
            out
        }
        _ => body.to_vec(),
    };
    let json = content_type.starts_with("application/json");
    if path.ends_with("/v1/traces") {
        return match json {
            true => serde_json::from_slice(&body).ok(),
            false => ExportTraceServiceRequest::decode(body.as_slice()).ok(),
        }
        .map(Decoded::Traces);
    }
    if path.ends_with("/v1/metrics") {
        return match json {
            true => serde_json::from_slice(&body).ok(),
            false => ExportMetricsServiceRequest::decode(body.as_slice()).ok(),
        }
        .map(Decoded::Metrics);
    }
    match json {
        true => serde_json::from_slice(&body).ok(),
        false => ExportLogsServiceRequest::decode(body.as_slice()).ok(),
    }
    .map(Decoded::Logs)
}

fn count(request: &ExportLogsServiceRequest) -> u64 {
    request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len() as u64).sum()
}

#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed by the script")
    }
}

impl std::error::Error for Closed {}

async fn handle(
    request: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, Closed> {
    let content_type =
        request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let encoding = request.headers().get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map_err(|_| Closed)?.to_bytes();
    let decoded = decode(&path, &content_type, encoding.as_deref(), &body);
    let signal = match decoded {
        Some(Decoded::Traces(_)) => "traces",
        Some(Decoded::Metrics(_)) => "metrics",
        _ => "logs",
    };
    let reply = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        s.content_types.push(content_type.clone());
        let Some(decoded) = decoded else {
            s.replies.push(Reply::Status(400, None));
            return Ok(respond(400, None, Bytes::from_static(b"cannot decode")));
        };
        let n = match &decoded {
            Decoded::Logs(request) => count(request),
            Decoded::Traces(request) => {
                request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
            }
            Decoded::Metrics(request) => data_points(request),
        };
        let reply = s.script.pop_front().or_else(|| s.default.clone()).unwrap_or(Reply::Accept);
        let delivered = match &reply {
            Reply::Accept => n,
            Reply::Partial(rejected) => n.saturating_sub((*rejected).max(0) as u64),
            _ => 0,
        };
        match decoded {
            Decoded::Logs(request) => {
                s.seen += n;
                s.delivered += delivered;
                if s.keep {
                    s.requests_kept.push(request);
                }
            }
            Decoded::Traces(request) => {
                s.spans_seen += n;
                s.spans_delivered += delivered;
                s.traces_kept.push(request);
            }
            Decoded::Metrics(request) => {
                s.points_seen += n;
                s.points_delivered += delivered;
                s.metrics_kept.push(request);
            }
        }
        s.replies.push(reply.clone());
        reply
    };
    let json = content_type.starts_with("application/json");
    match reply {
        Reply::Accept => Ok(respond(200, None, success(None, json, signal))),
        Reply::Partial(rejected) => Ok(respond(200, None, success(Some(rejected), json, signal))),
        Reply::Status(status, retry_after) => Ok(respond(status, retry_after, Bytes::new())),
        Reply::Hang => {
            std::future::pending::<()>().await;
            Err(Closed)
        }
        Reply::Close => Err(Closed),
    }
}

/// The signal's success answer, with a partial success rejecting `rejected` records.
fn success(rejected: Option<i64>, json: bool, signal: &str) -> Bytes {
    const WHY: &str = "rejected by the test receiver";
    let error_message = || WHY.to_owned();
    match signal {
        "metrics" => encode_answer(
            &ExportMetricsServiceResponse {
                partial_success: rejected.map(|rejected_data_points| ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message: error_message(),
                }),
            },
            json,
            serde_json::to_vec,
        ),
        "traces" => encode_answer(
            &ExportTraceServiceResponse {
                partial_success: rejected
                    .map(|rejected_spans| ExportTracePartialSuccess { rejected_spans, error_message: error_message() }),
            },
            json,
            serde_json::to_vec,
        ),
        _ => encode_answer(
            &ExportLogsServiceResponse {
                partial_success: rejected.map(|rejected_log_records| ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message: error_message(),
                }),
            },
            json,
            serde_json::to_vec,
        ),
    }
}

/// An answer in the request's encoding (the JSON bytes made by the caller, who knows the type).
fn encode_answer<M: Message>(answer: &M, json: bool, to_json: fn(&M) -> serde_json::Result<Vec<u8>>) -> Bytes {
    match json {
        true => Bytes::from(to_json(answer).unwrap_or_default()),
        false => Bytes::from(answer.encode_to_vec()),
    }
}

fn respond(status: u16, retry_after: Option<String>, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(value) = retry_after.and_then(|v| hyper::header::HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, value);
    }
    response
}
