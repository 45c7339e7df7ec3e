//! Wire types of `/api/v1/budget`: holds, reservations, what remains.

use serde::{Deserialize, Serialize};
use synthorg_core::Usd;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What to hold: an amount, or the model and token maxima whose worst case synthorg prices
/// from the catalogue (with both, the amount is held and the tokens count against
/// `per_agent_daily_tokens`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub amount: Option<Usd>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: Option<String>,
    /// 1–128 characters; must be in the catalogue when no amount is given.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: Option<String>,
    /// Most input tokens the call may use.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_input_tokens: Option<u64>,
    /// Most output tokens the call may produce.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_output_tokens: Option<u64>,
    /// How long the hold lasts unless settled or released: 1–3600 seconds, default 300.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(minimum = 1, maximum = 3600)]
    pub ttl_seconds: Option<u64>,
}

impl Hold {
    pub fn request(self, agent_id: Uuid, task_id: Option<Uuid>) -> synthorg_core::reservation::NewReservation {
        synthorg_core::reservation::NewReservation {
            agent_id,
            task_id,
            amount: self.amount,
            provider: self.provider,
            model: self.model,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            ttl_seconds: self.ttl_seconds,
        }
    }
}

/// `POST /api/v1/budget/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    pub agent_id: Uuid,
    /// The task the call is for: the hold then counts against `per_task_limit` too.
    pub task_id: Option<Uuid>,
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub amount: Option<Usd>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: Option<String>,
    /// 1–128 characters; must be in the catalogue when no amount is given.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: Option<String>,
    /// Most input tokens the call may use.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_input_tokens: Option<u64>,
    /// Most output tokens the call may produce.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub max_output_tokens: Option<u64>,
    /// How long the hold lasts unless settled or released: 1–3600 seconds, default 300.
    #[serde(default, deserialize_with = "synthorg_core::integral::option::deserialize")]
    #[schema(minimum = 1, maximum = 3600)]
    pub ttl_seconds: Option<u64>,
}

impl CreateReservation {
    /// The hold asked for, apart from whose it is.
    pub fn split(self) -> (Uuid, Option<Uuid>, Hold) {
        let hold = Hold {
            amount: self.amount,
            provider: self.provider,
            model: self.model,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            ttl_seconds: self.ttl_seconds,
        };
        (self.agent_id, self.task_id, hold)
    }
}

/// A granted reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Granted {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// USD held.
    pub amount: Usd,
    /// Tokens held against `per_agent_daily_tokens`.
    pub tokens: u64,
    /// When the hold lapses unless settled or released.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// What the tightest USD scope has left with this hold counted; absent when no USD
    /// limit applies.
    pub remaining: Option<Usd>,
}

impl Granted {
    pub fn of(reserved: &synthorg_engine::Reserved) -> Self {
        let (r, remaining) = (&reserved.reservation, reserved.remaining);
        Self {
            id: r.id,
            agent_id: r.agent_id,
            task_id: r.task_id,
            amount: r.amount,
            tokens: r.tokens,
            expires_at: r.expires_at,
            remaining,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    /// With an agent key, default (and only) its own.
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub state: Option<synthorg_core::reservation::ReservationState>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}

/// `GET /api/v1/budget/remaining`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemainingQuery {
    /// The agent whose daily limit to include; with an agent key, default (and only) its own.
    pub agent_id: Option<Uuid>,
    /// The task whose limit to include; an agent key may ask about tasks assigned to it.
    pub task_id: Option<Uuid>,
}
