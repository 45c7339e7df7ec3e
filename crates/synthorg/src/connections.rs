//! The HTTP/1.1 server loop: accepting connections up to a cap, and closing the ones that
//! hold resources without using them.
//!
//! Each connection has a watchdog that knows, from its socket and its requests, what the
//! connection is doing:
//! - waiting for the first byte of a request (fresh, or idle after a response): closed after
//!   `idle_timeout`;
//! - holding part of a request head (a slow or half-sent request): closed `header_read_timeout`
//!   after its first byte;
//! - running a request: never closed here (`server.request_timeout` bounds handlers).
//!
//! Closing is dropping the connection, so nothing is written to a client that sent nothing
//! whole.
//!
//! A request head hyper cannot parse (bytes a header may not hold, a head over hyper's buffer,
//! a URI too long) is answered by hyper itself, before any service runs, with an empty body.
//! The socket wrapper recognises that answer — a final status written while no response of
//! the service is due — and writes in its place the API's JSON error with the same status and
//! `Connection: close`; the connection task then logs the access line hyper's error produced. Past `max_connections` the loop stops accepting until one closes; new connections
//! wait in the kernel's backlog. Shutdown stops accepting, lets running requests finish
//! (each connection closes after its response) and returns when all are closed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// What the server loop enforces on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains: returns when every
/// connection has closed. The caller bounds the drain.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own header timer starts when a connection becomes ready for a head, idle time
    // included: as a backstop it may only be longer than the watchdog's rules.
    http.timer(TokioTimer::new()).header_read_timeout(limits.idle_timeout + limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = TowerToHyperService::new(Tracked { app: app.clone(), activity: activity.clone() });
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(Watched::new(stream, activity.clone())), service));
        tokio::spawn(async move {
            let error = tokio::select! {
                finished = connection => finished.err(),
                () = watchdog(&activity, limits) => None,
            };
            if let Some(error) = error {
                activity.log_protocol_error(&error);
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What one connection is doing, as its socket and its requests tell it.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    /// Requests running.
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or a response done), in µs since
    /// `origin`.
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived, µs since `origin` plus one; 0 when
    /// none has.
    head_since: AtomicU64,
    /// Responses of the service whose heads hyper has yet to write.
    heads_due: AtomicUsize,
    /// The status of hyper's own answer to an unparsable request, once one was replaced.
    protocol_error: AtomicU16,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            heads_due: AtomicUsize::new(0),
            protocol_error: AtomicU16::new(0),
        }
    }

    /// One access line for a request hyper refused before the service saw it.
    fn log_protocol_error(&self, error: &hyper::Error) {
        let status = self.protocol_error.load(Ordering::Relaxed);
        if status != 0 {
            let elapsed_us = self.now().saturating_sub(self.idle_since.load(Ordering::Relaxed));
            tracing::info!(target: "synthorg::access", method = "-", route = "unparsed", status, elapsed_us, %error, "request");
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn request_done(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// When this connection is due to close, if nothing changes; `None` while a request runs.
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |micros: u64, plus: Duration| self.origin + Duration::from_micros(micros) + plus;
        Some(match self.head_since.load(Ordering::Relaxed) {
            0 => at(self.idle_since.load(Ordering::Relaxed), limits.idle_timeout),
            since => at(since - 1, limits.header_read_timeout),
        })
    }
}

/// Resolves when the connection has been idle, or held a partial request head, too long.
async fn watchdog(activity: &Activity, limits: ConnectionLimits) {
    let tick = limits.header_read_timeout.min(limits.idle_timeout) / 4;
    loop {
        let now = Instant::now();
        match activity.deadline(limits) {
            Some(deadline) if deadline <= now => return,
            Some(deadline) => tokio::time::sleep_until((deadline.min(now + tick)).into()).await,
            None => tokio::time::sleep(tick).await,
        }
    }
}

/// The socket, telling [`Activity`] when bytes arrive, and putting the API's JSON error in
/// place of hyper's empty answer to an unparsable request.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// The JSON answer being written in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self { stream, activity, replacement: None }
    }

    /// The status of `data` if it begins a response head hyper wrote on its own: a final
    /// status while no response of the service is due (interim `100 Continue` heads are
    /// written while a request runs and are left alone). Only errors are answered so.
    fn own_error_status(&self, data: &[u8]) -> Option<u16> {
        let status = data.strip_prefix(b"HTTP/1.1 ").or_else(|| data.strip_prefix(b"HTTP/1.0 "))?.get(..3)?;
        let status: u16 = std::str::from_utf8(status).ok()?.parse().ok()?;
        if status < 200 {
            return None;
        }
        let due = &self.activity.heads_due;
        if due.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
            return None;
        }
        (400..600).contains(&status).then_some(status)
    }
}

/// The API's error answer for a request head hyper refused with `status`.
fn protocol_error_answer(status: u16) -> Vec<u8> {
    let (reason, message) = match status {
        414 => ("URI Too Long", "the request target is too long"),
        431 => ("Request Header Fields Too Large", "the request head is too large"),
        400 => ("Bad Request", "the request head is not valid HTTP/1.1 (its request line or a header is malformed)"),
        _ => ("Error", "the request could not be read"),
    };
    let code = if status == 400 { "bad_request" } else { "request_rejected" };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl AsyncRead for Watched {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none()
            && let Some(status) = this.own_error_status(data)
        {
            this.activity.protocol_error.store(status, Ordering::Relaxed);
            this.replacement = Some((protocol_error_answer(status), 0));
        }
        let Some((answer, written)) = &mut this.replacement else {
            return std::pin::Pin::new(&mut this.stream).poll_write(cx, data);
        };
        // hyper's answer is taken whole once ours is written; hyper closes the connection next.
        while *written < answer.len() {
            match std::pin::Pin::new(&mut this.stream).poll_write(cx, &answer[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router, telling [`Activity`] when a request starts and when its response is ready.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl tower::Service<Request<hyper::body::Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let app = self.app.clone();
        let running = Running::start(self.activity.clone());
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
        Box::pin(async move {
            let mut response = app.oneshot(req.map(axum::body::Body::new)).await?;
            // An error may answer before the body was read (a bad key, a rate limit, a wrong
            // content type): the connection cannot carry another request until the rest of
            // the body is gone, so say that it closes instead of letting the client find out.
            if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
                response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            }
            // hyper writes this response's head next: it is the service's, not hyper's own.
            running.0.heads_due.fetch_add(1, Ordering::AcqRel);
            drop(running);
            Ok(response)
        })
    }
}

/// A request running on a connection, until its response is ready (or it is abandoned).
struct Running(Arc<Activity>);

impl Running {
    fn start(activity: Arc<Activity>) -> Self {
        activity.request_started();
        Self(activity)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.request_done();
    }
}
