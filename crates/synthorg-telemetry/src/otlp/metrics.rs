//! The exporter's own families: its accounting, `emitted == exported (all outcomes) +
//! dropped (all reasons)` once the queue is empty.

use super::{DropReason, ExporterHandle, ExporterStats};
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

/// The `{prefix}_otlp_*` families of the running exporters, one label set per signal.
#[derive(Debug)]
pub struct ExporterMetrics {
    handles: Vec<ExporterHandle>,
    emitted: Family<1>,
    exported: Family<2>,
    dropped: Family<2>,
    batches: Family<2>,
    retries: Family<1>,
    queue_depth: Family<1>,
    queue_capacity: Family<1>,
}

impl ExporterMetrics {
    pub fn new(prefix: &str, handles: impl IntoIterator<Item = ExporterHandle>) -> Self {
        let f = |name, kind, help| Family::new(prefix, name, kind, help);
        Self {
            handles: handles.into_iter().collect(),
            emitted: f("otlp_records_emitted", Kind::Counter, "Records handed to the OTLP exporter, by signal.")
                .labelled(["signal"]),
            exported: f(
                "otlp_records_exported",
                Kind::Counter,
                "Records sent to the collector, by signal and outcome: delivered, or rejected in a partial success.",
            )
            .labelled(["signal", "outcome"]),
            dropped: f(
                "otlp_records_dropped",
                Kind::Counter,
                "Records the OTLP exporter dropped, by signal and reason.",
            )
            .labelled(["signal", "reason"]),
            batches: f(
                "otlp_batches",
                Kind::Counter,
                "OTLP export requests, by signal and outcome: success, partial, failed.",
            )
            .labelled(["signal", "outcome"]),
            retries: f(
                "otlp_retries",
                Kind::Counter,
                "OTLP export attempts repeated after a retryable failure, by signal.",
            )
            .labelled(["signal"]),
            queue_depth: f("otlp_queue_depth", Kind::Gauge, "Records waiting in the OTLP exporter's queue, by signal.")
                .labelled(["signal"]),
            queue_capacity: f("otlp_queue_capacity", Kind::Gauge, "Capacity of the OTLP exporter's queue, by signal.")
                .labelled(["signal"]),
        }
    }
}

impl Collect for ExporterMetrics {
    fn collect(&self, e: &mut Exposition) {
        let stats: Vec<(&str, ExporterStats)> = self.handles.iter().map(|h| (h.signal(), h.stats())).collect();
        self.emitted.header(e);
        for (signal, s) in &stats {
            self.emitted.counter(e, [signal], s.emitted as f64);
        }
        self.exported.header(e);
        for (signal, s) in &stats {
            for (outcome, n) in [(ExportOutcome::Delivered, s.delivered), (ExportOutcome::Rejected, s.rejected)] {
                self.exported.counter(e, [signal, outcome.label()], n as f64);
            }
        }
        self.dropped.header(e);
        for (signal, s) in &stats {
            for reason in DropReason::ALL {
                self.dropped.counter(e, [signal, reason.label()], s.dropped_by(reason) as f64);
            }
        }
        self.batches.header(e);
        for (signal, s) in &stats {
            for (outcome, n) in [
                (BatchOutcome::Success, s.batches_success),
                (BatchOutcome::Partial, s.batches_partial),
                (BatchOutcome::Failed, s.batches_failed),
            ] {
                self.batches.counter(e, [signal, outcome.label()], n as f64);
            }
        }
        self.retries.header(e);
        for (signal, s) in &stats {
            self.retries.counter(e, [signal], s.retries as f64);
        }
        self.queue_depth.header(e);
        for (signal, s) in &stats {
            self.queue_depth.gauge(e, [signal], s.queue_depth as f64);
        }
        self.queue_capacity.header(e);
        for (signal, s) in &stats {
            self.queue_capacity.gauge(e, [signal], s.queue_capacity as f64);
        }
    }
}
