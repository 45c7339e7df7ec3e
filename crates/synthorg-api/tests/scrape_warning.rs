//! A test that captures the service's own log events, in a test binary of its own.
//!
//! Tracing keeps one process-wide level and interest cache, recomputed whenever a subscriber
//! is created. Among the many tests of `tests/it` that create subscribers of their own, a
//! thread-local capturing subscriber could lose an event to another thread's recomputation
//! (seen as a rare flake). Alone in its process, this test installs the global subscriber
//! and nothing else competes with it.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

use std::sync::{Arc, Mutex};

use synthorg_api::{MetricsCollector, MetricsSettings};
use synthorg_telemetry::metrics::Format;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value of the sample line starting with `prefix` (name and labels).
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// A failing source logs exactly one WARN per scrape, naming the source; the other sources
/// still answer.
#[test]
fn a_failing_source_logs_one_warn_naming_it() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(synthorg_store::SqliteStore::open_dir(dir.path(), &Default::default()).unwrap());
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.execute_batch("DROP TABLE approvals;").unwrap();
    let collector = MetricsCollector::new(store, MetricsSettings::default(), Default::default(), Vec::new());
    let text = String::from_utf8(collector.scrape(Format::Text)).unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    // (The temporary data directory may be readable by others: the store warns about that.)
    let warns: Vec<_> = logs.lines().filter(|l| l.contains("WARN") && l.contains("synthorg_api::metrics")).collect();
    assert_eq!(warns.len(), 1, "{logs}");
    assert!(warns[0].contains("source=\"approvals\""), "{}", warns[0]);
    assert_eq!(value(&text, "synthorg_scrape_errors_total{source=\"approvals\"}"), Some(1.0));
    let agents: f64 = text
        .lines()
        .filter(|l| l.starts_with("synthorg_agents_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(agents, 0.0, "the other sources answered");
    assert!(text.contains("synthorg_agents_total"), "the agents family is exposed");
}
