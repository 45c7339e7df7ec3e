//! The client of one upstream provider: pooled HTTP/1.1 connections (hyper's client), opened
//! only to addresses the provider's endpoint policy admits at connect time (so a DNS change
//! cannot reach a private or metadata address), over TLS (rustls, the system's roots) for
//! `https`. No redirect is followed and no proxy variable is read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Uri;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use synthorg_telemetry::otlp::endpoint::{CheckedEndpoint, EndpointPolicy, Resolver, SystemResolver};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::provider::{Provider, ProviderKind, Secret};

/// Most of a non-streamed answer that is read (a chat answer is kilobytes; embeddings of a
/// large batch are megabytes).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Why an upstream call got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No answer within the provider's timeout.
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection, TLS or protocol failure, or a refused address. The message names no key.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The answer was larger than [`MAX_ANSWER_BYTES`].
    #[error("the provider's answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// What the provider answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: hyper::StatusCode,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

/// The pooled client of one upstream: a provider, or an MCP server over HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    client: Client<Connector, Full<Bytes>>,
    endpoint: CheckedEndpoint,
    /// Sent with every request: the key and configured headers, marked sensitive.
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    timeout: Duration,
}

impl Upstream {
    /// A client for `provider`, which has an endpoint (not `simulated`), sending its key —
    /// `Authorization: Bearer` for OpenAI's API, `x-api-key` for Anthropic's — and its
    /// configured headers.
    pub(crate) fn for_provider(provider: &Provider, tls: TlsConnector) -> Option<Self> {
        let endpoint = provider.endpoint.clone()?;
        let mut headers = Vec::new();
        if let Some(key) = &provider.api_key {
            let (name, value) = match provider.kind {
                ProviderKind::Anthropic => (HeaderName::from_static("x-api-key"), key.expose().to_owned()),
                _ => (hyper::header::AUTHORIZATION, format!("Bearer {}", key.expose())),
            };
            // A key that is not a valid header value is sent as nothing; the provider says 401.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.push((name, value));
            }
        }
        headers.extend(sensitive(&provider.headers));
        Some(Self::new(endpoint, provider.policy.clone(), headers, provider.timeout, tls))
    }

    /// A client for `endpoint`, admitted by `policy` at every connect, sending `headers`.
    pub(crate) fn new(
        endpoint: CheckedEndpoint,
        policy: EndpointPolicy,
        headers: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
        tls: TlsConnector,
    ) -> Self {
        let connector = Connector { endpoint: endpoint.clone(), policy, resolver: Arc::new(SystemResolver), tls };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        let headers = headers
            .into_iter()
            .map(|(name, mut value)| {
                value.set_sensitive(true);
                (name, value)
            })
            .collect();
        Self { client, endpoint, headers: Arc::new(headers), timeout }
    }

    /// POSTs `body` (JSON) to `{base_url}{path}` with the provider's key and headers, and
    /// reads the whole answer.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Bytes,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, UpstreamError> {
        let timeout = self.timeout;
        let call = async {
            let response = self.send(path, body, extra).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    UpstreamError::TooLarge
                } else {
                    UpstreamError::Unreachable(format!("reading the answer: {e}"))
                }
            })?;
            Ok(Answer { status: parts.status, headers: parts.headers, body: body.to_bytes() })
        };
        tokio::time::timeout(timeout, call).await.map_err(|_| UpstreamError::Timeout(timeout))?
    }

    /// POSTs `body` and returns once the answer's head arrived (within the provider's
    /// timeout); its body is read by the caller, as it streams.
    pub(crate) async fn open(
        &self,
        path: &str,
        body: Bytes,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Response<Incoming>, UpstreamError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.send(path, body, extra))
            .await
            .map_err(|_| UpstreamError::Timeout(timeout))?
    }

    /// The provider's timeout, which also bounds the wait for each chunk of a stream.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a POST with the upstream's headers and `extra` (the client's protocol headers
    /// the door passes on, such as `anthropic-version`).
    async fn send(
        &self,
        path: &str,
        body: Bytes,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Response<Incoming>, UpstreamError> {
        self.request(hyper::Method::POST, path, body, extra).await
    }

    /// Sends a request of any method to `{url}{path}`, returning once its head arrived.
    pub(crate) async fn request(
        &self,
        method: hyper::Method,
        path: &str,
        body: Bytes,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Response<Incoming>, UpstreamError> {
        let url = format!("{}{path}", self.endpoint.logs_url.as_str().trim_end_matches('/'));
        let uri: Uri = url.parse().map_err(|e| UpstreamError::Unreachable(format!("bad URL: {e}")))?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("synthorg/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let headers = request.headers_mut();
        for (name, value) in extra {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        self.client.request(request).await.map_err(|e| UpstreamError::Unreachable(describe(&e)))
    }
}

/// Configured headers (checked when the configuration loaded) as header values.
pub(crate) fn sensitive(headers: &[(String, Secret)]) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            Some((HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_str(value.expose()).ok()?))
        })
        .collect()
}

/// The error and its causes, without the request (which could hold a header).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Opens connections to the provider's checked endpoint only.
#[derive(Clone)]
struct Connector {
    endpoint: CheckedEndpoint,
    policy: EndpointPolicy,
    resolver: Arc<dyn Resolver>,
    tls: TlsConnector,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("host", &self.endpoint.host()).finish_non_exhaustive()
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let endpoint = this.endpoint.clone();
            let (policy, resolver) = (this.policy.clone(), Arc::clone(&this.resolver));
            // Resolution may block (getaddrinfo): off the async worker.
            let addresses =
                tokio::task::spawn_blocking(move || policy.resolve_for_connect(&endpoint, resolver.as_ref()))
                    .await
                    .map_err(io::Error::other)?
                    .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?;
            let mut last = None;
            let mut stream = None;
            for address in addresses {
                match TcpStream::connect(address).await {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let tcp = stream.ok_or_else(|| last.unwrap_or_else(|| io::Error::other("no address")))?;
            let _ = tcp.set_nodelay(true);
            if this.endpoint.logs_url.scheme() != "https" {
                return Ok(Conn(TokioIo::new(Stream::Plain(tcp))));
            }
            let name = ServerName::try_from(this.endpoint.host().to_owned())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let tls = this.tls.connect(name, tcp).await?;
            Ok(Conn(TokioIo::new(Stream::Tls(Box::new(tls)))))
        })
    }
}

/// A connection to a provider, plain or TLS.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The connection as hyper's client takes it.
#[derive(Debug)]
struct Conn(TokioIo<Stream>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
