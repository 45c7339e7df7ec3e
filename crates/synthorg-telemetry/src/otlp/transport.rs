//! The exporter's HTTP/1.1 client: one kept-alive connection, opened only to addresses the
//! endpoint policy admits at connect time, over TLS (rustls) for `https` endpoints. No
//! redirects are followed and no proxy variable is read (hyper's connection API does
//! neither), requests carry the configured headers, and at most 4 MiB of an answer is read.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::endpoint::{CheckedEndpoint, EndpointPolicy, Resolver};

/// Most of an answer that is read.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// What the collector answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The endpoint now resolves to a forbidden address: never retried.
    Forbidden(String),
    /// Resolution, connection, I/O or protocol failure, or no answer in time: retryable.
    Connection(String),
}

/// The TLS client of `https` endpoints: the system's trust store plus extra CA
/// certificates (PEM), TLS 1.2 and 1.3, ALPN `http/1.1`.
pub(crate) fn tls_connector(extra_ca_pem: Option<&[u8]>) -> Result<TlsConnector, crate::tls::TlsError> {
    crate::tls::client_config(extra_ca_pem, &[b"http/1.1"]).map(TlsConnector::from)
}

/// Why the exporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("header {name}: {problem}")]
    Header { name: String, problem: String },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the endpoint cannot be verified as a TLS server name: {0}")]
    ServerName(String),
    #[error("an https endpoint needs a TLS client")]
    NoTlsClient,
    #[error("cannot start the exporter's {what}: {cause}")]
    Thread { what: &'static str, cause: String },
}

pub(crate) struct Transport {
    endpoint: CheckedEndpoint,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    policy: EndpointPolicy,
    resolver: Arc<dyn Resolver>,
    headers: Vec<(HeaderName, HeaderValue)>,
    content_type: HeaderValue,
    gzip: bool,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Transport {
    pub(super) fn new(
        endpoint: CheckedEndpoint,
        policy: EndpointPolicy,
        resolver: Arc<dyn Resolver>,
        headers: Vec<(HeaderName, HeaderValue)>,
        content_type: &'static str,
        gzip: bool,
        tls: Option<TlsConnector>,
    ) -> Result<Self, StartError> {
        let tls = match (endpoint.logs_url.scheme(), tls) {
            ("https", Some(connector)) => {
                let host =
                    endpoint.logs_url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| StartError::ServerName(format!("{host}: {e}")))?;
                Some((connector, name))
            }
            ("https", None) => return Err(StartError::NoTlsClient),
            _ => None,
        };
        Ok(Self {
            endpoint,
            tls,
            policy,
            resolver,
            headers,
            content_type: HeaderValue::from_static(content_type),
            gzip,
            connection: None,
        })
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let addresses = self
            .policy
            .resolve_for_connect(&self.endpoint, self.resolver.as_ref())
            .map_err(|e| SendError::Forbidden(e.to_string()))?;
        let mut last = String::from("no address");
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let handshake =
                        |e: hyper::Error| SendError::Connection(format!("HTTP handshake with {address}: {e}"));
                    let sender = match &self.tls {
                        Some((connector, name)) => {
                            let stream = connector
                                .connect(name.clone(), stream)
                                .await
                                .map_err(|e| SendError::Connection(format!("TLS with {address}: {e}")))?;
                            let (sender, connection) =
                                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(handshake)?;
                            tokio::spawn(async move {
                                let _ = connection.await;
                            });
                            sender
                        }
                        None => {
                            let (sender, connection) =
                                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(handshake)?;
                            tokio::spawn(async move {
                                let _ = connection.await;
                            });
                            sender
                        }
                    };
                    return Ok(sender);
                }
                Err(e) => last = format!("cannot connect to {address}: {e}"),
            }
        }
        Err(SendError::Connection(last))
    }

    /// POSTs one body, with `timeout` for the whole exchange.
    pub(super) async fn send(&mut self, body: Bytes, timeout: Duration) -> Result<Answer, SendError> {
        match tokio::time::timeout(timeout, self.exchange(body)).await {
            Ok(result) => {
                if result.is_err() {
                    self.connection = None;
                }
                result
            }
            Err(_) => {
                self.connection = None;
                Err(SendError::Connection(format!("no answer within {} ms", timeout.as_millis())))
            }
        }
    }

    async fn exchange(&mut self, body: Bytes) -> Result<Answer, SendError> {
        let mut sender = match self.connection.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(|e| SendError::Connection(format!("connection lost: {e}")))?;
        let url = &self.endpoint.logs_url;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut request = hyper::Request::post(url.path())
            .header(HOST, host)
            .header(CONTENT_TYPE, self.content_type.clone())
            .header(USER_AGENT, concat!("synthorg/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body))
            .map_err(|e| SendError::Connection(format!("cannot build the request: {e}")))?;
        if self.gzip {
            request.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let response =
            sender.send_request(request).await.map_err(|e| SendError::Connection(format!("request failed: {e}")))?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
        // An answer larger than the cap is not read further; the connection is not reused.
        let (body, reusable) = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect().await {
            Ok(collected) => (collected.to_bytes(), true),
            Err(_) => (Bytes::new(), false),
        };
        if reusable {
            self.connection = Some(sender);
        }
        Ok(Answer { status, retry_after, body })
    }
}

/// `Retry-After` as seconds or an HTTP date, relative to now.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("-1"), None);
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120), "{d:?}");
    }
}
