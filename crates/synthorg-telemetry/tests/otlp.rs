//! The OTLP exporter against an exact-count receiver over loopback: for every behaviour of
//! the collector, `delivered + rejected + Σ dropped == emitted`, retries happen only where
//! SPEC §4 allows, and shutdown returns within its deadline.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, Resolver, SystemResolver};
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
use synthorg_telemetry::otlp::{DropReason, Exporter, ExporterConfig, ExporterStats, Protocol};
use tracing_subscriber::layer::SubscriberExt;

fn secret(name: &str) -> bool {
    name.contains("password")
}

fn config(endpoint: &str, tweak: impl FnOnce(&mut ExporterConfig)) -> ExporterConfig {
    let policy = EndpointPolicy::default();
    let checked = policy.check_endpoint(endpoint, &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(checked, policy, Arc::new(SystemResolver));
    config.export_interval = Duration::from_millis(50);
    config.batch_size = 100;
    config.timeout = Duration::from_millis(500);
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    config.is_secret = secret;
    config.resource =
        vec![("service.name".into(), "synthorg-test".into()), ("service.instance.id".into(), "i-1".into())];
    tweak(&mut config);
    config
}

/// Emits `n` INFO events with five fields inside a request span.
fn emit(exporter: &Exporter, n: usize) {
    let subscriber = tracing_subscriber::registry().with(exporter.layer());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "request",
            request_id = "req-1",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            trace_flags = 1u64,
            task_id = tracing::field::Empty,
        );
        let _guard = span.enter();
        span.record("task_id", "task-7");
        for i in 0..n {
            tracing::info!(target: "synthorg::test", i = i as u64, agent = "a-1", ok = true, ratio = 0.5, password = "hunter2", "event {i}");
        }
    });
}

/// The accounting identity, with the receiver's own count as the delivered figure.
fn assert_accounted(stats: &ExporterStats, receiver: &Receiver, emitted: u64) {
    assert_eq!(stats.emitted, emitted, "{stats:?}");
    assert_eq!(stats.delivered, receiver.delivered(), "{stats:?}");
    assert_eq!(receiver.delivered() + stats.rejected + stats.dropped_total(), emitted, "{stats:?}");
    assert_eq!(stats.queue_depth, 0);
}

#[test]
fn every_record_arrives_with_the_spec_mapping() {
    let receiver = Receiver::start().unwrap();
    receiver.keep_requests();
    let exporter = Exporter::start(config(&receiver.endpoint(), |_| {})).unwrap();
    emit(&exporter, 1000);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 1000);
    assert_eq!(receiver.delivered(), 1000);
    assert_eq!((stats.retries, stats.dropped_total()), (0, 0));
    assert!(receiver.content_types().iter().all(|c| c == "application/x-protobuf"));

    let requests = receiver.kept();
    let resource = requests[0].resource_logs[0].resource.clone().unwrap();
    let attr = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str| {
        attrs.iter().find(|a| a.key == key).and_then(|a| a.value.clone()).and_then(|v| v.value)
    };
    assert_eq!(attr(&resource.attributes, "service.name"), Some(Any::StringValue("synthorg-test".into())));
    let scope = &requests[0].resource_logs[0].scope_logs[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "synthorg::test");
    let record = &scope.log_records[0];
    assert_eq!((record.severity_number, record.severity_text.as_str()), (9, "INFO"));
    assert!(record.time_unix_nano > 0 && record.observed_time_unix_nano == record.time_unix_nano);
    assert_eq!(hex::encode(&record.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex::encode(&record.span_id), "00f067aa0ba902b7");
    assert_eq!(record.flags, 1);
    assert_eq!(attr(&record.attributes, "i"), Some(Any::IntValue(0)));
    assert_eq!(attr(&record.attributes, "ok"), Some(Any::BoolValue(true)));
    assert_eq!(attr(&record.attributes, "ratio"), Some(Any::DoubleValue(0.5)));
    assert_eq!(attr(&record.attributes, "agent"), Some(Any::StringValue("a-1".into())));
    assert_eq!(attr(&record.attributes, "password"), Some(Any::StringValue("**REDACTED**".into())));
    assert_eq!(attr(&record.attributes, "request_id"), Some(Any::StringValue("req-1".into())));
    assert_eq!(attr(&record.attributes, "task_id"), Some(Any::StringValue("task-7".into())));
    assert_eq!(attr(&record.attributes, "message"), None, "the message is in the body");
    let Some(Any::StringValue(body)) = record.body.clone().and_then(|b| b.value) else { panic!("no body") };
    let line: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(line["message"], "event 0");
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["task_id"], "task-7");
    assert_eq!(line["password"], "**REDACTED**");
    assert_eq!(line["level"], "INFO");
    let all: Vec<String> = requests.iter().map(|r| format!("{r:?}")).collect();
    assert!(!all.concat().contains("hunter2"));
}

#[test]
fn http_json_and_gzip_deliver_everything() {
    for (protocol, gzip, content_type) in
        [(Protocol::HttpJson, false, "application/json"), (Protocol::HttpProtobuf, true, "application/x-protobuf")]
    {
        let receiver = Receiver::start().unwrap();
        receiver.keep_requests();
        let exporter = Exporter::start(config(&receiver.endpoint(), |c| {
            c.protocol = protocol;
            c.gzip = gzip;
        }))
        .unwrap();
        emit(&exporter, 500);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_accounted(&stats, &receiver, 500);
        assert_eq!(receiver.delivered(), 500, "{protocol:?}");
        assert!(receiver.content_types().iter().all(|c| c == content_type));
        let record = &receiver.kept()[0].resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(hex::encode(&record.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736", "{protocol:?}");
    }
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after() {
    let receiver = Receiver::start().unwrap();
    let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    receiver.script([
        Reply::Status(503, Some("1".into())),
        Reply::Status(429, Some(later)),
        Reply::Status(502, None),
        Reply::Status(504, None),
    ]);
    let exporter = Exporter::start(config(&receiver.endpoint(), |c| c.batch_size = 1000)).unwrap();
    let started = Instant::now();
    emit(&exporter, 300);
    let stats = exporter.shutdown(Duration::from_secs(10));
    assert_accounted(&stats, &receiver, 300);
    assert_eq!(receiver.delivered(), 300);
    assert_eq!(stats.retries, 4);
    // Retry-After: 1 s, then an HTTP date (second resolution) 3 s after the start.
    assert!(started.elapsed() >= Duration::from_millis(1950), "{:?}", started.elapsed());
}

#[test]
fn non_retryable_answers_are_dropped_without_retry() {
    for status in [400, 401, 404, 413, 500, 301] {
        let receiver = Receiver::start().unwrap();
        receiver.script([Reply::Status(status, Some("0".into()))]);
        // Batches leave when full (never on the interval), so the first one holds 50.
        let exporter = Exporter::start(config(&receiver.endpoint(), |c| {
            c.batch_size = 50;
            c.export_interval = Duration::from_secs(30);
        }))
        .unwrap();
        emit(&exporter, 200);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_accounted(&stats, &receiver, 200);
        assert_eq!(stats.retries, 0, "{status}");
        assert_eq!(stats.dropped_by(DropReason::NonRetryable), 50, "{status}: {stats:?}");
        assert_eq!(receiver.delivered(), 150, "{status}");
        let batches = stats.batches_success + stats.batches_failed;
        assert_eq!(receiver.requests(), batches, "{status}: one request per batch, no retry");
        assert_eq!(stats.batches_failed, 1, "{status}");
    }
}

#[test]
fn partial_success_is_counted_and_not_retried() {
    let receiver = Receiver::start().unwrap();
    receiver.script([Reply::Partial(7)]);
    let exporter =
        Exporter::start(config(&receiver.endpoint(), |c| c.export_interval = Duration::from_secs(30))).unwrap();
    emit(&exporter, 100);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 100);
    assert_eq!((stats.rejected, stats.delivered, stats.retries, stats.batches_partial), (7, 93, 0, 1));
}

#[test]
fn a_collector_that_never_answers_times_out_and_is_retried() {
    let receiver = Receiver::start().unwrap();
    receiver.script([Reply::Hang, Reply::Close]);
    let exporter = Exporter::start(config(&receiver.endpoint(), |c| c.timeout = Duration::from_millis(300))).unwrap();
    emit(&exporter, 100);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 100);
    assert_eq!((receiver.delivered(), stats.retries), (100, 2));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn connection_refused_exhausts_retries_and_is_counted() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let exporter = Exporter::start(config(&endpoint, |c| c.max_retries = 2)).unwrap();
    emit(&exporter, 250);
    let started = Instant::now();
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(stats.emitted, 250);
    assert_eq!(stats.dropped_by(DropReason::RetriesExhausted), 250, "{stats:?}");
    assert_eq!(stats.accounted(), 250);
    // At least three batches of at most 100 (how the queue was cut depends on timing), each
    // tried three times.
    assert!(stats.batches_failed >= 3, "{stats:?}");
    assert_eq!(stats.retries, 2 * stats.batches_failed, "two retries per batch: {stats:?}");
}

#[test]
fn a_collector_back_after_an_outage_gets_everything() {
    let port = free_port();
    let exporter = Exporter::start(config(&format!("http://127.0.0.1:{port}"), |c| {
        c.max_retries = 1000;
        c.max_backoff = Duration::from_millis(100);
    }))
    .unwrap();
    emit(&exporter, 500);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(exporter.stats().delivered, 0);
    let receiver = Receiver::bind((Ipv4Addr::LOCALHOST, port).into()).unwrap();
    let stats = exporter.shutdown(Duration::from_secs(10));
    assert_accounted(&stats, &receiver, 500);
    assert_eq!(receiver.delivered(), 500);
    assert!(stats.retries > 0);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let receiver = Receiver::start().unwrap();
    receiver.set_default(Reply::Hang);
    let exporter = Exporter::start(config(&receiver.endpoint(), |c| {
        c.queue_capacity = 100;
        c.timeout = Duration::from_secs(30);
    }))
    .unwrap();
    let started = Instant::now();
    emit(&exporter, 10_000);
    assert!(started.elapsed() < Duration::from_secs(2), "emitting blocked: {:?}", started.elapsed());
    let started = Instant::now();
    let stats = exporter.shutdown(Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_millis(1500), "shutdown took {:?}", started.elapsed());
    assert_eq!(stats.emitted, 10_000);
    assert!(stats.dropped_by(DropReason::QueueFull) >= 9_800, "{stats:?}");
    assert_eq!(stats.accounted(), 10_000, "{stats:?}");
    assert_eq!(receiver.delivered(), 0);
    assert_eq!(stats.dropped_by(DropReason::Shutdown), 10_000 - stats.dropped_by(DropReason::QueueFull));
    // After shutdown, records are counted as dropped, not lost.
    emit(&exporter, 5);
    assert_eq!(exporter.stats().dropped_by(DropReason::Shutdown), stats.dropped_by(DropReason::Shutdown) + 5);
}

#[test]
fn oversized_batches_split_and_oversized_records_drop() {
    let receiver = Receiver::start().unwrap();
    let exporter = Exporter::start(config(&receiver.endpoint(), |c| {
        c.max_request_bytes = 8 * 1024;
        c.batch_size = 1000;
    }))
    .unwrap();
    emit(&exporter, 200);
    let subscriber = tracing_subscriber::registry().with(exporter.layer());
    tracing::subscriber::with_default(subscriber, || tracing::warn!(blob = "x".repeat(20_000), "huge"));
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_accounted(&stats, &receiver, 201);
    assert_eq!((receiver.delivered(), stats.dropped_by(DropReason::TooLarge)), (200, 1));
    assert!(receiver.requests() > 5, "the batch was split: {}", receiver.requests());
}

/// Resolves to an admitted address at load and to the metadata address later.
struct Rebinding(AtomicBool);

impl Resolver for Rebinding {
    fn resolve(&self, _host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok(vec![match self.0.load(Ordering::SeqCst) {
            false => IpAddr::V4(Ipv4Addr::LOCALHOST),
            true => IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
        }])
    }
}

#[test]
fn dns_rebinding_is_refused_at_connect() {
    let receiver = Receiver::start().unwrap();
    let resolver = Arc::new(Rebinding(AtomicBool::new(false)));
    let policy = EndpointPolicy { allowed_private_cidrs: vec!["127.0.0.0/8".parse().unwrap()], ..Default::default() };
    let endpoint = format!("http://collector.internal.test:{}", receiver.address().port());
    let checked = policy.check_endpoint(&endpoint, resolver.as_ref()).unwrap();
    let mut config = config(&receiver.endpoint(), |_| {});
    config.endpoint = checked;
    config.policy = policy;
    config.resolver = resolver.clone();
    let exporter = Exporter::start(config).unwrap();
    emit(&exporter, 10);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.delivered(), 10, "admitted while it resolves to an allowed address");
    resolver.0.store(true, Ordering::SeqCst);
    // A new connection is needed for the rebinding to matter: the receiver closes this one.
    receiver.script([Reply::Close]);
    emit(&exporter, 10);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_eq!(receiver.delivered(), 10);
    assert_eq!(stats.dropped_by(DropReason::NonRetryable), 10, "{stats:?}");
    assert_eq!(stats.accounted(), 20);
}

/// A CA and a server certificate for `localhost` / 127.0.0.1 it signed, as PEM.
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn https_endpoints_are_verified_against_the_configured_ca() {
    let (ca, cert, key) = test_pki();
    let receiver = Receiver::start_tls(&cert, &key).unwrap();
    let port = receiver.address().port();
    for host in ["localhost", "127.0.0.1"] {
        let before = receiver.delivered();
        let exporter =
            Exporter::start(config(&format!("https://{host}:{port}"), |c| c.ca_pem = Some(ca.clone().into_bytes())))
                .unwrap();
        emit(&exporter, 300);
        let stats = exporter.shutdown(Duration::from_secs(5));
        assert_eq!((stats.delivered, receiver.delivered() - before), (300, 300), "{host}: {stats:?}");
    }
    // Without the CA the server is not trusted: nothing is sent, everything is counted.
    let exporter = Exporter::start(config(&format!("https://localhost:{port}"), |c| c.max_retries = 1)).unwrap();
    emit(&exporter, 50);
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_eq!((stats.delivered, stats.dropped_by(DropReason::RetriesExhausted)), (0, 50), "{stats:?}");
    assert_eq!(receiver.delivered(), 600);
    // A CA file without a certificate is refused at start.
    let refused = Exporter::start(config("https://localhost:1", |c| c.ca_pem = Some(b"not pem".to_vec())));
    let error = refused.unwrap_err();
    assert!(
        matches!(error, synthorg_telemetry::otlp::StartError::Tls(synthorg_telemetry::tls::TlsError::NoCertificate)),
        "{error}"
    );
    assert!(error.to_string().contains("no certificate"), "{error}");
}

/// With the default retry settings, a collector answering 503 for four seconds (a restart)
/// loses nothing: a batch is retried for up to `max_elapsed` (5 min by default), not given up after a
/// few quick retries while the queue still has room.
#[test]
fn a_short_outage_with_room_in_the_queue_loses_nothing() {
    let receiver = Receiver::start().unwrap();
    receiver.set_default(Reply::Status(503, None));
    let policy = EndpointPolicy::default();
    let checked = policy.check_endpoint(&receiver.endpoint(), &SystemResolver).unwrap();
    let mut defaults = ExporterConfig::new(checked, policy, Arc::new(SystemResolver));
    defaults.export_interval = Duration::from_millis(50);
    let exporter = Exporter::start(defaults).unwrap();
    emit(&exporter, 300);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(exporter.stats().delivered, 0, "the collector was away");
    receiver.set_default(Reply::Accept);
    let stats = exporter.shutdown(Duration::from_secs(15));
    assert_accounted(&stats, &receiver, 300);
    assert_eq!((stats.delivered, stats.dropped_total()), (300, 0), "{stats:?}");
    assert!(stats.retries > 0, "{stats:?}");
}
