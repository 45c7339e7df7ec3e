//! The store's own families: the SQLite writer's queue and group commit, read at scrape
//! time from atomics (no query). A store without an in-process writer (PostgreSQL) has none.

use std::sync::Arc;

use synthorg_telemetry::metrics::{Collect, Exposition, Family, Kind};

use crate::Store;

/// The `{prefix}_store_*` families.
#[derive(Debug)]
pub struct WriterMetrics {
    store: Arc<dyn Store>,
    queue: Family,
    commits: Family,
    writes: Family,
    wal_restarts: Family,
}

impl WriterMetrics {
    pub fn new(prefix: &str, store: Arc<dyn Store>) -> Self {
        let f = |name, kind, help| Family::new(prefix, name, kind, help);
        Self {
            store,
            queue: f("store_write_queue_depth", Kind::Gauge, "API writes waiting for the store's writer thread."),
            commits: f("store_commits", Kind::Counter, "Store transactions committed (one fsync each)."),
            writes: f(
                "store_writes",
                Kind::Counter,
                "Successful store writes committed; divided by commits: writes per fsync.",
            ),
            wal_restarts: f(
                "store_wal_restarts",
                Kind::Counter,
                "Times the writer started the WAL over to keep it bounded.",
            ),
        }
    }
}

impl Collect for WriterMetrics {
    fn collect(&self, e: &mut Exposition) {
        let Some(s) = self.store.writer_stats() else { return };
        self.queue.header(e);
        self.queue.gauge(e, [], s.queued as f64);
        for (family, n) in [(&self.commits, s.commits), (&self.writes, s.writes), (&self.wal_restarts, s.wal_restarts)]
        {
            family.header(e);
            family.counter(e, [], n as f64);
        }
    }
}
