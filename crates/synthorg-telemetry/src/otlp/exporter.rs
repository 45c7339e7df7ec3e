//! The OTLP log exporter: a bounded queue fed by [`OtlpLayer`] on the emitting threads, and
//! one background thread that batches, encodes and POSTs, retries what may be retried, and
//! accounts for every record.
//!
//! Emitting takes the event's fields (no rendering), locks the queue briefly and pushes, or
//! counts a drop when the queue is full: it never blocks on the network, never waits for
//! room and never panics. The worker thread renders each record's body with the JSON sink's
//! renderer, so the body is the JSON line byte for byte. Events logged on the worker thread
//! (its own warnings, anything its HTTP stack would log) are never exported, so an export
//! failure cannot feed itself.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::encode::{self, Protocol};
use super::endpoint::{CheckedEndpoint, EndpointPolicy, Resolver, check_header};
use super::meter::{Meter, Metrics, Reader, await_reader};
use super::proto;
use super::stats::{Counters, DropReason, ExporterStats};
use super::traces::{AttrValue, SpanKind, SpanRecord, Traces};
use super::transport::{SendError, StartError, Transport, tls_connector};
use crate::logging::{CapturedEvent, SecretNames, record_new_span, record_span_values};

/// Largest request body sent (uncompressed); larger batches are split, a larger single
/// record is dropped as `too_large`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

thread_local! {
    /// Set on the exporter's own thread: events logged there are not exported.
    static ON_EXPORTER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Everything the exporter needs; built and checked by the configuration.
#[derive(Clone)]
pub struct ExporterConfig {
    pub endpoint: CheckedEndpoint,
    pub policy: EndpointPolicy,
    pub resolver: Arc<dyn Resolver>,
    pub protocol: Protocol,
    /// Sent with every request; values never reach a log, an error or `Debug` output.
    pub headers: Vec<(String, String)>,
    pub export_interval: Duration,
    pub batch_size: usize,
    pub timeout: Duration,
    /// Most retries of one batch.
    pub max_retries: u32,
    /// Longest one batch is retried, from its first attempt: a collector away for less is
    /// caught up with (the queue holds what arrives meanwhile, up to its capacity).
    pub max_elapsed: Duration,
    pub queue_capacity: usize,
    pub gzip: bool,
    /// Resource attributes (`service.name`, `service.version`, `service.instance.id`, …).
    pub resource: Vec<(String, String)>,
    pub is_secret: SecretNames,
    /// Backoff before the first retry; doubled each time, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_request_bytes: usize,
    /// Extra CA certificates (PEM) trusted for `https` endpoints, beside the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExporterConfig")
            .field("endpoint", &self.endpoint.logs_url.as_str())
            .field("protocol", &self.protocol)
            .field("header_names", &header_names)
            .field("export_interval", &self.export_interval)
            .field("batch_size", &self.batch_size)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_elapsed", &self.max_elapsed)
            .field("queue_capacity", &self.queue_capacity)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl ExporterConfig {
    /// Defaults (SPEC §4) for an endpoint that passed the policy.
    pub fn new(endpoint: CheckedEndpoint, policy: EndpointPolicy, resolver: Arc<dyn Resolver>) -> Self {
        Self {
            endpoint,
            policy,
            resolver,
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            export_interval: Duration::from_secs(1),
            batch_size: 512,
            timeout: Duration::from_secs(10),
            max_retries: 100,
            max_elapsed: Duration::from_secs(300),
            queue_capacity: 65_536,
            gzip: false,
            resource: vec![("service.name".into(), "synthorg".into())],
            is_secret: |_| false,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_request_bytes: MAX_REQUEST_BYTES,
            ca_pem: None,
        }
    }
}

/// What one OTLP signal adds to the exporter core: its records, their encoding, and how the
/// collector reports rejecting some. The core (queue, batching, retries, accounting, endpoint
/// hardening, drain on shutdown) is the same for every signal.
pub trait Signal: Send + 'static {
    type Record: Send + 'static;
    /// The signal's name (`logs`, `traces`, `metrics`), on its thread and in its problems.
    const NAME: &'static str;
    /// Encodes a batch into request bodies of at most `max_bytes` each (before gzip), with
    /// the number of records in each; a record larger alone is left out and counted.
    fn encode(
        &mut self,
        batch: Vec<Self::Record>,
        protocol: Protocol,
        max_bytes: usize,
    ) -> (Vec<(Vec<u8>, usize)>, u64);
    /// The number of records a successful answer says were rejected (partial success).
    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64;
}

/// The log signal: captured events, encoded straight into `http/protobuf` or through the
/// message structs into `http/json`.
pub struct Logs {
    resource: Resource,
    encoder: proto::Encoder,
    is_secret: SecretNames,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logs")
    }
}

impl Logs {
    fn new(config: &ExporterConfig) -> Self {
        Self {
            resource: encode::resource(&config.resource),
            encoder: proto::Encoder::new(&config.resource),
            is_secret: config.is_secret,
        }
    }
}

impl Signal for Logs {
    type Record = CapturedEvent;
    const NAME: &'static str = "logs";

    fn encode(
        &mut self,
        batch: Vec<CapturedEvent>,
        protocol: Protocol,
        max_bytes: usize,
    ) -> (Vec<(Vec<u8>, usize)>, u64) {
        match protocol {
            Protocol::HttpProtobuf => {
                let (bodies, too_large) = self.encoder.encode(&batch, self.is_secret, max_bytes);
                (bodies.into_iter().map(|b| (b.bytes, b.records)).collect(), too_large)
            }
            Protocol::HttpJson => {
                let records: Vec<_> = batch.iter().map(|e| (e.target, encode::record(e, self.is_secret))).collect();
                drop(batch);
                let json = |records: &[(&'static str, LogRecord)]| {
                    encode::encode(&encode::request(&self.resource, records.to_vec()), Protocol::HttpJson)
                };
                let mut bodies = Vec::new();
                let too_large = encode_halving(&records, max_bytes, &json, &mut bodies);
                (bodies, too_large)
            }
        }
    }

    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64 {
        encode::rejected(body, protocol)
    }
}

struct State<R> {
    queue: VecDeque<R>,
    /// Set by shutdown: drain until then, then count the rest.
    deadline: Option<Instant>,
}

struct Shared<R> {
    state: Mutex<State<R>>,
    wake: Condvar,
    /// Tells an in-flight request that shutdown began (it must end by the deadline).
    stopping: tokio::sync::Notify,
    counters: Counters,
    /// Records the worker has taken from the queue and not yet encoded.
    in_worker: AtomicUsize,
    capacity: usize,
    batch_size: usize,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, event: R) {
        self.counters.emitted.fetch_add(1, Relaxed);
        let mut state = self.lock();
        if state.deadline.is_some() {
            drop(state);
            self.counters.drop(DropReason::Shutdown, 1);
            return;
        }
        if state.queue.len() + self.in_worker.load(Relaxed) >= self.capacity {
            drop(state);
            self.counters.drop(DropReason::QueueFull, 1);
            return;
        }
        state.queue.push_back(event);
        let len = state.queue.len();
        drop(state);
        // One wake-up per full batch; otherwise the worker wakes on its interval.
        if len == self.batch_size {
            self.wake.notify_one();
        }
    }

    /// Pushes a whole reading under one lock: what does not fit is dropped and counted.
    fn push_all(&self, records: Vec<R>) {
        let n = records.len() as u64;
        self.counters.emitted.fetch_add(n, Relaxed);
        let mut state = self.lock();
        if state.deadline.is_some() {
            drop(state);
            self.counters.drop(DropReason::Shutdown, n);
            return;
        }
        let room = self.capacity.saturating_sub(state.queue.len() + self.in_worker.load(Relaxed));
        let mut records = records.into_iter();
        state.queue.extend(records.by_ref().take(room));
        let len = state.queue.len();
        drop(state);
        let left = records.len() as u64;
        if left > 0 {
            self.counters.drop(DropReason::QueueFull, left);
        }
        if len >= self.batch_size {
            self.wake.notify_one();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Resolves when the shutdown deadline passes.
    async fn deadline_passed(&self) {
        loop {
            let notified = self.stopping.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(deadline) = self.deadline() {
                tokio::time::sleep_until(deadline.into()).await;
                return;
            }
            notified.await;
        }
    }

    fn stats(&self) -> ExporterStats {
        let depth = self.lock().queue.len() + self.in_worker.load(Relaxed);
        ExporterStats::read(&self.counters, depth, self.capacity)
    }

    /// Waits for the next batch: a full one, whatever is queued when the interval has
    /// passed, or everything during shutdown. `None` when shut down and done.
    ///
    /// The worker takes the whole queue at once (swapping buffers, so the lock is held for
    /// a pointer swap, not a copy) into `pending` and cuts batches from there; queued and
    /// pending records count together against the capacity.
    fn next_batch(&self, interval: Duration, last_flush: Instant, pending: &mut VecDeque<R>) -> Option<Vec<R>> {
        let mut state = self.lock();
        loop {
            if let Some(deadline) = state.deadline
                && Instant::now() >= deadline
            {
                let n = (state.queue.len() + pending.len()) as u64;
                state.queue.clear();
                pending.clear();
                self.in_worker.store(0, Relaxed);
                self.counters.drop(DropReason::Shutdown, n);
                return None;
            }
            if !pending.is_empty() {
                break;
            }
            let due = state.deadline.is_some()
                || state.queue.len() >= self.batch_size
                || (last_flush.elapsed() >= interval && !state.queue.is_empty());
            if due && !state.queue.is_empty() {
                std::mem::swap(&mut state.queue, pending);
                self.in_worker.store(pending.len(), Relaxed);
                break;
            }
            if state.deadline.is_some() {
                return None;
            }
            let wait = interval.checked_sub(last_flush.elapsed()).unwrap_or(interval);
            state = self.wake.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(state);
        let n = self.batch_size.min(pending.len());
        let batch: Vec<R> = pending.drain(..n).collect();
        self.in_worker.fetch_sub(n, Relaxed);
        Some(batch)
    }

    /// Sleeps for a backoff, cut short by the shutdown deadline.
    fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut state = self.lock();
        loop {
            let end = state.deadline.map_or(until, |d| d.min(until));
            let now = Instant::now();
            if now >= end {
                return;
            }
            state = self.wake.wait_timeout(state, end - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// A running exporter of one signal. Shut it down with [`Exporter::shutdown`] to drain the
/// queue.
pub struct Exporter<S: Signal = Logs> {
    shared: Arc<Shared<S::Record>>,
    done: ThreadEnd,
    is_secret: SecretNames,
    /// The metric signal's periodic reader, and the end of its thread.
    reader: Option<(Arc<Reader>, ThreadEnd)>,
}

/// Says when a thread has ended; taken by the first wait.
type ThreadEnd = Mutex<Option<mpsc::Receiver<()>>>;

impl<S: Signal> std::fmt::Debug for Exporter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("stats", &self.shared.stats()).finish()
    }
}

/// The counters of an exporter's queue, whatever its records.
trait ReadStats: Send + Sync {
    fn stats(&self) -> ExporterStats;
}

impl<R: Send> ReadStats for Shared<R> {
    fn stats(&self) -> ExporterStats {
        Shared::stats(self)
    }
}

/// Reads an exporter's counters (for `/api/v1/metrics`), and names its signal.
#[derive(Clone)]
pub struct ExporterHandle {
    signal: &'static str,
    shared: Arc<dyn ReadStats>,
}

impl std::fmt::Debug for ExporterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExporterHandle")
    }
}

impl ExporterHandle {
    pub fn stats(&self) -> ExporterStats {
        self.shared.stats()
    }

    /// The exporter's signal: `logs`, `traces` or `metrics`.
    pub fn signal(&self) -> &'static str {
        self.signal
    }
}

impl Exporter<Logs> {
    /// Starts the log exporter's worker thread. Fails only when a header cannot be sent or
    /// the thread or its runtime cannot start.
    pub fn start(config: ExporterConfig) -> Result<Self, StartError> {
        let logs = Logs::new(&config);
        Self::start_signal(config, logs)
    }

    /// The `tracing` layer feeding this exporter.
    pub fn layer(&self) -> OtlpLayer {
        OtlpLayer { shared: Arc::clone(&self.shared), is_secret: self.is_secret }
    }
}

impl Exporter<Traces> {
    /// Starts the trace exporter's worker thread.
    pub fn start_traces(config: ExporterConfig) -> Result<Self, StartError> {
        let traces = Traces::new(&config);
        Self::start_signal(config, traces)
    }

    /// Hands finished spans to this exporter.
    pub fn tracer(&self) -> Tracer {
        Tracer(Arc::clone(&self.shared))
    }
}

impl Exporter<Metrics> {
    /// Starts the metric exporter's worker thread, and its reader thread, which reads the
    /// catalogue registered through [`Exporter::meter`] every `interval` (and once more at
    /// shutdown) and queues the points.
    pub fn start_metrics(config: ExporterConfig, interval: Duration) -> Result<Self, StartError> {
        let metrics = Metrics::new(&config);
        let mut exporter = Self::start_signal(config, metrics)?;
        let reader = Arc::new(Reader::default());
        let (done_tx, done_rx) = mpsc::channel();
        let (thread_reader, shared) = (Arc::clone(&reader), Arc::clone(&exporter.shared));
        std::thread::Builder::new()
            .name("otlp-metrics-reader".into())
            .spawn(move || {
                thread_reader.run(interval, &|points| shared.push_all(points));
                let _ = done_tx.send(());
            })
            .map_err(|e| StartError::Thread { what: "thread", cause: e.to_string() })?;
        exporter.reader = Some((reader, Mutex::new(Some(done_rx))));
        Ok(exporter)
    }

    /// Where the catalogue to push is registered.
    pub fn meter(&self) -> Option<Meter> {
        self.reader.as_ref().map(|(reader, _)| Meter(Arc::clone(reader)))
    }
}

/// Hands finished spans to the trace exporter: a push onto its queue (or a counted drop
/// when it is full), never a wait.
#[derive(Clone)]
pub struct Tracer(Arc<Shared<SpanRecord>>);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl Tracer {
    pub fn record(&self, span: SpanRecord) {
        if ON_EXPORTER_THREAD.with(Cell::get) {
            return;
        }
        self.0.push(span);
    }

    /// Records a span that began at `start` and ends now, as a child of the current
    /// request's span ([`crate::context::current`]); nothing outside a request or in an
    /// unsampled trace.
    pub fn record_child(
        &self,
        name: String,
        kind: SpanKind,
        start: std::time::SystemTime,
        attributes: Vec<(&'static str, AttrValue)>,
        error: Option<String>,
    ) {
        let Some(parent) = crate::context::current().filter(|t| t.flags & 0x01 == 0x01) else { return };
        self.record(SpanRecord {
            trace_id: parent.trace_id,
            span_id: crate::context::new_span_id(),
            parent_span_id: Some(parent.span_id),
            flags: parent.flags,
            name,
            kind,
            start,
            end: std::time::SystemTime::now(),
            attributes,
            error,
        });
    }
}

impl<S: Signal> Exporter<S> {
    /// Starts the worker thread of `signal`.
    fn start_signal(config: ExporterConfig, signal: S) -> Result<Self, StartError> {
        let mut headers = Vec::with_capacity(config.headers.len());
        for (name, value) in &config.headers {
            check_header(name, value).map_err(|e| StartError::Header { name: name.clone(), problem: e.to_string() })?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| StartError::Header { name: name.clone(), problem: "not a valid name".into() })?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| StartError::Header { name: name.to_string(), problem: "not a valid value".into() })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StartError::Thread { what: "runtime", cause: e.to_string() })?;
        let shared = Arc::new(Shared {
            // Sized up front (address space; pages are touched as records arrive) so that no
            // emitting thread ever pays for growing the queue.
            state: Mutex::new(State { queue: VecDeque::with_capacity(config.queue_capacity.max(1)), deadline: None }),
            wake: Condvar::new(),
            stopping: tokio::sync::Notify::new(),
            counters: Counters::default(),
            in_worker: AtomicUsize::new(0),
            capacity: config.queue_capacity.max(1),
            batch_size: config.batch_size.max(1),
        });
        let tls = match config.endpoint.logs_url.scheme() {
            "https" => Some(tls_connector(config.ca_pem.as_deref())?),
            _ => None,
        };
        let transport = Transport::new(
            config.endpoint.clone(),
            config.policy.clone(),
            Arc::clone(&config.resolver),
            headers,
            config.protocol.content_type(),
            config.gzip,
            tls,
        )?;
        let (done_tx, done_rx) = mpsc::channel();
        let is_secret = config.is_secret;
        let worker =
            Worker { signal, shared: Arc::clone(&shared), transport, runtime, config, problem: None, jitter: seed() };
        std::thread::Builder::new()
            .name(format!("otlp-{}", S::NAME))
            .spawn(move || {
                ON_EXPORTER_THREAD.with(|flag| flag.set(true));
                worker.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| StartError::Thread { what: "thread", cause: e.to_string() })?;
        Ok(Self { shared, done: Mutex::new(Some(done_rx)), is_secret, reader: None })
    }

    pub fn handle(&self) -> ExporterHandle {
        ExporterHandle { signal: S::NAME, shared: Arc::clone(&self.shared) as Arc<dyn ReadStats> }
    }

    pub fn stats(&self) -> ExporterStats {
        self.shared.stats()
    }

    /// Stops accepting records, sends what is queued within `timeout`, counts the rest as
    /// dropped (`shutdown`) and returns the final counts. Later calls return the counts.
    pub fn shutdown(&self, timeout: Duration) -> ExporterStats {
        let deadline = Instant::now() + timeout;
        // The metric signal's final reading goes into the queue before it closes.
        if let Some((reader, done)) = &self.reader {
            reader.stop();
            await_reader(done, deadline);
        }
        {
            let mut state = self.shared.lock();
            if state.deadline.is_none() {
                state.deadline = Some(deadline);
            }
        }
        self.shared.wake.notify_all();
        self.shared.stopping.notify_waiters();
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            // The worker bounds each request by the deadline; the margin covers the last
            // request's teardown.
            if done.recv_timeout(timeout + Duration::from_millis(500)).is_err() {
                let mut state = self.shared.lock();
                let n = state.queue.len() as u64;
                state.queue.clear();
                self.shared.counters.drop(DropReason::Shutdown, n);
            }
        }
        self.shared.stats()
    }
}

impl<S: Signal> Drop for Exporter<S> {
    fn drop(&mut self) {
        if let Some((reader, _)) = &self.reader {
            reader.stop();
        }
        let mut state = self.shared.lock();
        if state.deadline.is_none() {
            state.deadline = Some(Instant::now());
        }
        drop(state);
        self.shared.wake.notify_all();
        self.shared.stopping.notify_waiters();
    }
}

/// The layer that hands events to the exporter. Filter it per level like any sink; spans
/// must pass so that events carry their request's correlation fields.
pub struct OtlpLayer {
    shared: Arc<Shared<CapturedEvent>>,
    is_secret: SecretNames,
}

impl std::fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtlpLayer")
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        record_new_span(attrs, id, &ctx, self.is_secret);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        record_span_values(id, values, &ctx, self.is_secret);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if ON_EXPORTER_THREAD.with(Cell::get) {
            return;
        }
        self.shared.push(CapturedEvent::capture(event, &ctx));
    }
}

struct Worker<S: Signal> {
    signal: S,
    shared: Arc<Shared<S::Record>>,
    transport: Transport,
    runtime: tokio::runtime::Runtime,
    config: ExporterConfig,
    /// The last problem reported, so an outage is logged once, not per batch.
    problem: Option<String>,
    jitter: u64,
}

enum Outcome {
    Done,
    Retry(Option<Duration>),
}

impl<S: Signal> Worker<S> {
    fn run(mut self) {
        let mut last_flush = Instant::now();
        let mut pending = VecDeque::with_capacity(self.shared.capacity);
        while let Some(batch) = self.shared.next_batch(self.config.export_interval, last_flush, &mut pending) {
            last_flush = Instant::now();
            let (bodies, too_large) = self.signal.encode(batch, self.config.protocol, self.config.max_request_bytes);
            if too_large > 0 {
                self.shared.counters.drop(DropReason::TooLarge, too_large);
                self.report("a record exceeds the request size cap and was dropped".into());
            }
            for (body, n) in bodies {
                self.send_body(body, n);
            }
        }
    }

    fn send_body(&mut self, body: Vec<u8>, n: usize) {
        let body = if self.config.gzip { gzip(&body) } else { body };
        self.deliver(Bytes::from(body), n as u64);
    }

    fn deliver(&mut self, body: Bytes, n: u64) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        let mut attempt = 0u32;
        let first = Instant::now();
        loop {
            let now = Instant::now();
            let deadline = shared.deadline();
            if deadline.is_some_and(|d| now >= d) {
                counters.drop(DropReason::Shutdown, n);
                counters.batches_failed.fetch_add(1, Relaxed);
                return;
            }
            let timeout = deadline.map_or(self.config.timeout, |d| self.config.timeout.min(d - now));
            // A request in flight when shutdown begins is cut at the deadline.
            let transport = &mut self.transport;
            let result = self.runtime.block_on(async {
                tokio::select! {
                    result = transport.send(body.clone(), timeout) => Some(result),
                    () = shared.deadline_passed() => None,
                }
            });
            let Some(result) = result else { continue };
            match self.judge(result, n) {
                Outcome::Done => return,
                Outcome::Retry(retry_after) => {
                    let delay = match retry_after {
                        Some(d) => d.min(MAX_RETRY_AFTER),
                        None => self.backoff(attempt + 1),
                    };
                    if attempt >= self.config.max_retries || first.elapsed() + delay > self.config.max_elapsed {
                        counters.drop(DropReason::RetriesExhausted, n);
                        counters.batches_failed.fetch_add(1, Relaxed);
                        return;
                    }
                    attempt += 1;
                    counters.retries.fetch_add(1, Relaxed);
                    shared.pause(delay);
                }
            }
        }
    }

    fn judge(&mut self, result: Result<super::transport::Answer, SendError>, n: u64) -> Outcome {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        match result {
            Ok(answer) if (200..300).contains(&answer.status) => {
                let rejected = self.signal.rejected(&answer.body, self.config.protocol).min(n);
                counters.delivered.fetch_add(n - rejected, Relaxed);
                counters.rejected.fetch_add(rejected, Relaxed);
                match rejected {
                    0 => counters.batches_success.fetch_add(1, Relaxed),
                    _ => counters.batches_partial.fetch_add(1, Relaxed),
                };
                if rejected > 0 {
                    self.report(format!("the collector rejected {rejected} of {n} records (partial success)"));
                } else if self.problem.take().is_some() {
                    tracing::info!(target: "synthorg::otlp", "OTLP export works again");
                }
                Outcome::Done
            }
            Ok(answer) if matches!(answer.status, 429 | 502 | 503 | 504) => {
                self.report(format!("the collector answered HTTP {}; retrying", answer.status));
                Outcome::Retry(answer.retry_after)
            }
            Ok(answer) => {
                counters.drop(DropReason::NonRetryable, n);
                counters.batches_failed.fetch_add(1, Relaxed);
                self.report(format!(
                    "the collector answered HTTP {}; the batch is dropped, not retried",
                    answer.status
                ));
                Outcome::Done
            }
            Err(SendError::Forbidden(why)) => {
                counters.drop(DropReason::NonRetryable, n);
                counters.batches_failed.fetch_add(1, Relaxed);
                self.report(format!("refusing to connect: {why}"));
                Outcome::Done
            }
            Err(SendError::Connection(why)) => {
                self.report(format!("{why}; retrying"));
                Outcome::Retry(None)
            }
        }
    }

    /// Logs a problem once until it changes or export works again. These events stay on
    /// this thread and are never exported.
    fn report(&mut self, problem: String) {
        if self.problem.as_deref() != Some(problem.as_str()) {
            tracing::warn!(target: "synthorg::otlp", signal = S::NAME, endpoint = %self.config.endpoint.logs_url,
                "OTLP export: {problem}");
            self.problem = Some(problem);
        }
    }

    /// Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2^(n-1).
    fn backoff(&mut self, attempt: u32) -> Duration {
        let full = self.config.initial_backoff.saturating_mul(1 << (attempt - 1).min(16)).min(self.config.max_backoff);
        // xorshift64: jitter needs spread, not secrecy.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let half = full / 2;
        half + Duration::from_nanos(self.jitter % (half.as_nanos() as u64 + 1))
    }
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes) | 1
}

/// Encodes `items` into one request body, or into halves (recursively) while a body exceeds
/// `max_bytes`, appending each body with its item count to `out`; returns the number of items
/// left out because one alone is too large. For the encodings without a streaming encoder.
pub(super) fn encode_halving<T>(
    items: &[T],
    max_bytes: usize,
    encode: &dyn Fn(&[T]) -> Vec<u8>,
    out: &mut Vec<(Vec<u8>, usize)>,
) -> u64 {
    let body = encode(items);
    if body.len() <= max_bytes {
        out.push((body, items.len()));
        return 0;
    }
    if items.len() <= 1 {
        return items.len() as u64;
    }
    drop(body);
    let (first, second) = items.split_at(items.len() / 2);
    encode_halving(first, max_bytes, encode, out) + encode_halving(second, max_bytes, encode, out)
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
