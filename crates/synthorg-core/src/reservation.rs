//! Reservations: money (and tokens) held against the budget before a model call, so that
//! concurrent calls cannot together overshoot a hard limit.
//!
//! Life of a hold: granted `open` when it fits every limited scope
//! ([`crate::budget::BudgetConfig::admit`]); then exactly one of
//! - `settled` by the cost report that names it (the hold becomes the actual cost);
//! - `released` by its agent (the call was not made);
//! - `expired` once `expires_at` has passed (a crashed client frees the budget).
//!
//! A hold counts against the budget only while [`Reservation::holds_at`]: open and not yet
//! past `expires_at`. Admission ignores an expired hold whether or not the server has swept
//! it yet, so the moment room comes back does not depend on the sweeper's timing.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cost::{MAX_RECORD_COST, MAX_TOKENS};
use crate::price::Catalogue;
use crate::text::check_line;
use crate::{DomainError, FieldError, Usd, string_enum};

string_enum! {
    /// Where a reservation is in its life.
    pub enum ReservationState {
        /// Holding money until settled, released or expired.
        Open => "open",
        /// A cost report named it; its money is spent.
        Settled => "settled",
        /// Its agent gave it back.
        Released => "released",
        /// Its time ran out before a report or a release.
        Expired => "expired",
    }
}

string_enum! {
    /// What happened to a reservation request or hold, as counted by
    /// `synthorg_budget_reservations_total{outcome}`.
    pub enum Outcome {
        Granted => "granted",
        Refused => "refused",
        Settled => "settled",
        Released => "released",
        Expired => "expired",
    }
}

/// How long a hold lasts when the request does not say.
pub const DEFAULT_TTL: Duration = Duration::seconds(300);
/// The longest a hold may last.
pub const MAX_TTL: Duration = Duration::seconds(3600);

/// Money held for one model call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reservation {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// The USD held: as asked, or the catalogue's worst case for the token maxima.
    pub amount: Usd,
    /// The tokens held against `per_agent_daily_tokens`: `max_input_tokens + max_output_tokens`,
    /// at least 1 (a hold that gave an amount only holds 1: a call uses at least one token).
    pub tokens: u64,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub state: ReservationState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was settled, released or expired.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The cost record that settled it.
    pub cost_record_id: Option<Uuid>,
    /// That record's cost.
    pub settled_cost: Option<Usd>,
}

impl Reservation {
    /// True while the hold counts against the budget: open and not past `expires_at`.
    pub fn holds_at(&self, now: OffsetDateTime) -> bool {
        self.state == ReservationState::Open && self.expires_at > now
    }

    /// What a cost of `cost` settling this hold at `now` spends beyond what was held: all
    /// of it when the hold no longer holds (expired, released, settled before), else the part
    /// above `amount`. Money spent is recorded either way; this is what the overshoot
    /// counter adds.
    pub fn overshoot(&self, cost: Usd, now: OffsetDateTime) -> Usd {
        let held = if self.holds_at(now) { self.amount } else { Usd::ZERO };
        Usd::from_nanos((cost.nanos() - held.nanos()).max(0))
    }
}

/// A reservation as requested: an amount, or a model and token maxima to price, or both
/// (then the amount is held and the tokens count against the token budget).
#[derive(Debug, Clone, Default)]
pub struct NewReservation {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub amount: Option<Usd>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub ttl_seconds: Option<u64>,
}

impl NewReservation {
    /// Validates the request, prices its worst case when it gives no amount, and builds
    /// the open hold. `field` prefixes error paths (`reserve.` inside an evaluation).
    pub fn into_reservation(
        self,
        now: OffsetDateTime,
        prices: &Catalogue,
        field: &str,
    ) -> Result<Reservation, DomainError> {
        let path = |name: &str| format!("{field}{name}");
        let mut errors = Vec::new();
        if let Some(provider) = &self.provider {
            check_line(&mut errors, &path("provider"), provider, 1, 128);
        }
        if let Some(model) = &self.model {
            check_line(&mut errors, &path("model"), model, 1, 128);
        }
        if let Some(amount) = self.amount {
            if amount.is_negative() {
                errors.push(FieldError::new(path("amount"), "must not be negative"));
            } else if amount > MAX_RECORD_COST {
                errors.push(FieldError::new(path("amount"), format!("must be at most {MAX_RECORD_COST} USD")));
            }
        }
        for (name, tokens) in
            [("max_input_tokens", self.max_input_tokens), ("max_output_tokens", self.max_output_tokens)]
        {
            if tokens.is_some_and(|t| t > MAX_TOKENS) {
                errors.push(FieldError::new(path(name), format!("must be at most {MAX_TOKENS}")));
            }
        }
        let ttl = match self.ttl_seconds {
            None => DEFAULT_TTL,
            Some(s) if (1..=MAX_TTL.whole_seconds() as u64).contains(&s) => Duration::seconds(s as i64),
            Some(s) => {
                errors.push(FieldError::new(
                    path("ttl_seconds"),
                    format!("must be between 1 and {}, got {s}", MAX_TTL.whole_seconds()),
                ));
                DEFAULT_TTL
            }
        };
        let pricing = [
            self.provider.is_some(),
            self.model.is_some(),
            self.max_input_tokens.is_some(),
            self.max_output_tokens.is_some(),
        ];
        let all = pricing.iter().all(|given| *given);
        if self.amount.is_none() && !all {
            errors.push(FieldError::new(
                path("amount"),
                "give an amount, or provider, model, max_input_tokens and max_output_tokens to price the worst case",
            ));
        } else if !all
            && pricing.iter().any(|given| *given)
            && (self.max_input_tokens.is_some() != self.max_output_tokens.is_some())
        {
            let missing = if self.max_input_tokens.is_none() { "max_input_tokens" } else { "max_output_tokens" };
            errors.push(FieldError::new(path(missing), "max_input_tokens and max_output_tokens go together"));
        }
        DomainError::check(errors)?;
        // A call uses at least one token: a hold without token maxima (or with maxima of 0)
        // still takes one from the agent's token budget, so a spent token scope refuses it.
        let tokens = self.max_input_tokens.unwrap_or(0).saturating_add(self.max_output_tokens.unwrap_or(0)).max(1);
        let amount = match (self.amount, &self.provider, &self.model) {
            (Some(amount), _, _) => amount,
            (None, Some(provider), Some(model)) => {
                let price = prices.lookup(provider, model).ok_or_else(|| {
                    DomainError::invalid(
                        path("model"),
                        format!(
                            "{provider}/{model} is not in the price catalogue (version {}); give an amount",
                            prices.version()
                        ),
                    )
                })?;
                price
                    .worst_case(self.max_input_tokens.unwrap_or(0), self.max_output_tokens.unwrap_or(0))
                    .ok()
                    .filter(|cost| *cost <= MAX_RECORD_COST)
                    .ok_or_else(|| {
                        DomainError::invalid(
                            path("max_input_tokens"),
                            format!("the worst case exceeds {MAX_RECORD_COST} USD per reservation"),
                        )
                    })?
            }
            // Checked above: without an amount, all four pricing fields are present.
            _ => return Err(DomainError::invalid(path("amount"), "is required")),
        };
        Ok(Reservation {
            id: Uuid::now_v7(),
            agent_id: self.agent_id,
            task_id: self.task_id,
            amount,
            tokens,
            provider: self.provider,
            model: self.model,
            state: ReservationState::Open,
            created_at: now,
            expires_at: now + ttl,
            closed_at: None,
            cost_record_id: None,
            settled_cost: None,
        })
    }
}

#[cfg(test)]
mod tests;
