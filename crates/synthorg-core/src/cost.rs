//! The cost ledger: one append-only record per model call, with idempotent reporting.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::price::{Catalogue, Usage, disagrees};
use crate::text::check_line;
use crate::{DomainError, FieldError, Usd, string_enum};

string_enum! {
    /// The kind of model call, as the OpenTelemetry GenAI conventions name it
    /// (`gen_ai.operation.name`).
    pub enum GenAiOperation {
        Chat => "chat",
        TextCompletion => "text_completion",
        GenerateContent => "generate_content",
        Embeddings => "embeddings",
        CreateAgent => "create_agent",
        InvokeAgent => "invoke_agent",
        ExecuteTool => "execute_tool",
    }
}

string_enum! {
    /// What a model call was for.
    pub enum CallCategory {
        Productive => "productive",
        Coordination => "coordination",
        System => "system",
    }
}

string_enum! {
    /// Where a record's `cost` comes from.
    pub enum CostSource {
        /// Priced by synthorg from the catalogue (the report carried no cost).
        Computed => "computed",
        /// Given by the client; the computed figure, when the model is priced, is kept beside it.
        Reported => "reported",
        /// Neither: the model is not in the catalogue and no cost was given. Recorded at 0.
        Unpriced => "unpriced",
        /// A call through the model gateway, priced from the catalogue with the token counts
        /// the provider itself answered (SPEC §17): not the agent's claim.
        Metered => "metered",
        /// A call through the model gateway that ended without the provider's usage (a broken
        /// or cancelled stream): priced from what the gateway counted passing through.
        Estimated => "estimated",
    }
}

/// One recorded model call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostRecord {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    /// Every input token, cached ones included.
    pub input_tokens: u64,
    /// Every output token, reasoning included.
    pub output_tokens: u64,
    /// The part of `input_tokens` read from a prompt cache.
    pub cache_read_input_tokens: u64,
    /// The part of `input_tokens` written to a prompt cache.
    pub cache_write_input_tokens: u64,
    /// The part of `output_tokens` spent reasoning.
    pub reasoning_output_tokens: u64,
    /// The cost the budget counts: as reported, or as computed, or 0 when unpriced.
    pub cost: Usd,
    pub cost_source: CostSource,
    /// What the catalogue prices the call at, when the model is priced.
    pub computed_cost: Option<Usd>,
    /// The catalogue version `computed_cost` comes from.
    pub price_version: Option<String>,
    /// A reported cost more than 1 % away from the computed one.
    pub cost_disagrees: bool,
    pub call_category: CallCategory,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub idempotency_key: Option<String>,
    /// The reservation this call settled.
    pub reservation_id: Option<Uuid>,
}

/// A cost report as received.
#[derive(Debug, Clone)]
pub struct NewCostRecord {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    /// Absent: synthorg prices the call.
    pub cost: Option<Usd>,
    pub call_category: Option<CallCategory>,
    pub occurred_at: Option<OffsetDateTime>,
    pub idempotency_key: Option<String>,
    /// The reservation the call was made under; the report settles it.
    pub reservation_id: Option<Uuid>,
}

/// Largest cost one record may carry; larger is almost certainly a unit mistake.
pub const MAX_RECORD_COST: Usd = Usd::dollars(1_000_000);
/// Largest token count one record may carry.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
/// How far in the future `occurred_at` may lie (clock skew allowance).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);
/// The default of `budget.max_report_delay`: how long after a call its cost may be reported.
/// An older `occurred_at` is refused, so a report cannot be dated into a period or a day
/// whose limits were already checked.
pub const DEFAULT_MAX_REPORT_DELAY: Duration = Duration::hours(24);

/// `24h`, `90m`, `45s`: the largest whole unit, as the configuration spells durations.
fn spell_duration(d: Duration) -> String {
    let seconds = d.whole_seconds();
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl NewCostRecord {
    /// Validates the report, prices it with `prices`, and builds the record to append.
    /// `occurred_at` may lie from `max_report_delay` before `now` to [`MAX_CLOCK_SKEW`] after.
    pub fn into_record(
        self,
        now: OffsetDateTime,
        max_report_delay: Duration,
        prices: &Catalogue,
    ) -> Result<CostRecord, DomainError> {
        let mut errors = Vec::new();
        check_line(&mut errors, "provider", &self.provider, 1, 128);
        check_line(&mut errors, "model", &self.model, 1, 128);
        if let Some(cost) = self.cost {
            if cost.is_negative() {
                errors.push(FieldError::new("cost", "must not be negative"));
            } else if cost > MAX_RECORD_COST {
                errors.push(FieldError::new("cost", format!("must be at most {MAX_RECORD_COST} USD per record")));
            }
        }
        self.usage.check(&mut errors);
        let occurred_at = self.occurred_at.unwrap_or(now);
        if occurred_at > now + MAX_CLOCK_SKEW {
            errors.push(FieldError::new("occurred_at", "must not lie more than 5 minutes in the future"));
        }
        if occurred_at.year() < 2000 {
            errors.push(FieldError::new("occurred_at", "must not lie before the year 2000"));
        } else if occurred_at < now - max_report_delay {
            errors.push(FieldError::new(
                "occurred_at",
                format!(
                    "must not lie more than {} before now (budget.max_report_delay); got {}",
                    spell_duration(max_report_delay),
                    occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
                ),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            check_idempotency_key(&mut errors, key);
        }
        DomainError::check(errors)?;
        let computed = match prices.lookup(&self.provider, &self.model).map(|m| m.cost(&self.usage)) {
            None => None,
            Some(Ok(cost)) if cost <= MAX_RECORD_COST => Some(cost),
            Some(_) => {
                return Err(DomainError::invalid(
                    "input_tokens",
                    format!("the call's computed cost exceeds {MAX_RECORD_COST} USD per record"),
                ));
            }
        };
        let (cost, cost_source) = match (self.cost, computed) {
            (Some(reported), _) => (reported, CostSource::Reported),
            (None, Some(computed)) => (computed, CostSource::Computed),
            (None, None) => (Usd::ZERO, CostSource::Unpriced),
        };
        Ok(CostRecord {
            id: Uuid::now_v7(),
            agent_id: self.agent_id,
            task_id: self.task_id,
            provider: self.provider,
            model: self.model,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            cache_read_input_tokens: self.usage.cache_read_input,
            cache_write_input_tokens: self.usage.cache_write_input,
            reasoning_output_tokens: self.usage.reasoning_output,
            cost,
            cost_source,
            computed_cost: computed,
            price_version: computed.map(|_| prices.version().to_owned()),
            cost_disagrees: cost_source == CostSource::Reported && computed.is_some_and(|c| disagrees(cost, c)),
            call_category: self.call_category.unwrap_or(CallCategory::Productive),
            occurred_at,
            recorded_at: now,
            idempotency_key: self.idempotency_key,
            reservation_id: self.reservation_id,
        })
    }
}

impl NewCostRecord {
    /// The record of a call the model gateway made, priced as `price_as`'s model in the
    /// catalogue (a provider the operator named, say `azure-east` or `simulated`, prices as
    /// `openai`) and recorded under its own provider name.
    pub fn into_gateway_record(
        mut self,
        now: OffsetDateTime,
        max_report_delay: Duration,
        prices: &Catalogue,
        price_as: &str,
        complete: bool,
    ) -> Result<CostRecord, DomainError> {
        let provider = std::mem::replace(&mut self.provider, price_as.to_owned());
        let mut record = self.into_record(now, max_report_delay, prices)?;
        record.provider = provider;
        Ok(record.through_gateway(complete))
    }
}

impl CostRecord {
    /// The record of a call the model gateway made: its tokens are the provider's own
    /// (`complete`) or the gateway's count of a stream that ended early, so a priced record
    /// is `metered` or `estimated` rather than `computed`. An unpriced one stays unpriced.
    pub fn through_gateway(mut self, complete: bool) -> Self {
        if self.cost_source == CostSource::Computed {
            self.cost_source = if complete { CostSource::Metered } else { CostSource::Estimated };
        }
        self
    }

    /// The token counts by class.
    pub fn usage(&self) -> Usage {
        Usage {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_read_input: self.cache_read_input_tokens,
            cache_write_input: self.cache_write_input_tokens,
            reasoning_output: self.reasoning_output_tokens,
        }
    }

    /// The cost the client gave, if it gave one.
    pub fn reported_cost(&self) -> Option<Usd> {
        (self.cost_source == CostSource::Reported).then_some(self.cost)
    }

    /// Is `other` the same report as `self` (a retry)? Compares what the client sent, not
    /// what synthorg assigned (id, recorded_at, a defaulted `occurred_at`, the pricing).
    pub fn same_report(&self, other: &CostRecord) -> bool {
        self.agent_id == other.agent_id
            && self.task_id == other.task_id
            && self.provider == other.provider
            && self.model == other.model
            && self.usage() == other.usage()
            && self.reported_cost() == other.reported_cost()
            && self.call_category == other.call_category
            && self.reservation_id == other.reservation_id
    }
}

fn check_idempotency_key(errors: &mut Vec<FieldError>, key: &str) {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(FieldError::new("idempotency_key", "must be 1 to 128 printable ASCII characters without spaces"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(cost: &str) -> NewCostRecord {
        NewCostRecord {
            agent_id: Uuid::nil(),
            task_id: None,
            provider: "anthropic".into(),
            model: "claude".into(),
            usage: Usage { input: 1000, output: 200, ..Usage::default() },
            cost: Some(Usd::parse(cost).unwrap()),
            call_category: None,
            occurred_at: None,
            idempotency_key: Some("retry-1".into()),
            reservation_id: None,
        }
    }

    #[test]
    fn validates_fields() {
        let now = OffsetDateTime::now_utc();
        let check = |r: NewCostRecord, field: Option<&str>| {
            let result = r.into_record(now, DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty());
            match field {
                None => assert!(result.is_ok(), "{result:?}"),
                Some(f) => {
                    let e = result.unwrap_err().to_string();
                    assert!(e.starts_with(&format!("{f}:")), "{e}");
                }
            }
        };
        check(report("0.01"), None);
        check(report("0"), None);
        check(report("-0.01"), Some("cost"));
        check(report("1000000.000000001"), Some("cost"));
        check(NewCostRecord { provider: String::new(), ..report("1") }, Some("provider"));
        check(
            NewCostRecord { usage: Usage { input: MAX_TOKENS + 1, ..Usage::default() }, ..report("1") },
            Some("input_tokens"),
        );
        check(NewCostRecord { idempotency_key: Some("has space".into()), ..report("1") }, Some("idempotency_key"));
        check(NewCostRecord { occurred_at: Some(now + Duration::hours(1)), ..report("1") }, Some("occurred_at"));
        check(NewCostRecord { occurred_at: Some(now - Duration::hours(23)), ..report("1") }, None);
        check(NewCostRecord { occurred_at: Some(now - Duration::hours(25)), ..report("1") }, Some("occurred_at"));
    }

    /// A report dated before `max_report_delay` is refused naming the field and the setting,
    /// whatever the delay: it could otherwise land in a day or period already checked.
    #[test]
    fn reports_older_than_the_delay_are_refused() {
        let now = OffsetDateTime::now_utc();
        for (delay, age, accepted) in [
            (Duration::hours(24), Duration::hours(24) - Duration::seconds(1), true),
            (Duration::hours(24), Duration::hours(24) + Duration::seconds(1), false),
            (Duration::minutes(90), Duration::hours(2), false),
            (Duration::days(40), Duration::days(35), true),
        ] {
            let r = NewCostRecord { occurred_at: Some(now - age), ..report("1") };
            match r.into_record(now, delay, &Catalogue::empty()) {
                Ok(record) => assert!(accepted && record.occurred_at == now - age, "{delay} {age}"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!accepted && e.starts_with("occurred_at:") && e.contains("budget.max_report_delay"), "{e}");
                    assert!(e.contains(if delay == Duration::minutes(90) { "90m" } else { "24h" }), "{e}");
                    let when = (now - age).format(&time::format_description::well_known::Rfc3339).unwrap();
                    assert!(e.ends_with(&format!("got {when}")), "{e}");
                }
            }
        }
    }

    #[test]
    fn retries_are_recognised() {
        let now = OffsetDateTime::now_utc();
        let a = report("0.5").into_record(now, DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty()).unwrap();
        let b = report("0.5").into_record(now, DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty()).unwrap();
        let c = report("0.6").into_record(now, DEFAULT_MAX_REPORT_DELAY, &Catalogue::empty()).unwrap();
        assert!(a.same_report(&b));
        assert!(!a.same_report(&c));
    }

    #[test]
    fn costs_are_computed_reported_or_unpriced() {
        let now = OffsetDateTime::now_utc();
        let prices = Catalogue::builtin();
        let sonnet = |cost: Option<&str>| NewCostRecord {
            model: "claude-sonnet-4-5".into(),
            usage: Usage { input: 10_000, output: 1000, cache_read_input: 8000, ..Usage::default() },
            cost: cost.map(|c| Usd::parse(c).unwrap()),
            ..report("0")
        };
        // 2000 × 3 + 8000 × 0.3 + 1000 × 15 = 23400 per million.
        let computed = sonnet(None).into_record(now, DEFAULT_MAX_REPORT_DELAY, &prices).unwrap();
        assert_eq!((computed.cost, computed.cost_source), (Usd::parse("0.0234").unwrap(), CostSource::Computed));
        assert_eq!(computed.computed_cost, Some(computed.cost));
        assert_eq!(computed.price_version.as_deref(), Some(prices.version()));
        assert!(!computed.cost_disagrees);

        let agreeing = sonnet(Some("0.0236")).into_record(now, DEFAULT_MAX_REPORT_DELAY, &prices).unwrap();
        assert_eq!((agreeing.cost_source, agreeing.cost_disagrees), (CostSource::Reported, false));
        assert_eq!(agreeing.computed_cost, computed.computed_cost);
        let disagreeing = sonnet(Some("0.0237")).into_record(now, DEFAULT_MAX_REPORT_DELAY, &prices).unwrap();
        assert_eq!((disagreeing.cost, disagreeing.cost_disagrees), (Usd::parse("0.0237").unwrap(), true));
        assert!(!computed.same_report(&agreeing), "a retry must send the same cost, or none both times");

        let unknown = NewCostRecord { model: "in-house-7b".into(), cost: None, ..report("0") };
        let unpriced = unknown.into_record(now, DEFAULT_MAX_REPORT_DELAY, &prices).unwrap();
        assert_eq!((unpriced.cost, unpriced.cost_source), (Usd::ZERO, CostSource::Unpriced));
        assert_eq!((unpriced.computed_cost, unpriced.price_version), (None, None));
    }
}
