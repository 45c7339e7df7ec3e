//! The exporter's accounting: every record emitted is delivered, rejected by the collector
//! (partial success) or dropped with a reason, so `emitted == delivered + rejected + dropped`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why records were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue was full when the record was emitted.
    QueueFull,
    /// The collector answered with a status that must not be retried (400, 401, 404, 413, a
    /// redirect …), or the endpoint now resolves to a forbidden address.
    NonRetryable,
    /// Every retry of a retryable failure (429, 502, 503, 504, connection error) failed.
    RetriesExhausted,
    /// One record alone exceeds the request size cap.
    TooLarge,
    /// Still queued or in flight when the shutdown deadline passed, or emitted after shutdown.
    Shutdown,
}

impl DropReason {
    pub const ALL: [Self; 5] =
        [Self::QueueFull, Self::NonRetryable, Self::RetriesExhausted, Self::TooLarge, Self::Shutdown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::NonRetryable => "non_retryable",
            Self::RetriesExhausted => "retries_exhausted",
            Self::TooLarge => "too_large",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Counters shared by the emitting threads and the worker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub emitted: AtomicU64,
    pub delivered: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: [AtomicU64; 5],
    pub batches_success: AtomicU64,
    pub batches_partial: AtomicU64,
    pub batches_failed: AtomicU64,
    pub retries: AtomicU64,
}

impl Counters {
    pub(crate) fn drop(&self, reason: DropReason, n: u64) {
        self.dropped[reason as usize].fetch_add(n, Relaxed);
    }
}

/// A consistent-enough reading of the counters (each counter is exact; they are read one
/// after the other).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Records handed to the exporter.
    pub emitted: u64,
    /// Records the collector accepted.
    pub delivered: u64,
    /// Records the collector answered as rejected in a partial success.
    pub rejected: u64,
    /// Records dropped, indexed like [`DropReason::ALL`].
    pub dropped: [u64; 5],
    /// Export requests answered with success, partial success, or failed for good.
    pub batches_success: u64,
    pub batches_partial: u64,
    pub batches_failed: u64,
    /// Export attempts repeated after a retryable failure.
    pub retries: u64,
    /// Records waiting in the queue.
    pub queue_depth: u64,
    /// The queue's capacity.
    pub queue_capacity: u64,
}

impl ExporterStats {
    pub(crate) fn read(c: &Counters, queue_depth: usize, queue_capacity: usize) -> Self {
        Self {
            emitted: c.emitted.load(Relaxed),
            delivered: c.delivered.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            dropped: std::array::from_fn(|i| c.dropped[i].load(Relaxed)),
            batches_success: c.batches_success.load(Relaxed),
            batches_partial: c.batches_partial.load(Relaxed),
            batches_failed: c.batches_failed.load(Relaxed),
            retries: c.retries.load(Relaxed),
            queue_depth: queue_depth as u64,
            queue_capacity: queue_capacity as u64,
        }
    }

    pub fn dropped_by(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Records whose fate is known: delivered, rejected or dropped. Equals `emitted` once
    /// the queue is empty and no batch is in flight (after shutdown, always).
    pub fn accounted(&self) -> u64 {
        self.delivered + self.rejected + self.dropped_total()
    }
}
