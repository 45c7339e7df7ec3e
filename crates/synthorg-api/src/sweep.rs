//! The server's periodic chores, on one task: the reservation sweep, once a minute a sample
//! of the ledger's total for the burn rates on `/metrics` (so the history grows between
//! scrapes too), and every five minutes the audit chain's head in the log when it moved
//! (so a log pipeline holds it outside the store; `synthorg serve` logs it at start and at
//! shutdown too).
//!
//! The reservation sweep: every `sweep_interval`, open holds past their expiry are closed as
//! `expired`, counted and logged. On PostgreSQL every replica sweeps; each hold is expired by
//! exactly one of them (the store takes rows with `SKIP LOCKED`).
//!
//! Admission never waits for the sweep (an expired hold stops counting at its expiry), so a
//! slow or failing sweep delays only the record, the counter and the log line.

use synthorg_core::audit::AuditHead;
use synthorg_core::event::Event;
use synthorg_store::now;

use crate::AppState;

/// How often the ledger's total is sampled for the burn rates.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the audit chain's head is logged (when it moved since the last line).
const HEAD_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Logs the audit chain's head (`synthorg::audit`, "audit head"), unless it is `unless`.
/// Returns the head read.
pub fn log_audit_head(
    store: &dyn synthorg_store::Store,
    unless: Option<&AuditHead>,
) -> Result<AuditHead, synthorg_store::StoreError> {
    let head = store.audit_head()?;
    if unless != Some(&head) {
        tracing::info!(target: "synthorg::audit", seq = head.seq, hash = %head.hash, head = %head, "audit head");
    }
    Ok(head)
}

/// Most holds closed per store call; a longer backlog is worked through in several calls.
const BATCH: usize = 1000;

pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.settings().sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut sampled: Option<std::time::Instant> = None;
    // The start-up sequence logs the head before the server listens; from then on, every
    // HEAD_EVERY when it moved.
    let (mut head_logged, mut head) = (std::time::Instant::now(), None::<AuditHead>);
    loop {
        tick.tick().await;
        if head_logged.elapsed() >= HEAD_EVERY {
            head_logged = std::time::Instant::now();
            let (store, last) = (state.store().clone(), head.clone());
            // A failed read logs nothing; the scrape reports store failures.
            if let Ok(Ok(read)) =
                tokio::task::spawn_blocking(move || log_audit_head(store.as_ref(), last.as_ref())).await
            {
                head = Some(read);
            }
        }
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
        state.engine().record(events);
        if !full {
            return Ok(());
        }
    }
}
