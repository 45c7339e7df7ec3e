//! The trace exporter against the exact-count receiver over loopback: the same core as the
//! log exporter, so the same identity must hold for spans in every behaviour of the
//! collector: `delivered + rejected + Σ dropped == emitted`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
use synthorg_telemetry::otlp::{
    DropReason, Exporter, ExporterConfig, ExporterStats, Protocol, SpanKind, SpanRecord, Traces,
};

fn config(receiver: &Receiver, tweak: impl FnOnce(&mut ExporterConfig)) -> ExporterConfig {
    let policy = EndpointPolicy::default();
    let checked = policy.check_signal_endpoint(&receiver.endpoint(), "/v1/traces", &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(checked, policy, Arc::new(SystemResolver));
    config.export_interval = Duration::from_millis(50);
    config.batch_size = 100;
    config.timeout = Duration::from_millis(500);
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    tweak(&mut config);
    config
}

fn emit(exporter: &Exporter<Traces>, n: usize) {
    let tracer = exporter.tracer();
    let start = SystemTime::now();
    for i in 0..n {
        tracer.record(SpanRecord {
            trace_id: [7; 16],
            span_id: u64::try_from(i + 1).unwrap().to_be_bytes(),
            parent_span_id: None,
            flags: 1,
            name: format!("GET /api/v1/agents/{i}"),
            kind: SpanKind::Server,
            start,
            end: start + Duration::from_micros(250),
            attributes: vec![("http.response.status_code", 200i64.into())],
            error: None,
            trace_state: None,
        });
    }
}

fn assert_accounted(stats: &ExporterStats, receiver: &Receiver, emitted: u64) {
    assert_eq!(stats.emitted, emitted, "{stats:?}");
    assert_eq!(stats.delivered, receiver.delivered_spans(), "{stats:?}");
    assert_eq!(receiver.delivered_spans() + stats.rejected + stats.dropped_total(), emitted, "{stats:?}");
    assert_eq!(stats.queue_depth, 0);
    assert_eq!(receiver.seen(), 0, "no log record: the spans went to /v1/traces");
}

#[test]
fn every_span_arrives_over_both_protocols() {
    for (protocol, gzip) in [(Protocol::HttpProtobuf, false), (Protocol::HttpJson, true)] {
        let receiver = Receiver::start().unwrap();
        let exporter = Exporter::start_traces(config(&receiver, |c| {
            c.protocol = protocol;
            c.gzip = gzip;
        }))
        .unwrap();
        emit(&exporter, 250);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_accounted(&stats, &receiver, 250);
        assert_eq!(receiver.delivered_spans(), 250, "{protocol:?}");
        let names: std::collections::BTreeSet<String> = receiver.spans().into_iter().map(|s| s.name).collect();
        assert_eq!(names.len(), 250, "each span once");
    }
}

/// In both encodings of the answer (`rejectedSpans` is a string in OTLP/JSON).
#[test]
fn partial_success_counts_rejected_spans() {
    for protocol in [Protocol::HttpJson, Protocol::HttpProtobuf] {
        let receiver = Receiver::start().unwrap();
        receiver.script([Reply::Partial(7)]);
        let exporter = Exporter::start_traces(config(&receiver, |c| {
            c.export_interval = Duration::from_secs(30);
            c.protocol = protocol;
        }))
        .unwrap();
        emit(&exporter, 100);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_accounted(&stats, &receiver, 100);
        assert_eq!((stats.rejected, stats.delivered, stats.batches_partial), (7, 93, 1), "{protocol:?}");
    }
}

#[test]
fn retryable_failures_are_retried_and_the_rest_counted() {
    let receiver = Receiver::start().unwrap();
    receiver.script([Reply::Status(503, None), Reply::Hang, Reply::Close, Reply::Status(400, None)]);
    let exporter = Exporter::start_traces(config(&receiver, |c| {
        c.timeout = Duration::from_millis(300);
        c.export_interval = Duration::from_secs(30);
    }))
    .unwrap();
    // One batch: 503, no answer, closed, then accepted.
    emit(&exporter, 100);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 100);
    assert_eq!((stats.delivered, stats.retries), (0, 3), "the 400 after three retries drops the batch");
    assert_eq!(stats.dropped_by(DropReason::NonRetryable), 100);
}

#[test]
fn a_full_queue_drops_and_counts_spans() {
    let receiver = Receiver::start().unwrap();
    receiver.set_default(Reply::Hang);
    let exporter = Exporter::start_traces(config(&receiver, |c| {
        c.queue_capacity = 100;
        c.timeout = Duration::from_secs(30);
    }))
    .unwrap();
    emit(&exporter, 5_000);
    let stats = exporter.shutdown(Duration::from_millis(300));
    assert_eq!(stats.emitted, 5_000);
    assert!(stats.dropped_by(DropReason::QueueFull) >= 4_800, "{stats:?}");
    assert_eq!(stats.accounted(), 5_000, "{stats:?}");
    assert_eq!(receiver.delivered_spans(), 0);
}
