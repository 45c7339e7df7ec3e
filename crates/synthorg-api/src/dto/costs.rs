//! Wire types of `/api/v1/costs` and `/api/v1/prices`.

use crate::error::ApiError;
use serde::Deserialize;
use synthorg_core::Usd;
use synthorg_core::cost::{CallCategory, CostSource, GenAiOperation, NewCostRecord};
use synthorg_core::price::Usage;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /api/v1/costs`: one model call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportCost {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub provider: String,
    /// Priced by the catalogue in force (`GET /api/v1/prices`) when it lists the model.
    /// 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub model: String,
    /// Every input token of the call, cached ones included.
    #[serde(deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub input_tokens: u64,
    /// Every output token of the call, reasoning included.
    #[serde(deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub output_tokens: u64,
    /// The part of `input_tokens` read from a prompt cache. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub cache_read_input_tokens: u64,
    /// The part of `input_tokens` written to a prompt cache. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub cache_write_input_tokens: u64,
    /// The part of `output_tokens` spent reasoning. Default 0.
    #[serde(default, deserialize_with = "synthorg_core::integral::deserialize")]
    #[schema(maximum = 1_000_000_000_000_i64)]
    pub reasoning_output_tokens: u64,
    /// USD, non-negative, at most 9 decimal places; a JSON number or a decimal string.
    /// Absent: synthorg computes it from the price catalogue (`cost_source: computed`), or
    /// records 0 with `cost_source: unpriced` when the model is not in it.
    #[schema(value_type = Option<synthorg_core::money::CostAmount>)]
    pub cost: Option<Usd>,
    /// Default `productive`.
    pub call_category: Option<CallCategory>,
    /// The kind of call (`gen_ai.operation.name` on its span and on the
    /// `gen_ai.client.token.usage` metric). Default `chat`. Not stored.
    pub operation: Option<GenAiOperation>,
    /// RFC 3339; default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// A retried report with the same key is recorded once. The `Idempotency-Key` header
    /// may be used instead. 1–128 printable ASCII characters without spaces.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
    /// The reservation the call was made under (`POST /api/v1/budget/reservations`): this
    /// report settles it, and its hold becomes this cost.
    pub reservation_id: Option<Uuid>,
}

impl ReportCost {
    /// The report as the engine takes it. `header_key`: the `Idempotency-Key` header, which
    /// must equal the body's key when both are given.
    pub fn into_report(self, header_key: Option<String>) -> Result<NewCostRecord, ApiError> {
        let idempotency_key = match (self.idempotency_key, header_key) {
            (Some(b), Some(h)) if b != h => {
                return Err(ApiError::invalid("idempotency_key", "differs from the Idempotency-Key header"));
            }
            (b, h) => b.or(h),
        };
        Ok(NewCostRecord {
            agent_id: self.agent_id,
            task_id: self.task_id,
            provider: self.provider,
            model: self.model,
            usage: Usage {
                input: self.input_tokens,
                output: self.output_tokens,
                cache_read_input: self.cache_read_input_tokens,
                cache_write_input: self.cache_write_input_tokens,
                reasoning_output: self.reasoning_output_tokens,
            },
            cost: self.cost,
            call_category: self.call_category,
            occurred_at: self.occurred_at,
            idempotency_key,
            reservation_id: self.reservation_id,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub call_category: Option<CallCategory>,
    pub cost_source: Option<CostSource>,
    /// Exact provider name as reported.
    pub provider: Option<String>,
    /// Exact model name as reported.
    pub model: Option<String>,
    /// RFC 3339 instant (inclusive), on `occurred_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339 instant (exclusive), on `occurred_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceQuery {
    /// Only this provider's entries (exact name).
    pub provider: Option<String>,
    /// Only the entry with this model name or alias (exact).
    pub model: Option<String>,
}
