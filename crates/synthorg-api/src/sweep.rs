//! The server's periodic chores, on one task: the reservation sweep, and once a minute a
//! sample of the ledger's total for the burn rates on `/metrics` (so the history grows
//! between scrapes too).
//!
//! The reservation sweep: every `sweep_interval`, open holds past their expiry are closed as
//! `expired`, counted and logged. On PostgreSQL every replica sweeps; each hold is expired by
//! exactly one of them (the store takes rows with `SKIP LOCKED`).
//!
//! Admission never waits for the sweep (an expired hold stops counting at its expiry), so a
//! slow or failing sweep delays only the record, the counter and the log line.

use synthorg_core::event::Event;
use synthorg_store::now;

use crate::AppState;

/// How often the ledger's total is sampled for the burn rates.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Most holds closed per store call; a longer backlog is worked through in several calls.
const BATCH: usize = 1000;

pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.settings().sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut sampled: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        if let Some(metrics) = state.metrics().cloned()
            && sampled.is_none_or(|at| at.elapsed() >= SAMPLE_EVERY)
        {
            sampled = Some(std::time::Instant::now());
            // A failed sample only shortens the history; the scrape reports store failures.
            let _ = tokio::task::spawn_blocking(move || metrics.sample_spend()).await;
        }
        let swept = state.clone();
        let outcome = tokio::task::spawn_blocking(move || sweep(&swept)).await;
        match outcome {
            Ok(Ok(())) => {
                if failing {
                    tracing::info!("reservation sweep recovered");
                }
                failing = false;
            }
            Ok(Err(error)) => {
                // One line when the sweep starts failing, not one per tick.
                if !failing {
                    tracing::warn!(%error, "reservation sweep failed; expired holds no longer count, but stay open in the store until it recovers");
                }
                failing = true;
            }
            // The runtime is shutting down.
            Err(_) => return,
        }
    }
}

fn sweep(state: &AppState) -> Result<(), synthorg_store::StoreError> {
    loop {
        let expired = state.store().expire_reservations(now(), BATCH)?;
        let full = expired.len() == BATCH;
        let events = expired
            .into_iter()
            .map(|r| Event::ReservationExpired { reservation_id: r.id, agent_id: r.agent_id, amount: r.amount })
            .collect();
        state.record(events);
        if !full {
            return Ok(());
        }
    }
}
