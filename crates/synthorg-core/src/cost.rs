//! The cost ledger: one append-only record per model call, with idempotent reporting.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::text::check_len;
use crate::{Actor, DomainError, FieldError, Usd, string_enum};

string_enum! {
    /// What a model call was for.
    pub enum CallCategory {
        Productive => "productive",
        Coordination => "coordination",
        System => "system",
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
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Usd,
    pub call_category: CallCategory,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub idempotency_key: Option<String>,
}

/// A cost report as received.
#[derive(Debug, Clone)]
pub struct NewCostRecord {
    pub agent_id: Uuid,
    pub task_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Usd,
    pub call_category: Option<CallCategory>,
    pub occurred_at: Option<OffsetDateTime>,
    pub idempotency_key: Option<String>,
}

/// Largest cost one record may carry; larger is almost certainly a unit mistake.
pub const MAX_RECORD_COST: Usd = Usd::dollars(1_000_000);
/// Largest token count one record may carry.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
/// How far in the future `occurred_at` may lie (clock skew allowance).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

impl NewCostRecord {
    /// Validates the report and builds the record to append.
    pub fn into_record(self, actor: &Actor, now: OffsetDateTime) -> Result<CostRecord, DomainError> {
        if !actor.may_act_for(self.agent_id) {
            return Err(DomainError::Forbidden(format!("this key may not report costs for agent {}", self.agent_id)));
        }
        let mut errors = Vec::new();
        check_len(&mut errors, "provider", &self.provider, 1, 128);
        check_len(&mut errors, "model", &self.model, 1, 128);
        if self.cost.is_negative() {
            errors.push(FieldError::new("cost", "must not be negative"));
        } else if self.cost > MAX_RECORD_COST {
            errors.push(FieldError::new("cost", format!("must be at most {MAX_RECORD_COST} USD per record")));
        }
        for (field, tokens) in [("input_tokens", self.input_tokens), ("output_tokens", self.output_tokens)] {
            if tokens > MAX_TOKENS {
                errors.push(FieldError::new(field, format!("must be at most {MAX_TOKENS}")));
            }
        }
        let occurred_at = self.occurred_at.unwrap_or(now);
        if occurred_at > now + MAX_CLOCK_SKEW {
            errors.push(FieldError::new("occurred_at", "must not lie more than 5 minutes in the future"));
        }
        if occurred_at.year() < 2000 {
            errors.push(FieldError::new("occurred_at", "must not lie before the year 2000"));
        }
        if let Some(key) = &self.idempotency_key {
            check_idempotency_key(&mut errors, key);
        }
        DomainError::check(errors)?;
        Ok(CostRecord {
            id: Uuid::now_v7(),
            agent_id: self.agent_id,
            task_id: self.task_id,
            provider: self.provider,
            model: self.model,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost: self.cost,
            call_category: self.call_category.unwrap_or(CallCategory::Productive),
            occurred_at,
            recorded_at: now,
            idempotency_key: self.idempotency_key,
        })
    }
}

impl CostRecord {
    /// Is `other` the same report as `self` (a retry)? Compares what the client sent, not
    /// what synthorg assigned (id, recorded_at, a defaulted `occurred_at`).
    pub fn same_report(&self, other: &CostRecord) -> bool {
        self.agent_id == other.agent_id
            && self.task_id == other.task_id
            && self.provider == other.provider
            && self.model == other.model
            && self.input_tokens == other.input_tokens
            && self.output_tokens == other.output_tokens
            && self.cost == other.cost
            && self.call_category == other.call_category
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
            input_tokens: 1000,
            output_tokens: 200,
            cost: Usd::parse(cost).unwrap(),
            call_category: None,
            occurred_at: None,
            idempotency_key: Some("retry-1".into()),
        }
    }

    fn admin() -> Actor {
        Actor::Admin { key_id: "a".into() }
    }

    #[test]
    fn validates_fields() {
        let now = OffsetDateTime::now_utc();
        let check = |r: NewCostRecord, field: Option<&str>| {
            let result = r.into_record(&admin(), now);
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
        check(NewCostRecord { input_tokens: MAX_TOKENS + 1, ..report("1") }, Some("input_tokens"));
        check(NewCostRecord { idempotency_key: Some("has space".into()), ..report("1") }, Some("idempotency_key"));
        check(NewCostRecord { occurred_at: Some(now + Duration::hours(1)), ..report("1") }, Some("occurred_at"));
    }

    #[test]
    fn agent_keys_report_only_for_themselves() {
        let me = Uuid::now_v7();
        let key = Actor::Agent { key_id: "k".into(), agent_id: me };
        let now = OffsetDateTime::now_utc();
        assert!(matches!(report("1").into_record(&key, now), Err(DomainError::Forbidden(_))));
        assert!(NewCostRecord { agent_id: me, ..report("1") }.into_record(&key, now).is_ok());
    }

    #[test]
    fn retries_are_recognised() {
        let now = OffsetDateTime::now_utc();
        let a = report("0.5").into_record(&admin(), now).unwrap();
        let b = report("0.5").into_record(&admin(), now).unwrap();
        let c = report("0.6").into_record(&admin(), now).unwrap();
        assert!(a.same_report(&b));
        assert!(!a.same_report(&c));
    }
}
