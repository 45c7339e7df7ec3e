//! Latency and outcome per endpoint, for the live progress line and the final summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    /// 4xx: a client-side mistake of the simulator (or a deliberate refusal it expects).
    ClientError,
    /// 5xx: the server failed.
    ServerError,
    /// No HTTP answer: refused, reset, timed out.
    Transport,
    /// 409 `budget_exhausted`: the budget said no, as it should when it is spent. Neither
    /// the client's nor the server's fault, so counted apart from both.
    Refused,
}

#[derive(Debug, Default)]
struct Endpoint {
    latencies_us: Vec<u32>,
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    transport_errors: u64,
    refused: u64,
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: BTreeMap<&'static str, Endpoint>,
    /// Latencies and errors since the last progress line.
    window_us: Vec<u32>,
    window_errors: u64,
}

/// Shared by the workers; one short lock per request.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<Inner>);

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn percentiles(sorted: &[u32]) -> Percentiles {
    if sorted.is_empty() {
        return Percentiles::default();
    }
    let at = |p: f64| f64::from(sorted[((sorted.len() - 1) as f64 * p).round() as usize]) / 1000.0;
    Percentiles { p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: at(1.0) }
}

/// One endpoint in the summary.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EndpointSummary {
    pub endpoint: &'static str,
    pub requests: u64,
    pub ok: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub transport_errors: u64,
    /// Reservations the budget refused (409 `budget_exhausted`).
    pub refused: u64,
    pub per_second: f64,
    #[serde(flatten)]
    pub latency: Percentiles,
}

/// One progress reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub requests: usize,
    pub errors: u64,
    pub latency: Percentiles,
}

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record(&self, endpoint: &'static str, outcome: Outcome, elapsed: Duration) {
        let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        let mut inner = self.lock();
        let e = inner.endpoints.entry(endpoint).or_default();
        e.latencies_us.push(us);
        match outcome {
            Outcome::Ok => e.ok += 1,
            Outcome::ClientError => e.client_errors += 1,
            Outcome::ServerError => e.server_errors += 1,
            Outcome::Transport => e.transport_errors += 1,
            Outcome::Refused => e.refused += 1,
        }
        inner.window_us.push(us);
        if matches!(outcome, Outcome::ServerError | Outcome::Transport) {
            inner.window_errors += 1;
        }
    }

    /// The requests since the last call.
    pub(crate) fn take_window(&self) -> Window {
        let mut inner = self.lock();
        let mut window = std::mem::take(&mut inner.window_us);
        let errors = std::mem::take(&mut inner.window_errors);
        drop(inner);
        window.sort_unstable();
        Window { requests: window.len(), errors, latency: percentiles(&window) }
    }

    pub(crate) fn summary(&self, elapsed: Duration) -> Vec<EndpointSummary> {
        let inner = self.lock();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        inner
            .endpoints
            .iter()
            .map(|(name, e)| {
                let mut sorted = e.latencies_us.clone();
                sorted.sort_unstable();
                EndpointSummary {
                    endpoint: name,
                    requests: sorted.len() as u64,
                    ok: e.ok,
                    client_errors: e.client_errors,
                    server_errors: e.server_errors,
                    transport_errors: e.transport_errors,
                    refused: e.refused,
                    per_second: sorted.len() as f64 / seconds,
                    latency: percentiles(&sorted),
                }
            })
            .collect()
    }

    /// Every latency, all endpoints together.
    pub(crate) fn overall(&self) -> Percentiles {
        let inner = self.lock();
        let mut all: Vec<u32> = inner.endpoints.values().flat_map(|e| e.latencies_us.iter().copied()).collect();
        drop(inner);
        all.sort_unstable();
        percentiles(&all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counts() {
        let stats = Stats::default();
        for ms in 1..=100u64 {
            stats.record("GET /x", Outcome::Ok, Duration::from_millis(ms));
        }
        stats.record("POST /y", Outcome::ServerError, Duration::from_millis(5));
        stats.record("POST /y", Outcome::Transport, Duration::from_millis(7));
        let window = stats.take_window();
        assert_eq!((window.requests, window.errors), (102, 2));
        assert_eq!(stats.take_window().requests, 0);
        let summary = stats.summary(Duration::from_secs(2));
        assert_eq!(summary[0].endpoint, "GET /x");
        assert_eq!((summary[0].requests, summary[0].ok), (100, 100));
        assert_eq!(
            (summary[0].latency.p50_ms, summary[0].latency.p99_ms, summary[0].latency.max_ms),
            (51.0, 99.0, 100.0)
        );
        assert_eq!(summary[0].per_second, 50.0);
        assert_eq!((summary[1].server_errors, summary[1].transport_errors), (1, 1));
    }
}
