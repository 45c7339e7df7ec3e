//! Per-key request rates: a token bucket per API key, its rate and burst set per role.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; a request takes one, and
//! a request that finds less than one is answered 429 with the seconds until one is back.
//! Written here (the arithmetic is a dozen lines) rather than taken from `governor`, which
//! would add a second major version of `hashbrown` and four more crates for the same bucket.
//!
//! Buckets live in this process: on several replicas each keeps its own (docs/scaling.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use synthorg_core::{FieldError, Role};

/// The rate of one role's keys. `per_second` 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Every role's rate, and whether limiting is on at all.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub enabled: bool,
    pub admin: RateLimit,
    pub agent: RateLimit,
    pub viewer: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            admin: RateLimit { per_second: 1000.0, burst: 2000 },
            agent: RateLimit { per_second: 500.0, burst: 1000 },
            viewer: RateLimit { per_second: 100.0, burst: 200 },
        }
    }
}

impl RateLimits {
    pub fn of(&self, role: Role) -> RateLimit {
        match role {
            Role::Admin => self.admin,
            Role::Agent => self.agent,
            Role::Viewer => self.viewer,
        }
    }

    /// Every problem, with paths relative to the rate limits' section.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for role in Role::ALL {
            let limit = self.of(*role);
            if !(limit.per_second.is_finite() && (0.0..=1_000_000.0).contains(&limit.per_second)) {
                errors.push(FieldError::new(format!("{role}.per_second"), "must be between 0 (unlimited) and 1000000"));
            }
            if limit.burst == 0 || limit.burst > 1_000_000 {
                errors.push(FieldError::new(format!("{role}.burst"), "must be between 1 and 1000000"));
            }
        }
        errors
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets past this count are pruned of the full ones (a full bucket is the same as none),
/// so revoked keys do not accumulate.
const PRUNE_AT: usize = 4096;

/// The buckets of every key seen.
#[derive(Debug)]
pub struct Limiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Takes a token from `key`'s bucket; `Err` with the time until one is back.
    pub fn check(&self, key: &str, role: Role, now: Instant) -> Result<(), Duration> {
        let limit = self.limits.of(role);
        if !self.limits.enabled || limit.per_second == 0.0 {
            return Ok(());
        }
        let burst = f64::from(limit.burst);
        let refill =
            |b: &Bucket| (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * limit.per_second).min(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            buckets.retain(|_, b| refill(b) < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        let tokens = refill(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket { tokens: tokens - 1.0, at: now };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / limit.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> Limiter {
        let limit = RateLimit { per_second, burst };
        Limiter::new(RateLimits { enabled: true, admin: limit, agent: limit, viewer: limit })
    }

    #[test]
    fn a_burst_then_the_rate() {
        let l = limiter(10.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("k", Role::Agent, t0), Ok(()));
        }
        let wait = l.check("k", Role::Agent, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // Other keys have buckets of their own.
        assert_eq!(l.check("other", Role::Agent, t0), Ok(()));
        // After 100 ms one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.check("k", Role::Agent, t1), Ok(()));
        assert!(l.check("k", Role::Agent, t1).is_err());
        // A long pause refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check("k", Role::Agent, t2), Ok(()));
        }
        assert!(l.check("k", Role::Agent, t2).is_err());
    }

    #[test]
    fn zero_or_disabled_is_unlimited_and_full_buckets_are_pruned() {
        let l = limiter(0.0, 1);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.check("k", Role::Admin, t0).is_ok()));
        let off = Limiter::new(RateLimits { enabled: false, ..RateLimits::default() });
        assert!((0..10_000).all(|_| off.check("k", Role::Viewer, t0).is_ok()));

        let l = limiter(1000.0, 10);
        for i in 0..PRUNE_AT {
            l.check(&format!("key{i}"), Role::Agent, t0).unwrap();
        }
        let later = t0 + Duration::from_secs(1);
        l.check("new", Role::Agent, later).unwrap();
        assert_eq!(l.buckets.lock().unwrap().len(), 1, "every old bucket was full again");
    }

    #[test]
    fn limits_are_checked() {
        let viewer = RateLimit { per_second: f64::NAN, ..RateLimits::default().viewer };
        let limits = RateLimits { agent: RateLimit { per_second: -1.0, burst: 0 }, viewer, ..RateLimits::default() };
        let fields: Vec<String> = limits.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["agent.per_second", "agent.burst", "viewer.per_second"]);
    }
}
