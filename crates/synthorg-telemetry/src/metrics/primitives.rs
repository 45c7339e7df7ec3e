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

/// Counters keyed by a small, bounded label set (the caller guarantees the bound), each with
/// its latest exemplar, if any.
#[derive(Debug)]
pub struct CounterMap<K: Ord> {
    values: Mutex<BTreeMap<K, (u64, Option<Exemplar>)>>,
}

impl<K: Ord + Clone> CounterMap<K> {
    /// A map whose `keys` are present from the start at 0.
    pub fn with_keys(keys: impl IntoIterator<Item = K>) -> Self {
        Self { values: Mutex::new(keys.into_iter().map(|k| (k, (0, None))).collect()) }
    }

    pub fn inc_by(&self, key: K, n: u64) {
        self.inc_with(key, n, None);
    }

    pub fn inc(&self, key: K) {
        self.inc_by(key, 1);
    }

    /// Adds `n`; an exemplar, when given, becomes the key's (the latest one wins).
    pub fn inc_with(&self, key: K, n: u64, exemplar: Option<Exemplar>) {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let entry = values.entry(key).or_insert((0, None));
        entry.0 += n;
        if exemplar.is_some() {
            entry.1 = exemplar;
        }
    }

    pub fn snapshot(&self) -> Vec<(K, u64)> {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), v.0)).collect()
    }

    /// Each key's count and latest exemplar.
    pub fn snapshot_with_exemplars(&self) -> Vec<(K, u64, Option<Exemplar>)> {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), v.0, v.1)).collect()
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
    /// Sum in fixed point (value × `scale`), to stay lock-free and exact enough.
    sum_nanos: AtomicU64,
    /// 1e9 for durations and amounts (nano units); 1 for whole counts (tokens), whose sum
    /// would overflow nano units after a few hundred large observations.
    scale: f64,
    /// The latest exemplar of each bucket (see [`Histogram::observe_with`]); locked only by
    /// observations that carry one, and by scrapes.
    exemplars: Mutex<Vec<Option<Exemplar>>>,
}

/// An observation's link to the trace it was made in (OpenMetrics exemplar): the trace and
/// span ids, the observed value and when it was observed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub value: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

impl Exemplar {
    /// An exemplar of `value` observed now in the given span.
    pub fn now(trace_id: [u8; 16], span_id: [u8; 8], value: f64) -> Self {
        let timestamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Self { trace_id, span_id, value, timestamp }
    }

    /// An exemplar of `value` in the current request's trace ([`crate::context::current`]),
    /// when there is one and it is sampled.
    pub fn in_current_trace(value: f64) -> Option<Self> {
        crate::context::current().filter(|t| t.flags & 0x01 == 0x01).map(|t| Self::now(t.trace_id, t.span_id, value))
    }
}

/// The latest exemplar of a sample whose value is read elsewhere (a total pulled from the
/// store at scrape time, say).
#[derive(Debug, Default)]
pub struct ExemplarCell(Mutex<Option<Exemplar>>);

impl ExemplarCell {
    pub fn set(&self, exemplar: Option<Exemplar>) {
        if exemplar.is_some() {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = exemplar;
        }
    }

    pub fn get(&self) -> Option<Exemplar> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A consistent-enough read of a histogram: cumulative bucket counts (last is +Inf), sum,
/// and each bucket's latest exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    pub cumulative: Vec<u64>,
    pub sum: f64,
    pub exemplars: Vec<Option<Exemplar>>,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            scale: 1e9,
            exemplars: Mutex::new(Vec::new()),
        }
    }

    /// A histogram of whole counts (tokens): its sum is kept exactly, in units.
    pub fn of_counts(bounds: &'static [f64]) -> Self {
        Self { scale: 1.0, ..Self::new(bounds) }
    }

    pub fn observe(&self, v: f64) {
        self.observe_with(v, None);
    }

    /// Observes `v`; an exemplar, when given, becomes its bucket's (the latest one wins).
    pub fn observe_with(&self, v: f64, exemplar: Option<Exemplar>) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = if v.is_finite() && v > 0.0 { (v * self.scale) as u64 } else { 0 };
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        if let Some(exemplar) = exemplar {
            let mut slots = self.exemplars.lock().unwrap_or_else(|p| p.into_inner());
            if slots.is_empty() {
                slots.resize(self.counts.len(), None);
            }
            slots[i] = Some(exemplar);
        }
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
        let exemplars = self.exemplars.lock().unwrap_or_else(|p| p.into_inner()).clone();
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / self.scale,
            exemplars,
        }
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
        assert!(s.exemplars.is_empty(), "no exemplar was given");
    }

    #[test]
    fn each_bucket_keeps_its_latest_exemplar() {
        let h = Histogram::new(&[0.1, 1.0]);
        let ex = |n: u8, v: f64| Exemplar { trace_id: [n; 16], span_id: [n; 8], value: v, timestamp: 1.0 };
        h.observe_with(0.05, Some(ex(1, 0.05)));
        h.observe_with(0.07, Some(ex(2, 0.07)));
        h.observe_with(0.5, None);
        h.observe_with(3.0, Some(ex(3, 3.0)));
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 3, 4]);
        assert_eq!(s.exemplars, [Some(ex(2, 0.07)), None, Some(ex(3, 3.0))]);
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
        let ex = Exemplar { trace_id: [7; 16], span_id: [7; 8], value: 1.0, timestamp: 2.0 };
        m.inc_with("deny", 1, Some(ex));
        m.inc_with("deny", 1, None);
        assert_eq!(m.snapshot_with_exemplars()[1], ("deny", 3, Some(ex)), "an exemplar stays until replaced");
    }
}
