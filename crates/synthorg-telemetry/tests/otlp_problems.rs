//! The exporter's problems are logged once per change of state, naming the signal: a
//! collector that answers every batch with a partial success is one warning, not one per
//! batch, and its recovery is one line. One test per file: it owns the global subscriber.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::receiver::{Receiver, Reply};
use synthorg_telemetry::otlp::{Exporter, ExporterConfig};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporter's own events as `message signal=…` lines.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.0.insert_str(0, &format!("{value:?}")),
            name => self.0.push_str(&format!(" {name}={value:?}")),
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.0.insert_str(0, value),
            name => self.0.push_str(&format!(" {name}={value}")),
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "synthorg::otlp" {
            let mut line = Line(String::new());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
    }
}

#[test]
fn a_lasting_partial_success_is_one_warning_and_its_end_one_line_naming_the_signal() {
    let receiver = Receiver::start().unwrap();
    // Five batches rejected in part, each a different count, then the collector recovers.
    receiver.script([Reply::Partial(1), Reply::Partial(2), Reply::Partial(3), Reply::Partial(1), Reply::Partial(2)]);
    receiver.set_default(Reply::Accept);
    let policy = EndpointPolicy::default();
    let endpoint = policy.check_endpoint(&receiver.endpoint(), &SystemResolver).unwrap();
    let mut config = ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver));
    config.batch_size = 5;
    config.export_interval = Duration::from_millis(10);
    let exporter = Exporter::start(config).unwrap();
    let kept = Kept::default();
    tracing_subscriber::registry().with(exporter.layer()).with(kept.clone()).init();
    for i in 0..40u64 {
        tracing::info!(i, "event");
        std::thread::sleep(Duration::from_millis(3));
    }
    let stats = exporter.shutdown(Duration::from_secs(5));
    assert_eq!((stats.emitted, stats.accounted()), (40, 40), "{stats:?}");
    assert_eq!((stats.batches_partial, stats.rejected), (5, 9), "{stats:?}");
    let lines = kept.0.lock().unwrap().clone();
    let partial: Vec<_> = lines.iter().filter(|l| l.contains("partial success")).collect();
    assert_eq!(partial.len(), 1, "one warning for five partial successes: {lines:#?}");
    assert!(partial[0].contains("signal=logs"), "{lines:#?}");
    let recovered: Vec<_> = lines.iter().filter(|l| l.contains("works again")).collect();
    assert_eq!(recovered.len(), 1, "{lines:#?}");
    assert!(recovered[0].contains("signal=logs"), "the recovery names its signal: {lines:#?}");
}
