//! The metric exporter against the exact-count receiver over loopback: the catalogue read on
//! an interval and at shutdown, mapped to OTLP with cumulative temporality, and accounted per
//! data point in every behaviour of the collector: `delivered + rejected + Σ dropped ==
//! emitted`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric::Data, number_data_point};
use synthorg_telemetry::metrics::{Exemplar, Exposition, Family, Histogram, Kind, OtelName};
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
use synthorg_telemetry::otlp::{DropReason, Exporter, ExporterConfig, ExporterStats, Metrics, Protocol};

fn config(receiver: &Receiver, tweak: impl FnOnce(&mut ExporterConfig)) -> ExporterConfig {
    let policy = EndpointPolicy::default();
    let checked = policy.check_signal_endpoint(&receiver.endpoint(), "/v1/metrics", &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(checked, policy, Arc::new(SystemResolver));
    config.export_interval = Duration::from_millis(50);
    config.timeout = Duration::from_millis(500);
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    tweak(&mut config);
    config
}

const TOKEN_BUCKETS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0];

/// A small catalogue of every kind; `readings` counts how often it was read. Each reading
/// writes 6 data points.
fn catalogue(readings: Arc<AtomicU64>) -> synthorg_telemetry::otlp::Reading {
    let requests = Family::new("x", "requests", Kind::Counter, "Requests.");
    let depth = Family::new("x", "queue_depth", Kind::Gauge, "Depth.");
    let app = Family::new("x", "app", Kind::Info, "Build.");
    let latency = Family::new("x", "latency_seconds", Kind::Histogram, "Latency.");
    let tokens = Family::new("", "gen_ai_client_token_usage", Kind::Histogram, "Tokens.").with_otel(OtelName {
        name: "gen_ai.client.token.usage",
        unit: "{token}",
        attributes: &[("gen_ai_token_type", "gen_ai.token.type")],
    });
    let histogram = Arc::new(Histogram::new(&[0.1, 1.0]));
    let exemplar = Exemplar::now([0x4b; 16], [0x0f; 8], 0.5);
    for v in [0.05, 0.5, 0.7, 3.0] {
        histogram.observe_with(v, (v == 0.5).then_some(exemplar));
    }
    let token_histogram = Arc::new(Histogram::of_counts(TOKEN_BUCKETS));
    token_histogram.observe(100.0);
    token_histogram.observe(3000.0);
    Arc::new(move || {
        let n = readings.fetch_add(1, Ordering::SeqCst) + 1;
        let mut e = Exposition::points();
        requests.header(&mut e);
        e.counter_with(requests.name(), &[("route", "/a")], n as f64, Some(&exemplar));
        e.counter(requests.name(), &[("route", "/b")], 2.0);
        depth.header(&mut e);
        e.gauge(depth.name(), &[], 3.5);
        app.header(&mut e);
        e.info(app.name(), &[("version", "1.0")]);
        latency.header(&mut e);
        e.histogram(latency.name(), &[("route", "/a")], &histogram.snapshot());
        tokens.header(&mut e);
        e.histogram(tokens.name(), &[("gen_ai_token_type", "input")], &token_histogram.snapshot());
        e.into_points()
    })
}

fn start(
    receiver: &Receiver,
    interval: Duration,
    tweak: impl FnOnce(&mut ExporterConfig),
) -> (Exporter<Metrics>, Arc<AtomicU64>) {
    let exporter = Exporter::start_metrics(config(receiver, tweak), interval).unwrap();
    let readings = Arc::new(AtomicU64::new(0));
    assert!(exporter.meter().unwrap().register(catalogue(Arc::clone(&readings))));
    assert!(!exporter.meter().unwrap().register(catalogue(Arc::new(AtomicU64::new(0)))), "one catalogue");
    (exporter, readings)
}

fn assert_accounted(stats: &ExporterStats, receiver: &Receiver, emitted: u64) {
    assert_eq!(stats.emitted, emitted, "{stats:?}");
    assert_eq!(stats.delivered, receiver.delivered_points(), "{stats:?}");
    assert_eq!(receiver.delivered_points() + stats.rejected + stats.dropped_total(), emitted, "{stats:?}");
    assert_eq!(stats.queue_depth, 0);
    assert_eq!((receiver.seen(), receiver.seen_spans()), (0, 0), "only /v1/metrics was called");
}

fn str_attr(attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    })
}

#[test]
fn the_catalogue_is_pushed_on_the_interval_and_once_more_at_shutdown() {
    for (protocol, gzip) in [(Protocol::HttpProtobuf, false), (Protocol::HttpJson, true)] {
        let receiver = Receiver::start().unwrap();
        let (exporter, readings) = start(&receiver, Duration::from_millis(100), |c| {
            c.protocol = protocol;
            c.gzip = gzip;
        });
        std::thread::sleep(Duration::from_millis(450));
        let stats = exporter.shutdown(Duration::from_secs(5));
        let n = readings.load(Ordering::SeqCst);
        assert!(n >= 3, "{protocol:?}: read {n} times");
        assert_accounted(&stats, &receiver, 6 * n);
        assert_eq!(stats.delivered, 6 * n, "{protocol:?}");

        let metrics = receiver.metrics();
        // The last reading (the shutdown's) of each family.
        let last = |name: &str| metrics.iter().rev().find(|m| m.name == name).unwrap().clone();
        let Some(Data::Sum(sum)) = last("x_requests").data else { panic!("a counter is a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        let a = sum.data_points.iter().find(|p| str_attr(&p.attributes, "route").as_deref() == Some("/a")).unwrap();
        assert_eq!(a.value, Some(number_data_point::Value::AsDouble(n as f64)), "the last reading is the last value");
        assert!(a.start_time_unix_nano > 0 && a.start_time_unix_nano <= a.time_unix_nano);
        assert_eq!(a.exemplars[0].trace_id, vec![0x4b; 16]);
        assert_eq!(a.exemplars[0].span_id, vec![0x0f; 8]);
        assert_eq!(last("x_requests").description, "Requests.");
        assert!(matches!(last("x_queue_depth").data, Some(Data::Gauge(_))));
        let Some(Data::Gauge(info)) = last("x_app_info").data else { panic!("info is a gauge") };
        assert_eq!(str_attr(&info.data_points[0].attributes, "version").as_deref(), Some("1.0"));
        assert_eq!(info.data_points[0].value, Some(number_data_point::Value::AsDouble(1.0)));
        let Some(Data::Histogram(h)) = last("x_latency_seconds").data else { panic!("a histogram") };
        assert_eq!(h.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        let p = &h.data_points[0];
        assert_eq!((p.explicit_bounds.clone(), p.bucket_counts.clone()), (vec![0.1, 1.0], vec![1, 2, 1]), "per bucket");
        assert_eq!((p.count, p.sum), (4, Some(4.25)));
        assert_eq!(p.exemplars.len(), 1);
        assert_eq!(p.exemplars[0].trace_id, vec![0x4b; 16]);
        let tokens = last("gen_ai.client.token.usage");
        assert_eq!(tokens.unit, "{token}");
        let Some(Data::Histogram(h)) = tokens.data else { panic!("a histogram") };
        let p = &h.data_points[0];
        assert_eq!(str_attr(&p.attributes, "gen_ai.token.type").as_deref(), Some("input"), "renamed attribute");
        assert_eq!((p.count, p.sum), (2, Some(3100.0)));
        assert_eq!(p.bucket_counts, vec![0, 0, 0, 0, 1, 0, 1]);
    }
}

#[test]
fn a_long_interval_still_sends_the_final_reading() {
    let receiver = Receiver::start().unwrap();
    let (exporter, readings) = start(&receiver, Duration::from_secs(3600), |_| {});
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_eq!(readings.load(Ordering::SeqCst), 1);
    assert_accounted(&stats, &receiver, 6);
    assert_eq!(stats.delivered, 6);
}

/// In both encodings of the answer (`rejectedDataPoints` is a string in OTLP/JSON).
#[test]
fn partial_success_counts_rejected_points() {
    for protocol in [Protocol::HttpJson, Protocol::HttpProtobuf] {
        let receiver = Receiver::start().unwrap();
        receiver.script([Reply::Partial(2)]);
        let (exporter, _) = start(&receiver, Duration::from_secs(3600), |c| c.protocol = protocol);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_accounted(&stats, &receiver, 6);
        assert_eq!((stats.rejected, stats.delivered, stats.batches_partial), (2, 4, 1), "{protocol:?}");
    }
}

#[test]
fn a_failing_collector_is_retried_then_the_points_counted() {
    let receiver = Receiver::start().unwrap();
    receiver.script([Reply::Status(503, None), Reply::Close, Reply::Status(400, None)]);
    let (exporter, _) = start(&receiver, Duration::from_secs(3600), |_| {});
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 6);
    assert_eq!((stats.delivered, stats.retries), (0, 2));
    assert_eq!(stats.dropped_by(DropReason::NonRetryable), 6);
}

/// A collector that never answers: readings pile up to the queue's capacity, the rest is
/// dropped and counted, and shutdown ends at its deadline.
#[test]
fn a_hanging_collector_bounds_the_queue() {
    let receiver = Receiver::start().unwrap();
    receiver.set_default(Reply::Hang);
    let (exporter, readings) = start(&receiver, Duration::from_millis(10), |c| {
        c.queue_capacity = 20;
        c.batch_size = 6;
        c.timeout = Duration::from_secs(30);
    });
    std::thread::sleep(Duration::from_millis(300));
    let depth = exporter.stats().queue_depth;
    assert!(depth <= 20, "bounded: {depth}");
    let began = std::time::Instant::now();
    let stats = exporter.shutdown(Duration::from_millis(300));
    assert!(began.elapsed() < Duration::from_secs(2), "one deadline");
    let n = readings.load(Ordering::SeqCst);
    assert!(n > 10, "read {n} times");
    assert_eq!(stats.emitted, 6 * n);
    assert!(stats.dropped_by(DropReason::QueueFull) > 0, "{stats:?}");
    assert_eq!(stats.accounted(), 6 * n, "{stats:?}");
    assert_eq!(receiver.delivered_points(), 0);
}
