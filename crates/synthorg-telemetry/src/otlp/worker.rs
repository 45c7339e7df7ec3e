//! The exporter's worker thread: takes batches from the queue, encodes and POSTs them,
//! retries what may be retried within its bounds, and accounts for every record. Problems are
//! logged once per change of state (an outage is one line, not one per batch).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::{ExporterConfig, MAX_RETRY_AFTER, Signal};
use super::queue::Shared;
use super::stats::DropReason;
use super::transport::{SendError, Transport};

pub(super) struct Worker<S: Signal> {
    pub(super) signal: S,
    pub(super) shared: Arc<Shared<S::Record>>,
    pub(super) transport: Transport,
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) config: ExporterConfig,
    /// The last problem reported, so an outage is logged once, not per batch.
    pub(super) problem: Option<String>,
    pub(super) jitter: u64,
}

enum Outcome {
    Done,
    Retry(Option<Duration>),
}

impl<S: Signal> Worker<S> {
    pub(super) fn run(mut self) {
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
                    // One state however many records each batch loses: logged once, not per
                    // batch (the counters say how many).
                    self.report_as(
                        "partial success",
                        format!("the collector rejected {rejected} of {n} records (partial success)"),
                    );
                } else if self.problem.take().is_some() {
                    tracing::info!(target: "synthorg::otlp", signal = S::NAME, endpoint = %self.config.endpoint.logs_url,
                        "OTLP export works again");
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
    /// the worker thread, so they are never exported themselves.
    fn report(&mut self, problem: String) {
        let state = problem.clone();
        self.report_as(&state, problem);
    }

    /// [`Worker::report`] with the state compared apart from the words logged: a problem
    /// whose details change per batch (how many records a partial success lost) is one state.
    fn report_as(&mut self, state: &str, message: String) {
        if self.problem.as_deref() != Some(state) {
            tracing::warn!(target: "synthorg::otlp", signal = S::NAME, endpoint = %self.config.endpoint.logs_url,
                "OTLP export: {message}");
            self.problem = Some(state.to_owned());
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

pub(super) fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes) | 1
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
