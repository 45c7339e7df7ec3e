//! The OTLP exporter core, one per signal: a bounded queue ([`super::queue`]) fed on the
//! emitting threads, and one background thread ([`super::worker`]) that batches, encodes and
//! POSTs, retries what may be retried, and accounts for every record. Emitting never blocks
//! on the network, never waits for room and never panics. The signals ([`super::logs`],
//! [`super::traces`], [`super::meter`]) add their records and encodings on top.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};

use super::config::{ExporterConfig, Signal};
use super::endpoint::check_header;
use super::queue::{ON_EXPORTER_THREAD, Shared, State};
use super::stats::{Counters, DropReason, ExporterStats};
use super::transport::{StartError, Transport, tls_connector};
use super::worker::{Worker, seed};
use crate::logging::SecretNames;

/// A running exporter of one signal. Shut it down with [`Exporter::shutdown`] to drain the
/// queue.
pub struct Exporter<S: Signal> {
    pub(super) shared: Arc<Shared<S::Record>>,
    done: ThreadEnd,
    pub(super) is_secret: SecretNames,
    /// A thread of the signal's own that feeds the queue (the metric signal's reader).
    pub(super) feeder: Option<Feeder>,
}

/// Says when a thread has ended; taken by the first wait.
pub(super) type ThreadEnd = Mutex<Option<mpsc::Receiver<()>>>;

/// A thread of a signal's own that feeds its queue (the metric signal's periodic reader):
/// told to stop, and waited for, before the queue closes at shutdown, so its last reading is
/// sent in the drain.
pub(super) struct Feeder {
    pub(super) stop: Box<dyn Fn() + Send + Sync>,
    pub(super) done: ThreadEnd,
    /// What the signal hands out to feed it (the metric signal's `Meter`).
    pub(super) handle: Box<dyn std::any::Any + Send + Sync>,
}

/// Waits until the thread of `done` has ended, at most until `deadline`.
fn wait_thread(done: &ThreadEnd, deadline: Instant) {
    let done = done.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(done) = done {
        let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

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

impl<S: Signal> Exporter<S> {
    /// Starts the worker thread of `signal`.
    pub(super) fn start_signal(config: ExporterConfig, signal: S) -> Result<Self, StartError> {
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
        Ok(Self { shared, done: Mutex::new(Some(done_rx)), is_secret, feeder: None })
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
        if let Some(feeder) = &self.feeder {
            (feeder.stop)();
            wait_thread(&feeder.done, deadline);
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
        if let Some(feeder) = &self.feeder {
            (feeder.stop)();
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
