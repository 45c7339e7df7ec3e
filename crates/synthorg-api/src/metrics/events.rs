//! The families the events of committed changes move: security verdicts, and the figures
//! of the latest coordination run. Counted by the API's effects (`crate::effects`), only
//! after the commit that holds the change.

use synthorg_core::security::Verdict;
use synthorg_telemetry::metrics::{Collect, CounterMap, Exposition, Family, Gauge, Kind};

/// `{prefix}_security_evaluations_total` and `{prefix}_coordination_*`.
#[derive(Debug)]
pub struct EventMetrics {
    verdicts: CounterMap<Verdict>,
    coordination_efficiency: Gauge,
    coordination_overhead: Gauge,
    verdicts_family: Family,
    efficiency_family: Family,
    overhead_family: Family,
}

impl EventMetrics {
    pub fn new(prefix: &str) -> Self {
        Self {
            verdicts: CounterMap::with_keys(Verdict::ALL.iter().copied()),
            coordination_efficiency: Gauge::default(),
            coordination_overhead: Gauge::default(),
            verdicts_family: Family::new(
                prefix,
                "security_evaluations",
                Kind::Counter,
                "Security verdicts given by this process, by verdict.",
            ),
            efficiency_family: Family::new(
                prefix,
                "coordination_efficiency",
                Kind::Gauge,
                "Efficiency of the latest coordination run: success_rate / (turns_mas / turns_sas).",
            ),
            overhead_family: Family::new(
                prefix,
                "coordination_overhead_percent",
                Kind::Gauge,
                "Overhead of the latest coordination run: (turns_mas - turns_sas) / turns_sas x 100.",
            ),
        }
    }

    /// One security verdict (evaluation or output scan).
    pub fn verdict(&self, verdict: Verdict) {
        self.verdicts.inc(verdict);
    }

    /// The figures of the latest coordination run.
    pub fn coordination_run(&self, efficiency: f64, overhead_percent: f64) {
        self.coordination_efficiency.set(efficiency);
        self.coordination_overhead.set(overhead_percent);
    }
}

impl Collect for EventMetrics {
    fn collect(&self, e: &mut Exposition) {
        for (family, gauge) in [
            (&self.efficiency_family, &self.coordination_efficiency),
            (&self.overhead_family, &self.coordination_overhead),
        ] {
            family.header(e);
            if let Some(v) = gauge.get() {
                e.gauge(family.name(), &[], v);
            }
        }
        self.verdicts_family.header(e);
        for (verdict, count) in self.verdicts.snapshot() {
            e.counter(self.verdicts_family.name(), &[("verdict", verdict.as_str())], count as f64);
        }
    }
}
