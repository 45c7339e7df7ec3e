//! A small pool of synchronous PostgreSQL connections that fails fast.
//!
//! Why not a general pool crate: the common synchronous pool waits out its whole checkout
//! timeout while the database refuses connections, so every request of an outage would hang
//! for seconds. Here a failed connect answers at once (the API turns it into 503), a
//! connection the server closed is never handed out again, and the idle connections are
//! dropped together when one of them turns out broken (a restarted server closed them all).
//! Waiting happens only when every connection is busy, bounded by `acquire_timeout`.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};

use crate::StoreError;

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

pub(super) struct Pool {
    config: postgres::Config,
    /// TLS when the URL asks for `sslmode=require`; plain TCP otherwise.
    tls: Option<super::tls::MakeRustls>,
    /// Run on every new connection (session settings, search path).
    setup: String,
    max: usize,
    acquire_timeout: Duration,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Conn>,
    /// Connections that exist, idle or handed out.
    open: usize,
}

impl std::fmt::Debug for Pool {
    /// The configuration holds the password: only the shape is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Pool")
            .field("hosts", &self.config.get_hosts().len())
            .field("tls", &self.tls.is_some())
            .field("max", &self.max)
            .field("open", &state.open)
            .field("idle", &state.idle.len())
            .finish()
    }
}

impl Pool {
    pub(super) fn new(
        config: postgres::Config,
        tls: Option<super::tls::MakeRustls>,
        setup: String,
        max: usize,
        acquire_timeout: Duration,
    ) -> Self {
        Self {
            config,
            tls,
            setup,
            max,
            acquire_timeout,
            state: Mutex::new(State { idle: Vec::new(), open: 0 }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the state can be left half-changed by a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one, or (all busy) the next one freed within the timeout.
    pub(super) fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = Instant::now() + self.acquire_timeout;
        let mut state = self.lock();
        loop {
            while let Some(conn) = state.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(Pooled { pool: self, conn: Some(conn) });
                }
                state.open -= 1;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Pooled { pool: self, conn: Some(conn) }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections stayed busy for {} ms",
                    self.max,
                    self.acquire_timeout.as_millis()
                )));
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let connected = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        };
        let mut client = connected.map_err(|e| {
            // The causes say what went wrong (refused, a certificate that cannot be verified).
            let mut message = format!("cannot connect to the database: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!(": {c}"));
                cause = c.source();
            }
            StoreError::Unavailable(message)
        })?;
        client.batch_execute(&self.setup)?;
        Ok(Conn { client, statements: HashMap::new() })
    }

    /// Closes every idle connection: after one was found broken, the others (opened before
    /// the same restart) most likely are too.
    pub(super) fn discard_idle(&self) {
        let mut state = self.lock();
        let dropped = state.idle.len();
        state.idle.clear();
        state.open -= dropped;
        drop(state);
        self.freed.notify_all();
    }
}

/// Closing a client blocks on its own small runtime, which must not happen on an async
/// worker (the last handle of a store may well be dropped there): the idle connections are
/// closed on a thread of their own.
impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if idle.is_empty() {
            return;
        }
        // Should no thread be had, the sockets are left to the process's end rather than
        // closed here with a panic.
        let idle = std::mem::ManuallyDrop::new(idle);
        let closer = std::thread::Builder::new()
            .name("synthorg-pg-close".into())
            .spawn(move || drop(std::mem::ManuallyDrop::into_inner(idle)));
        if let Ok(closer) = closer {
            let _ = closer.join();
        }
    }
}

/// A connection handed out; it goes back to the pool when dropped.
pub(super) struct Pooled<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
}

impl Pooled<'_> {
    /// The client and its statement cache.
    pub(super) fn parts(&mut self) -> (&mut Client, &mut HashMap<String, Statement>) {
        // Invariant: `conn` is `Some` until `discard` or drop.
        let conn = self.conn.as_mut().expect("a pooled connection is present until discarded");
        (&mut conn.client, &mut conn.statements)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.client.is_closed())
    }

    /// Closes the connection instead of returning it to the pool.
    pub(super) fn discard(&mut self) {
        if self.conn.take().is_some() {
            self.pool.lock().open -= 1;
            self.pool.freed.notify_one();
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.lock().idle.push(conn);
            self.pool.freed.notify_one();
        }
    }
}
