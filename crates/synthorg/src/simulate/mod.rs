//! `synthorg simulate`: drives a realistic organization through the public API — for load
//! tests of a deployment, for `serve --demo`, and for the API benchmark.
//!
//! Workers (one thread each) act for their share of the agents at a paced rate; every request
//! is timed per endpoint. A run is reproducible from its seed: the same choices in the same
//! order per worker (timings aside).

mod client;
mod org;
mod stats;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

pub(crate) use client::Client;
pub(crate) use org::{COST_OMITTED, RESERVED, Tally};
use stats::{EndpointSummary, Percentiles, Stats};

/// What a simulation's workers do (`simulate --workload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// The organization's whole life: tasks moving, model and tool calls, approvals,
    /// coordination runs.
    Organization,
    /// Only model calls (their reservations and reports), to measure what one costs the
    /// server.
    ModelCalls,
    /// Only tool calls (security verdicts, each an audit event, and the approvals of
    /// escalations), to measure what a verdict costs the server.
    ToolCalls,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The server, `http://host:port` (or its `/api/v1` root); several replicas of one
    /// deployment are driven round robin.
    pub urls: Vec<String>,
    /// An admin key: it registers the agents, creates their keys and decides approvals.
    pub key: String,
    pub agents: usize,
    /// Target requests per second over all workers; 0 = as fast as they can.
    pub rate: f64,
    pub concurrency: usize,
    /// `None`: until stopped.
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Share (0–1) of calls to catalogued models whose report leaves `cost` out for synthorg
    /// to compute.
    pub cost_omitted: f64,
    /// Share (0–1) of model calls made under a reservation (reserved first, settled by
    /// their report).
    pub reserved: f64,
    /// What the workers do: the organization's life, or one kind of call only.
    pub workload: Workload,
    /// Prefix of the agents' names (unique per run).
    pub name_prefix: String,
    /// Revoke the agents' keys through the API at the end (the demo revokes them in the store,
    /// since its server is stopping).
    pub revoke_keys: bool,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// No output (the demo).
    Quiet,
    /// One line rewritten every second on a terminal, else a plain line every 5 seconds.
    Auto,
}

/// The final account of a run.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub seconds: f64,
    pub requests: u64,
    pub per_second: f64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub transport_errors: u64,
    /// Requests the budget refused (409 `budget_exhausted`): not errors.
    pub refused: u64,
    pub latency: Percentiles,
    pub endpoints: Vec<EndpointSummary>,
    pub tally: Tally,
    /// Public ids of the keys the run created for its agents.
    #[serde(skip)]
    pub key_ids: Vec<String>,
}

impl Summary {
    /// A run is clean without 5xx answers and transport errors.
    pub(crate) fn clean(&self) -> bool {
        self.server_errors == 0 && self.transport_errors == 0
    }

    /// The human summary: per endpoint, then totals.
    pub(crate) fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{:<34} {:>8} {:>6} {:>5} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "endpoint", "requests", "4xx", "5xx", "conn", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        )?;
        for e in &self.endpoints {
            writeln!(
                out,
                "{:<34} {:>8} {:>6} {:>5} {:>5} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                e.endpoint,
                e.requests,
                e.client_errors,
                e.server_errors,
                e.transport_errors,
                e.per_second,
                e.latency.p50_ms,
                e.latency.p90_ms,
                e.latency.p99_ms,
                e.latency.max_ms
            )?;
        }
        writeln!(
            out,
            "total: {} requests in {:.1} s ({:.1}/s); p50 {:.2} ms, p99 {:.2} ms; errors: {} 4xx, {} 5xx, {} transport; \
             {} refused by the budget",
            self.requests,
            self.seconds,
            self.per_second,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.client_errors,
            self.server_errors,
            self.transport_errors,
            self.refused
        )?;
        let t = &self.tally;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let cost = n(&t.cost_nanos);
        writeln!(
            out,
            "organization: {} agents, {} tasks created ({} completed, {} cancelled), {} transitions, {} cost records (${}.{:09}), \
             reservations {} granted / {} refused / {} released, \
             verdicts {} allow / {} deny / {} escalate, approvals {} approved / {} rejected, {} coordination runs",
            n(&t.agents),
            n(&t.tasks_created),
            n(&t.tasks_completed),
            n(&t.tasks_cancelled),
            n(&t.transitions),
            n(&t.cost_records),
            cost / 1_000_000_000,
            cost % 1_000_000_000,
            n(&t.reservations_granted),
            n(&t.reservations_refused),
            n(&t.reservations_released),
            n(&t.verdicts_allow),
            n(&t.verdicts_deny),
            n(&t.verdicts_escalate),
            n(&t.approvals_approved),
            n(&t.approvals_rejected),
            n(&t.coordination_runs),
        )
    }
}

/// Runs the simulation until its duration passes or `stop` is set.
pub(crate) fn run(options: &Options, stop: &AtomicBool, progress: Progress) -> Summary {
    let stats = Arc::new(Stats::default());
    let client = Client::new(&options.urls, Arc::clone(&stats), Duration::from_secs(30), options.concurrency + 1);
    let tally = Tally::default();
    // The clients' own price list, for the calls that report their cost.
    let prices = synthorg_core::price::Catalogue::builtin();
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let agents = org::register(&client, &options.key, &options.name_prefix, options.agents, &mut rng, &tally);
    let started = Instant::now();
    let deadline = options.duration.map(|d| started + d);
    let workers = options.concurrency.max(1);
    let per_worker_rate = (options.rate > 0.0).then(|| options.rate / workers as f64);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for w in 0..workers {
            // Each agent belongs to one worker; with fewer agents than workers, workers share.
            let mine: Vec<usize> = match agents.len() {
                0 => Vec::new(),
                n if n >= workers => (0..n).filter(|i| i % workers == w).collect(),
                n => vec![w % n],
            };
            let org = org::Org {
                client: &client,
                admin: &options.key,
                agents: &agents,
                tally: &tally,
                prices: &prices,
                cost_omitted: options.cost_omitted,
                reserved: options.reserved,
                workload: options.workload,
            };
            let seed = options.seed.wrapping_add(w as u64 + 1);
            let mut worker =
                org::Worker::new(org, mine, seed, format!("{}-w{w}", options.name_prefix), per_worker_rate);
            let (stop, done) = (&*stop, &done);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed)
                    && !done.load(Ordering::Relaxed)
                    && deadline.is_none_or(|d| Instant::now() < d)
                {
                    worker.step();
                }
            });
        }
        show_progress(&stats, stop, &done, deadline, started, progress);
        done.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    if options.revoke_keys {
        org::revoke_keys(&client, &options.key, &agents);
    }
    let endpoints = stats.summary(elapsed);
    let requests: u64 = endpoints.iter().map(|e| e.requests).sum();
    Summary {
        seconds: elapsed.as_secs_f64(),
        requests,
        per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        client_errors: endpoints.iter().map(|e| e.client_errors).sum(),
        server_errors: endpoints.iter().map(|e| e.server_errors).sum(),
        transport_errors: endpoints.iter().map(|e| e.transport_errors).sum(),
        refused: endpoints.iter().map(|e| e.refused).sum(),
        latency: stats.overall(),
        endpoints,
        tally,
        key_ids: agents.into_iter().map(|a| a.key_id).collect(),
    }
}

/// Prints progress until the run ends (returns when it should end).
fn show_progress(
    stats: &Stats,
    stop: &AtomicBool,
    done: &AtomicBool,
    deadline: Option<Instant>,
    started: Instant,
    progress: Progress,
) {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal { Duration::from_secs(1) } else { Duration::from_secs(5) };
    let mut last = Instant::now();
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || done.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
            break;
        }
        std::thread::sleep(
            Duration::from_millis(100).min(deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now))),
        );
        if progress == Progress::Quiet || last.elapsed() < every {
            continue;
        }
        let window = stats.take_window();
        let seconds = last.elapsed().as_secs_f64();
        last = Instant::now();
        let line = format!(
            "{:>6.0}s  {:>8.1} req/s  errors {:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms",
            started.elapsed().as_secs_f64(),
            window.requests as f64 / seconds,
            window.errors,
            window.latency.p50_ms,
            window.latency.p99_ms
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }
    if terminal && progress == Progress::Auto {
        eprintln!();
    }
}
