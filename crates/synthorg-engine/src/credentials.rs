//! Keys that authenticated lately, remembered for [`KEY_FRESH`] so that a request with a key
//! seen a moment ago costs no read of the store.
//!
//! Authentication was the larger of the two reads of an authenticated `GET` (a profile put the
//! key lookup, with SQLite's shared lock, at a fifth of the process's time) and, for a write
//! by an agent key, two reads (the key and its agent's status) before the write itself.
//!
//! What is remembered is what the store says about a key that matched and is active: the
//! SHA-256 of its secret (compared in constant time on every request, as against the store),
//! its role, its agent and whether that agent may still write. Nothing is remembered about
//! keys that failed, so unknown ids and wrong secrets cannot fill the memory and always reach
//! the store.
//!
//! **Revocation.** A key revoked or an agent changed through this engine forgets everything
//! before the operation answers, and a lookup that was already under way when it happened is
//! not remembered (the generation it started under is gone): revocation takes effect at once
//! on the replica that revoked. A change made elsewhere — another replica on the same
//! PostgreSQL database, or `synthorg keys revoke` on the SQLite file while the server runs —
//! takes effect within [`KEY_FRESH`], when the entry is read again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use synthorg_core::Role;
use uuid::Uuid;

/// How long a key read from the store is trusted before it is read again: the bound on a
/// revocation (or an agent's termination) made through another process.
pub const KEY_FRESH: Duration = Duration::from_secs(1);

/// The most keys remembered at once; past it a key is checked against the store each time.
const MAX_KEYS: usize = 10_000;

/// An active key as the store described it, when it was read.
#[derive(Clone)]
pub(crate) struct Credential {
    pub(crate) secret_hash: [u8; 32],
    pub(crate) role: Role,
    pub(crate) agent_id: Option<Uuid>,
    /// For an agent key: whether its agent may still write (is not terminated).
    pub(crate) agent_may_write: bool,
    pub(crate) read_at: Instant,
}

#[derive(Default)]
struct Remembered {
    /// Bumped by every [`Credentials::forget`]: a lookup started under an older generation
    /// read what may since have changed, and is not remembered.
    generation: u64,
    keys: HashMap<String, Credential>,
}

/// The keys remembered, by key id.
#[derive(Default)]
pub(crate) struct Credentials {
    remembered: Mutex<Remembered>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("keys", &self.lock().keys.len()).finish_non_exhaustive()
    }
}

impl Credentials {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        // The map holds no invariant a panic could break half-way: use it as it is.
        self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key `id` if it was read less than [`KEY_FRESH`] ago.
    pub(crate) fn fresh(&self, id: &str) -> Option<Credential> {
        self.lock().keys.get(id).filter(|c| c.read_at.elapsed() < KEY_FRESH).cloned()
    }

    /// The generation a lookup starts under, to hand back to [`Credentials::remember`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Remembers `credential`, unless something was forgotten since `generation` was read.
    pub(crate) fn remember(&self, id: &str, credential: Credential, generation: u64) {
        let mut remembered = self.lock();
        if remembered.generation != generation {
            return;
        }
        if remembered.keys.len() >= MAX_KEYS {
            let now = Instant::now();
            remembered.keys.retain(|_, c| now.duration_since(c.read_at) < KEY_FRESH);
            if remembered.keys.len() >= MAX_KEYS {
                return;
            }
        }
        remembered.keys.insert(id.to_owned(), credential);
    }

    /// Forgets every key: called after a key is revoked or an agent changed.
    pub(crate) fn forget(&self) {
        let mut remembered = self.lock();
        remembered.generation += 1;
        remembered.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(read_at: Instant) -> Credential {
        Credential { secret_hash: [7; 32], role: Role::Viewer, agent_id: None, agent_may_write: false, read_at }
    }

    #[test]
    fn a_lookup_that_straddles_a_forget_is_not_remembered() {
        let c = Credentials::default();
        let started = c.generation();
        c.forget();
        c.remember("k", credential(Instant::now()), started);
        assert!(c.fresh("k").is_none());
        c.remember("k", credential(Instant::now()), c.generation());
        assert!(c.fresh("k").is_some());
        c.forget();
        assert!(c.fresh("k").is_none());
    }

    #[test]
    fn entries_older_than_the_bound_are_read_again() {
        let c = Credentials::default();
        let Some(old) = Instant::now().checked_sub(KEY_FRESH) else { return };
        c.remember("k", credential(old), c.generation());
        assert!(c.fresh("k").is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let c = Credentials::default();
        for i in 0..MAX_KEYS + 10 {
            c.remember(&i.to_string(), credential(Instant::now()), c.generation());
        }
        assert_eq!(c.lock().keys.len(), MAX_KEYS);
        assert!(c.fresh(&(MAX_KEYS + 5).to_string()).is_none());
        assert!(c.fresh("0").is_some());
    }
}
