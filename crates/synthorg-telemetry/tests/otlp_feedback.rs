//! The exporter's own events (its warnings about a failing collector, anything its HTTP
//! stack would log) never feed back into the exporter, even with the exporter installed as
//! the process-wide subscriber. One test per file: it owns the global subscriber.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
use synthorg_telemetry::otlp::{DropReason, Exporter, ExporterConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[test]
fn the_exporters_own_warnings_are_not_exported() {
    let receiver = Receiver::start().unwrap();
    // Every answer is a failure the exporter warns about: 400 (dropped) and 503 (retried).
    receiver.script([Reply::Status(503, Some("0".into()))]);
    receiver.set_default(Reply::Status(400, None));
    receiver.keep_requests();
    let policy = EndpointPolicy::default();
    let endpoint = policy.check_endpoint(&receiver.endpoint(), &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver));
    config.batch_size = 10;
    config.export_interval = Duration::from_millis(20);
    let exporter = Exporter::start(config).unwrap();
    tracing_subscriber::registry().with(exporter.layer()).init();
    for i in 0..50u64 {
        tracing::info!(i, "event");
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_eq!(stats.emitted, 50, "{stats:?}");
    // The first batch is retried once; how many records it holds depends on timing (it
    // leaves when full or when the interval ends).
    let records = |r: &opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest| -> u64 {
        r.resource_logs.iter().flat_map(|rl| &rl.scope_logs).map(|sl| sl.log_records.len() as u64).sum()
    };
    let first = records(&receiver.kept()[0]);
    assert!((1..=10).contains(&first), "first batch of {first}");
    assert_eq!(receiver.seen(), 50 + first, "each record once, the retried batch twice; nothing else");
    assert_eq!(stats.dropped_by(DropReason::NonRetryable), 50);
    assert_eq!(stats.accounted(), 50);
}
