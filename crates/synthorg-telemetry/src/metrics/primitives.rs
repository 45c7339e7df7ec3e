//! Pushed metrics: lock-free counters and gauges, small maps of labelled counters, and
//! fixed-bucket histograms. All are safe to update from any thread while a scrape reads them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.inc_by(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down; `None` until first set.
#[derive(Debug)]
pub struct Gauge(AtomicU64);

const UNSET: u64 = u64::MAX; // a NaN bit pattern no `set` writes (NaN is stored as the canonical NaN)

impl Default for Gauge {
    fn default() -> Self {
        Self(AtomicU64::new(UNSET))
    }
}

impl Gauge {
    pub fn set(&self, v: f64) {
        let bits = if v.is_nan() { f64::NAN.to_bits() } else { v.to_bits() };
        self.0.store(bits, Ordering::Relaxed);
    }
    pub fn get(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) {
            UNSET => None,
            bits => Some(f64::from_bits(bits)),
        }
    }
}

/// Counters keyed by a small, bounded label set (the caller guarantees the bound).
#[derive(Debug)]
pub struct CounterMap<K: Ord> {
    values: Mutex<BTreeMap<K, u64>>,
}

impl<K: Ord + Clone> CounterMap<K> {
    /// A map whose `keys` are present from the start at 0.
    pub fn with_keys(keys: impl IntoIterator<Item = K>) -> Self {
        Self { values: Mutex::new(keys.into_iter().map(|k| (k, 0)).collect()) }
    }

    pub fn inc_by(&self, key: K, n: u64) {
        *self.values.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_insert(0) += n;
    }

    pub fn inc(&self, key: K) {
        self.inc_by(key, 1);
    }

    pub fn snapshot(&self) -> Vec<(K, u64)> {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Bucket bounds in seconds for request latency.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram with fixed bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum in nanoseconds-like fixed point (value × 1e9), to stay lock-free and exact enough.
    sum_nanos: AtomicU64,
}

/// A consistent-enough read of a histogram: cumulative bucket counts (last is +Inf) and sum.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    pub cumulative: Vec<u64>,
    pub sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum_nanos: AtomicU64::new(0) }
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = if v.is_finite() && v > 0.0 { (v * 1e9) as u64 } else { 0 };
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot { bounds: self.bounds, cumulative, sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 3, 4]);
        assert!((s.sum - 3.65).abs() < 1e-9);
    }

    #[test]
    fn gauges_start_unset() {
        let g = Gauge::default();
        assert_eq!(g.get(), None);
        g.set(-1.5);
        assert_eq!(g.get(), Some(-1.5));
        g.set(f64::NAN);
        assert!(g.get().unwrap().is_nan());
    }

    #[test]
    fn counter_maps_keep_initial_keys() {
        let m = CounterMap::with_keys(["allow", "deny"]);
        m.inc("deny");
        m.inc_by("escalate", 2);
        assert_eq!(m.snapshot(), [("allow", 0), ("deny", 1), ("escalate", 2)]);
    }
}
