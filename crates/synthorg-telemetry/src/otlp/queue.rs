//! The queue between the threads that emit records and the exporter's worker: bounded,
//! locked briefly per push, never waited on by an emitter, and accounted (every record is
//! delivered or counted as dropped with a reason).

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::stats::{Counters, DropReason, ExporterStats};

thread_local! {
    /// Set on the exporter's own thread: events logged there are not exported.
    pub(super) static ON_EXPORTER_THREAD: Cell<bool> = const { Cell::new(false) };
}

pub(super) struct State<R> {
    pub(super) queue: VecDeque<R>,
    /// Set by shutdown: drain until then, then count the rest.
    pub(super) deadline: Option<Instant>,
}

pub(super) struct Shared<R> {
    pub(super) state: Mutex<State<R>>,
    pub(super) wake: Condvar,
    /// Tells an in-flight request that shutdown began (it must end by the deadline).
    pub(super) stopping: tokio::sync::Notify,
    pub(super) counters: Counters,
    /// Records the worker has taken from the queue and not yet encoded.
    pub(super) in_worker: AtomicUsize,
    pub(super) capacity: usize,
    pub(super) batch_size: usize,
}

impl<R> Shared<R> {
    pub(super) fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn push(&self, event: R) {
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
    pub(super) fn push_all(&self, records: Vec<R>) {
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

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Resolves when the shutdown deadline passes.
    pub(super) async fn deadline_passed(&self) {
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

    pub(super) fn stats(&self) -> ExporterStats {
        let depth = self.lock().queue.len() + self.in_worker.load(Relaxed);
        ExporterStats::read(&self.counters, depth, self.capacity)
    }

    /// Waits for the next batch: a full one, whatever is queued when the interval has
    /// passed, or everything during shutdown. `None` when shut down and done.
    ///
    /// The worker takes the whole queue at once (swapping buffers, so the lock is held for
    /// a pointer swap, not a copy) into `pending` and cuts batches from there; queued and
    /// pending records count together against the capacity.
    pub(super) fn next_batch(
        &self,
        interval: Duration,
        last_flush: Instant,
        pending: &mut VecDeque<R>,
    ) -> Option<Vec<R>> {
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
    pub(super) fn pause(&self, delay: Duration) {
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
