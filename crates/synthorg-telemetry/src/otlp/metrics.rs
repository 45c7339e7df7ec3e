//! The exporter's own families: its accounting, `emitted == exported (all outcomes) +
//! dropped (all reasons)` once the queue is empty.

use super::{DropReason, ExporterHandle};
use crate::metrics::{Collect, Exposition, Family, Kind, LabelValue};

impl LabelValue for DropReason {
    fn label(self) -> &'static str {
        self.as_str()
    }
}

/// What happened to records the collector answered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportOutcome {
    Delivered,
    Rejected,
}

impl LabelValue for ExportOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
        }
    }
}

/// How an export request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    Success,
    Partial,
    Failed,
}

impl LabelValue for BatchOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }
}

/// The `{prefix}_otlp_*` families of a running exporter.
#[derive(Debug)]
pub struct ExporterMetrics {
    handle: ExporterHandle,
    emitted: Family,
    exported: Family,
    dropped: Family,
    batches: Family,
    retries: Family,
    queue_depth: Family,
    queue_capacity: Family,
}

impl ExporterMetrics {
    pub fn new(prefix: &str, handle: ExporterHandle) -> Self {
        let f = |name, kind, help| Family::new(prefix, name, kind, help);
        Self {
            handle,
            emitted: f("otlp_records_emitted", Kind::Counter, "Log records handed to the OTLP exporter."),
            exported: f(
                "otlp_records_exported",
                Kind::Counter,
                "Log records sent to the collector, by outcome: delivered, or rejected in a partial success.",
            ),
            dropped: f("otlp_records_dropped", Kind::Counter, "Log records the OTLP exporter dropped, by reason."),
            batches: f("otlp_batches", Kind::Counter, "OTLP export requests, by outcome: success, partial, failed."),
            retries: f("otlp_retries", Kind::Counter, "OTLP export attempts repeated after a retryable failure."),
            queue_depth: f("otlp_queue_depth", Kind::Gauge, "Log records waiting in the OTLP exporter's queue."),
            queue_capacity: f("otlp_queue_capacity", Kind::Gauge, "Capacity of the OTLP exporter's queue."),
        }
    }
}

impl Collect for ExporterMetrics {
    fn collect(&self, e: &mut Exposition) {
        let s = self.handle.stats();
        self.emitted.header(e);
        e.counter(self.emitted.name(), &[], s.emitted as f64);
        self.exported.header(e);
        for (outcome, n) in [(ExportOutcome::Delivered, s.delivered), (ExportOutcome::Rejected, s.rejected)] {
            e.counter(self.exported.name(), &[("outcome", outcome.label())], n as f64);
        }
        self.dropped.header(e);
        for reason in DropReason::ALL {
            e.counter(self.dropped.name(), &[("reason", reason.label())], s.dropped_by(reason) as f64);
        }
        self.batches.header(e);
        for (outcome, n) in [
            (BatchOutcome::Success, s.batches_success),
            (BatchOutcome::Partial, s.batches_partial),
            (BatchOutcome::Failed, s.batches_failed),
        ] {
            e.counter(self.batches.name(), &[("outcome", outcome.label())], n as f64);
        }
        self.retries.header(e);
        e.counter(self.retries.name(), &[], s.retries as f64);
        self.queue_depth.header(e);
        e.gauge(self.queue_depth.name(), &[], s.queue_depth as f64);
        self.queue_capacity.header(e);
        e.gauge(self.queue_capacity.name(), &[], s.queue_capacity as f64);
    }
}
