//! The write path: a unit of work, its answer, and the events it wants handed on once its
//! writes are durable.
//!
//! A caller (the API) wraps a request's reads and writes in a [`Job`] and hands it to the
//! store ([`crate::Execution::submit`], or [`Job::run_here`] on a thread of its own). The
//! work returns [`Done`]: its answer and its events, as data. The store runs the work, then
//! decides from the commit that holds its writes:
//!
//! - committed: the events go to the job's [`Effects`] (logs, audit lines, metrics), then the
//!   answer goes to the reply;
//! - not committed: the events are dropped and the reply gets the commit's error.
//!
//! Invariant: a rolled-back write has no effects. No log line, audit line or metric ever
//! describes a change the store did not keep.

use std::sync::Arc;

use synthorg_core::event::Event;

use crate::StoreError;

/// What a unit of work produced: the answer for its caller, and the events to hand on once
/// its writes are durable.
#[derive(Debug)]
pub struct Done<T> {
    pub answer: T,
    pub events: Vec<Event>,
}

impl<T> Done<T> {
    /// An answer with no events.
    pub fn new(answer: T) -> Self {
        Self { answer, events: Vec::new() }
    }

    /// An answer with its events.
    pub fn with(answer: T, events: impl IntoIterator<Item = Event>) -> Self {
        Self { answer, events: events.into_iter().collect() }
    }
}

/// Receives the events of committed units, on the thread that learned of the commit, inside
/// the span of the request that made them.
pub trait Effects: Send + Sync + std::fmt::Debug {
    fn apply(&self, events: Vec<Event>);
}

/// A unit of work for a store: runs its reads and writes, then (see the module
/// documentation) hands its events to its effects and its answer to its reply, or drops the
/// events and replies with the error of the commit that failed.
pub struct Job {
    unit: Box<dyn Unit>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// The type-erased state of a job: run once, finish once.
trait Unit: Send {
    fn run(&mut self);
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Typed<T, E, W, R> {
    work: Option<W>,
    outcome: Option<Result<Done<T>, E>>,
    effects: Arc<dyn Effects>,
    reply: R,
    /// The span of the request: the work and the effects run inside it, so their events
    /// keep the request's correlation ids.
    span: tracing::Span,
}

impl Job {
    /// A job that runs `work`, hands its events to `effects` once its writes are committed,
    /// and calls `reply` with its answer or error.
    pub fn new<T, E, W, R>(work: W, effects: Arc<dyn Effects>, reply: R) -> Self
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        W: FnOnce() -> Result<Done<T>, E> + Send + 'static,
        R: FnOnce(Result<T, E>) + Send + 'static,
    {
        let span = tracing::Span::current();
        Self { unit: Box::new(Typed { work: Some(work), outcome: None, effects, reply, span }) }
    }

    /// Runs the work. A store that commits later calls [`Job::finish`] with that commit's
    /// outcome; a panic here leaves the job unanswered (its reply is dropped with it).
    pub(crate) fn run(&mut self) {
        self.unit.run();
    }

    /// Reports the outcome of the commit that holds the work's writes (`Ok` for work that
    /// wrote nothing): the events are applied only when it committed.
    pub(crate) fn finish(self, committed: Result<(), StoreError>) {
        self.unit.finish(committed);
    }

    /// Runs the whole job on this thread, for a store whose every write is committed before
    /// it returns (PostgreSQL; SQLite called from a thread other than its writer's): the
    /// work, then its effects, then its reply.
    pub fn run_here(mut self) {
        self.run();
        self.finish(Ok(()));
    }
}

impl<T, E, W, R> Unit for Typed<T, E, W, R>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    W: FnOnce() -> Result<Done<T>, E> + Send + 'static,
    R: FnOnce(Result<T, E>) + Send + 'static,
{
    fn run(&mut self) {
        if let Some(work) = self.work.take() {
            self.outcome = Some(self.span.in_scope(work));
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let Typed { outcome, effects, reply, span, .. } = *self;
        let answer = match (outcome, committed) {
            // Work that failed wrote nothing that survives (its savepoint or transaction was
            // rolled back), and wants nothing done.
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(done)), Ok(())) => {
                if !done.events.is_empty() {
                    span.in_scope(|| effects.apply(done.events));
                }
                Ok(done.answer)
            }
            // The commit failed: the events describe a change that was rolled back.
            (Some(Ok(_dropped)), Err(error)) => Err(error.into()),
            (None, _) => Err(StoreError::Internal("a job was finished without running".into()).into()),
        };
        reply(answer);
    }
}
