//! Per-agent call rates (SPEC §17): how many model calls, and how many tokens, an agent may
//! use per minute through the gateway, shared by every replica (the counts are in the store,
//! read and written inside the admission's serialised transaction).
//!
//! The window slides: the count of the current minute plus the previous minute's, weighted by
//! the part of it still inside the last 60 seconds (the usual sliding-window counter: two
//! numbers per agent instead of a row per call, exact when calls are spread evenly and never
//! off by more than the previous minute's share). Tokens count what calls used (the
//! provider's metered usage, recorded when each call settles) plus what the agent's open holds
//! hold now (their worst case, until they settle). A call is admitted while the window is
//! under the limit: a call's own size is not known before it is answered, so the call that
//! crosses the token limit is let through and the next ones wait.

use time::OffsetDateTime;

use crate::string_enum;

/// Requests and tokens per minute for each agent; 0 is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallRates {
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
}

/// What an agent used in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteUse {
    pub requests: u64,
    pub tokens: u64,
}

string_enum! {
    /// Which rate refused a call.
    pub enum RateKind {
        Requests => "requests",
        Tokens => "tokens",
    }
}

/// A call refused by a rate: which, its limit, what the window holds, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimited {
    pub rate: RateKind,
    pub per_minute: u64,
    pub used: u64,
    /// Seconds until the window is likely to have room again (at least 1).
    pub retry_after_seconds: u64,
}

impl RateLimited {
    pub fn message(&self) -> String {
        format!(
            "the agent's {} rate is {} per minute and the last minute used {}; retry after {} s",
            self.rate, self.per_minute, self.used, self.retry_after_seconds
        )
    }
}

/// The minute `at` falls in, counted from the Unix epoch.
pub fn minute_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(60)
}

impl CallRates {
    pub fn is_limited(&self) -> bool {
        self.requests_per_minute > 0 || self.tokens_per_minute > 0
    }

    /// Admits one more call at `at`, given the agent's use in the current and the previous
    /// minute and the tokens its open holds hold.
    pub fn admit(
        &self,
        current: MinuteUse,
        previous: MinuteUse,
        held_tokens: u64,
        at: OffsetDateTime,
    ) -> Result<(), RateLimited> {
        let into = u64::try_from(at.unix_timestamp().rem_euclid(60)).unwrap_or(0);
        let check = |rate, per_minute: u64, now: u64, before: u64, extra: u64| {
            if per_minute == 0 {
                return Ok(());
            }
            let used = now + weighted(before, into) + extra;
            if used < per_minute {
                return Ok(());
            }
            // The earliest second at which the previous minute's share has fallen enough,
            // else the next minute (when the current one becomes the previous).
            let room =
                (into..60).find(|s| now + weighted(before, *s) + extra < per_minute).map_or(60 - into, |s| s - into);
            Err(RateLimited { rate, per_minute, used, retry_after_seconds: room.max(1) })
        };
        check(RateKind::Requests, self.requests_per_minute, current.requests, previous.requests, 0)?;
        check(RateKind::Tokens, self.tokens_per_minute, current.tokens, previous.tokens, held_tokens)
    }
}

/// The previous minute's count still inside the window `into` seconds into this minute.
fn weighted(previous: u64, into: u64) -> u64 {
    u64::try_from(u128::from(previous) * u128::from(60 - into.min(60)) / 60).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const RPM: CallRates = CallRates { requests_per_minute: 10, tokens_per_minute: 0 };

    fn used(requests: u64, tokens: u64) -> MinuteUse {
        MinuteUse { requests, tokens }
    }

    #[test]
    fn requests_slide_from_the_previous_minute() {
        let start = datetime!(2026-12-07 12:00:00 UTC);
        assert_eq!(RPM.admit(used(9, 0), used(0, 0), 0, start), Ok(()));
        let full = RPM.admit(used(10, 0), used(0, 0), 0, start).unwrap_err();
        assert_eq!((full.rate, full.used, full.retry_after_seconds), (RateKind::Requests, 10, 60));
        // A full previous minute counts whole at its end, half at 30 s, nothing at 59 s.
        assert!(RPM.admit(used(0, 0), used(10, 0), 0, start).is_err());
        let half = datetime!(2026-12-07 12:00:30 UTC);
        assert_eq!(RPM.admit(used(4, 0), used(10, 0), 0, half), Ok(()));
        let refused = RPM.admit(used(5, 0), used(10, 0), 0, half).unwrap_err();
        assert_eq!(refused.used, 10);
        // 5 + 10 × (60 − s) / 60 < 10 from s = 31: one second on.
        assert_eq!(refused.retry_after_seconds, 1);
        assert_eq!(RPM.admit(used(9, 0), used(10, 0), 0, datetime!(2026-12-07 12:00:59 UTC)), Ok(()));
    }

    #[test]
    fn tokens_count_what_was_used_and_what_is_held() {
        let tpm = CallRates { requests_per_minute: 0, tokens_per_minute: 1000 };
        let at = datetime!(2026-12-07 12:00:00 UTC);
        assert_eq!(tpm.admit(used(50, 999), used(0, 0), 0, at), Ok(()), "requests are not limited");
        let held = tpm.admit(used(0, 400), used(0, 0), 600, at).unwrap_err();
        assert_eq!((held.rate, held.used), (RateKind::Tokens, 1000));
        assert_eq!(CallRates::default().admit(used(u64::MAX, u64::MAX), used(u64::MAX, 0), 0, at), Ok(()));
        assert!(held.message().contains("tokens rate is 1000 per minute"), "{}", held.message());
    }

    #[test]
    fn minutes_are_counted_from_the_epoch() {
        assert_eq!(minute_of(datetime!(1970-01-01 00:01:59 UTC)), 1);
        assert_eq!(minute_of(datetime!(1969-12-31 23:59:30 UTC)), -1);
    }
}
