//! Checkpoints beside the writer: a thread of the store copies committed WAL frames into the
//! database file, never inside a commit, and asks the writer to restart a WAL that grew too
//! large.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::Connection;

use super::writer::GroupWriter;
use crate::StoreError;

/// How often the checkpointer copies committed WAL frames into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// After a checkpoint restarts the WAL, its file is cut back to this size.
pub(super) const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// WAL size (bytes of frames since the WAL last restarted) at which the writer restarts it.
pub(super) const WAL_RESTART_AT: i64 = WAL_SIZE_LIMIT;

/// The thread that checkpoints the WAL beside the writer; stopped and joined on drop.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// PASSIVE checkpoints take no lock a writer or reader waits for: they copy the frames
    /// no reader still needs, and the writer keeps appending meanwhile.
    ///
    /// Under sustained writes that alone never lets the WAL start over: SQLite restarts it
    /// only when a write begins with every frame already copied, and a PASSIVE checkpoint is
    /// always behind the writer. The WAL would grow by every byte ever written (2 GB in 20 s
    /// at 64 clients, with every commit extending the file). So when the frames since the
    /// last restart pass [`WAL_RESTART_AT`], the checkpointer asks the writer to restart the
    /// WAL between two commits ([`GroupWriter::restart_wal_if_asked`]).
    pub(super) fn start(conn: Connection, writer: Arc<GroupWriter>) -> Result<Self, StoreError> {
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let restart_at_frames = WAL_RESTART_AT / page_size.max(512);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("synthorg-checkpoint".into())
            .spawn(move || {
                let mut warned = false;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // (busy, frames in the WAL, frames copied)
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                        Ok(frames) if frames >= restart_at_frames => {
                            writer.restart_asked.store(true, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(error) => {
                            if !std::mem::replace(&mut warned, true) {
                                tracing::warn!(%error, "WAL checkpoint failed; retrying in the background");
                            }
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
