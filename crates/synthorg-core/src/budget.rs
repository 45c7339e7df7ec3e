//! Budget configuration, billing periods and budget status.
//!
//! A billing period starts at 00:00 UTC on `reset_day` of a month and ends where the next
//! one starts. Daily figures are prorated by the length of the *current* period, so a
//! 28-day February gets a larger daily share than a 31-day March.

use serde::Serialize;
use time::{Date, Duration, Month, OffsetDateTime, Time};
use uuid::Uuid;

use crate::{FieldError, Usd, string_enum};

string_enum! {
    /// How close spend is to the monthly budget.
    pub enum AlertLevel {
        Normal => "normal",
        Warn => "warn",
        Critical => "critical",
        HardStop => "hard_stop",
    }
}

string_enum! {
    /// What a budget limit applies to.
    pub enum Scope {
        /// The organization's spend in the billing period, up to the hard stop.
        Monthly => "monthly",
        /// One agent's spend since 00:00 UTC.
        AgentDaily => "agent_daily",
        /// One task's spend, all time.
        Task => "task",
        /// One agent's tokens (input + output) since 00:00 UTC.
        AgentDailyTokens => "agent_daily_tokens",
    }
}

/// The largest budget amount, 10⁹ USD: far above any organization's spend, and far enough
/// below the largest representable amount (≈ 9.2 × 10⁹) that sums of limits cannot overflow.
pub const MAX_BUDGET_AMOUNT: Usd = Usd::dollars(1_000_000_000);

/// Alert thresholds in percent of the monthly budget; strictly increasing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct AlertThresholds {
    /// Above 0, at most 1000, below `critical`.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1000))]
    pub warn: f64,
    /// Above `warn`, below `hard_stop`.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1000))]
    pub critical: f64,
    /// Above `critical`, at most 1000.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1000))]
    pub hard_stop: f64,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self { warn: 75.0, critical: 90.0, hard_stop: 100.0 }
    }
}

/// The budget an organization runs under.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Monthly budget in USD; 0 disables enforcement and percentages.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::money::BudgetAmount))]
    pub total_monthly: Usd,
    /// Largest spend one task may accumulate; 0 means no limit.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::money::BudgetAmount))]
    pub per_task_limit: Usd,
    /// Largest spend one agent may accumulate per UTC day; 0 means no limit.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::money::BudgetAmount))]
    pub per_agent_daily_limit: Usd,
    /// Most tokens (input + output) one agent may use per UTC day; 0 means no limit. For
    /// flat-rate plans that report $0 but still burn a quota.
    #[serde(deserialize_with = "crate::integral::deserialize")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000_000_u64))]
    pub per_agent_daily_tokens: u64,
    #[serde(deserialize_with = "crate::object::deserialize")]
    pub alerts: AlertThresholds,
    /// Day of the month (1–28) on which a billing period starts, 00:00 UTC.
    #[serde(deserialize_with = "crate::integral::deserialize")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 28))]
    pub reset_day: u8,
    /// Display currency; amounts are always USD. 1–8 ASCII letters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 8, pattern = "^[A-Za-z]{1,8}$"))]
    pub currency: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            total_monthly: Usd::ZERO,
            per_task_limit: Usd::ZERO,
            per_agent_daily_limit: Usd::ZERO,
            per_agent_daily_tokens: 0,
            alerts: AlertThresholds::default(),
            reset_day: 1,
            currency: "USD".to_owned(),
        }
    }
}

impl BudgetConfig {
    /// Every problem with this configuration, with paths relative to the budget section.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (field, amount) in [
            ("total_monthly", self.total_monthly),
            ("per_task_limit", self.per_task_limit),
            ("per_agent_daily_limit", self.per_agent_daily_limit),
        ] {
            if amount.is_negative() {
                errors.push(FieldError::new(field, "must not be negative"));
            } else if amount > MAX_BUDGET_AMOUNT {
                errors.push(FieldError::new(field, format!("must be at most {MAX_BUDGET_AMOUNT} USD")));
            }
        }
        if self.per_agent_daily_tokens > crate::cost::MAX_TOKENS {
            errors.push(FieldError::new(
                "per_agent_daily_tokens",
                format!("must be at most {}", crate::cost::MAX_TOKENS),
            ));
        }
        if !(1..=28).contains(&self.reset_day) {
            errors.push(FieldError::new("reset_day", format!("must be between 1 and 28, got {}", self.reset_day)));
        }
        let a = &self.alerts;
        for (field, v) in [("alerts.warn", a.warn), ("alerts.critical", a.critical), ("alerts.hard_stop", a.hard_stop)]
        {
            if !v.is_finite() || v <= 0.0 || v > 1000.0 {
                errors.push(FieldError::new(field, "must be a percentage above 0 and at most 1000"));
            }
        }
        if !(a.warn < a.critical && a.critical < a.hard_stop) {
            errors.push(FieldError::new(
                "alerts",
                format!(
                    "thresholds must be strictly increasing (warn < critical < hard_stop), got {} / {} / {}",
                    a.warn, a.critical, a.hard_stop
                ),
            ));
        }
        let len = self.currency.chars().count();
        if !(1..=8).contains(&len) || !self.currency.chars().all(|c| c.is_ascii_alphabetic()) {
            errors.push(FieldError::new("currency", "must be 1 to 8 ASCII letters, e.g. USD"));
        }
        errors
    }

    /// Why new work must be refused under this budget, if it must: a scope whose spend and
    /// open holds have reached its limit (the monthly hard stop, the agent's daily limit in
    /// USD or tokens, the task's limit). Spend already made is always recorded; enforcement
    /// stops the next action (a security verdict of deny, a refused reservation).
    pub fn refusal(&self, spend: &ActionSpend, held: &ActionSpend) -> Option<Exhausted> {
        self.admit(spend, held, Usd::ZERO, 0).err()
    }

    /// True when any scope has a limit (else nothing is ever refused or held back).
    pub fn has_limits(&self) -> bool {
        !self.total_monthly.is_zero()
            || !self.per_agent_daily_limit.is_zero()
            || !self.per_task_limit.is_zero()
            || self.per_agent_daily_tokens > 0
    }

    /// The spend at which the billing period refuses new work:
    /// `total_monthly × alerts.hard_stop / 100`, to the nanodollar.
    pub fn hard_stop(&self) -> Usd {
        let nanos = i128::from(self.total_monthly.nanos()) * (self.alerts.hard_stop * 1e6) as i128 / 100_000_000;
        Usd::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Whether a hold of `amount` USD and `tokens` tokens fits every limited scope, given
    /// what is spent and already held: for each scope with a limit, `spent + held < limit`
    /// and `spent + held + requested ≤ limit`. The first scope it does not fit is the refusal.
    ///
    /// This is the one admission rule; the stores call it inside the transaction (SQLite's
    /// single writer, PostgreSQL's budget lock) that also inserts the hold, so no two
    /// admissions see the same room.
    pub fn admit(&self, spend: &ActionSpend, held: &ActionSpend, amount: Usd, tokens: u64) -> Result<(), Exhausted> {
        let usd = |scope, limit: Usd, spent: Usd, held: Usd| Check {
            scope,
            unit: Unit::Usd,
            limit: limit.nanos().into(),
            spent: spent.nanos().into(),
            held: held.nanos().into(),
            requested: amount.nanos().into(),
        };
        let mut checks = vec![
            usd(Scope::Monthly, self.hard_stop(), spend.period_spend, held.period_spend),
            usd(Scope::AgentDaily, self.per_agent_daily_limit, spend.agent_today, held.agent_today),
        ];
        if let Some(task) = spend.task_total {
            checks.push(usd(Scope::Task, self.per_task_limit, task, held.task_total.unwrap_or(Usd::ZERO)));
        }
        checks.push(Check {
            scope: Scope::AgentDailyTokens,
            unit: Unit::Tokens,
            limit: self.per_agent_daily_tokens.into(),
            spent: spend.agent_tokens_today.into(),
            held: held.agent_tokens_today.into(),
            requested: tokens.into(),
        });
        for check in checks {
            let committed = check.spent + check.held;
            if check.limit > 0 && (committed >= check.limit || committed + check.requested > check.limit) {
                return Err(Exhausted {
                    scope: check.scope,
                    unit: check.unit,
                    limit: check.quantity(check.limit),
                    spent: check.quantity(check.spent),
                    held: check.quantity(check.held),
                    requested: check.quantity(check.requested),
                    remaining: check.quantity((check.limit - committed).max(0)),
                });
            }
        }
        Ok(())
    }

    /// The alert level for a percentage of the monthly budget used.
    pub fn alert_level(&self, used_percent: Option<f64>) -> AlertLevel {
        let Some(p) = used_percent else {
            return AlertLevel::Normal;
        };
        let a = &self.alerts;
        if p >= a.hard_stop {
            AlertLevel::HardStop
        } else if p >= a.critical {
            AlertLevel::Critical
        } else if p >= a.warn {
            AlertLevel::Warn
        } else {
            AlertLevel::Normal
        }
    }
}

/// One scope's figures for [`BudgetConfig::admit`], in nanodollars or tokens.
struct Check {
    scope: Scope,
    unit: Unit,
    limit: i128,
    spent: i128,
    held: i128,
    requested: i128,
}

impl Check {
    fn quantity(&self, value: i128) -> Quantity {
        match self.unit {
            Unit::Usd => Quantity::Usd(Usd::from_nanos(i64::try_from(value).unwrap_or(i64::MAX))),
            Unit::Tokens => Quantity::Tokens(u64::try_from(value.max(0)).unwrap_or(u64::MAX)),
        }
    }
}

string_enum! {
    /// What a scope's limit counts.
    pub enum Unit {
        Usd => "usd",
        Tokens => "tokens",
    }
}

/// An amount of a scope's unit: USD (an exact decimal) or tokens (an integer); a JSON
/// number either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Quantity {
    Usd(Usd),
    Tokens(u64),
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Usd(usd) => write!(f, "{usd} USD"),
            Quantity::Tokens(tokens) => write!(f, "{tokens} tokens"),
        }
    }
}

/// Why a hold does not fit: the first scope it would push past its limit, with that
/// scope's figures. The body of a 409 `budget_exhausted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exhausted {
    pub scope: Scope,
    /// What `limit`, `spent`, `held`, `requested` and `remaining` count.
    pub unit: Unit,
    /// For `monthly` the hard stop, else the configured limit.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub limit: Quantity,
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub spent: Quantity,
    /// Held by other open reservations.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub held: Quantity,
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub requested: Quantity,
    /// `limit − spent − held`, never below 0.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub remaining: Quantity,
}

impl Exhausted {
    /// For people: which limit, and what is spent, held and left of it.
    pub fn message(&self) -> String {
        let what = match self.scope {
            Scope::Monthly => "budget hard stop",
            Scope::AgentDaily => "agent daily limit reached",
            Scope::Task => "task limit reached",
            Scope::AgentDailyTokens => "agent daily token limit reached",
        };
        format!(
            "{what}: {} spent and {} held of {}; {} requested, {} remaining",
            self.spent, self.held, self.limit, self.requested, self.remaining
        )
    }
}

/// A billing period: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingPeriod {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl BillingPeriod {
    /// The period containing `now` for a given `reset_day` (clamped to 1–28).
    pub fn containing(now: OffsetDateTime, reset_day: u8) -> Self {
        let day = reset_day.clamp(1, 28);
        let now = now.to_offset(time::UtcOffset::UTC);
        let (mut year, mut month) = (now.year(), now.month());
        if now.day() < day {
            (year, month) = previous_month(year, month);
        }
        let (next_year, next_month) = next_month(year, month);
        Self { start: midnight(year, month, day), end: midnight(next_year, next_month, day) }
    }

    /// Length of the period in days (28 to 31).
    pub fn days(&self) -> i64 {
        (self.end - self.start).whole_days()
    }

    /// A day's share of `monthly` in this period: `monthly / days`, in nanodollars rounded
    /// down, so the days of a period never add up to more than the month. The one proration
    /// of every daily figure (budget status, `/metrics`).
    pub fn daily_share(&self, monthly: Usd) -> Usd {
        Usd::from_nanos(monthly.nanos() / self.days().max(1))
    }

    /// The period's spend projected linearly to its end: `spent` so far ÷ time elapsed ×
    /// period length, at least one hour counting as elapsed (no division by a few seconds).
    pub fn forecast(&self, spent: Usd, now: OffsetDateTime) -> Usd {
        let elapsed = (now - self.start).max(Duration::HOUR);
        let length = self.end - self.start;
        let forecast =
            i128::from(spent.nanos()) * length.whole_seconds() as i128 / elapsed.whole_seconds().max(1) as i128;
        Usd::from_nanos(i64::try_from(forecast).unwrap_or(i64::MAX))
    }
}

/// The organization's total spend sampled over time, for burn rates: at most one sample a
/// minute, kept for 25 hours. In memory: after a restart the history starts again, and a
/// window longer than the history is measured over the history (see [`SpendHistory::rate`]).
#[derive(Debug, Clone, Default)]
pub struct SpendHistory {
    samples: std::collections::VecDeque<(OffsetDateTime, Usd)>,
}

impl SpendHistory {
    /// Spacing of kept samples.
    pub const SPACING: Duration = Duration::MINUTE;
    /// How far back samples are kept: the longest window, and an hour to spare.
    pub const KEPT: Duration = Duration::hours(25);
    /// The shortest history a rate is given for.
    pub const MIN_SPAN: Duration = Duration::minutes(5);

    /// Records the ledger's total at `at`; a sample within a minute of the previous one is
    /// not kept. Samples older than [`Self::KEPT`] are dropped.
    pub fn record(&mut self, at: OffsetDateTime, total: Usd) {
        if self.samples.back().is_none_or(|(last, _)| at - *last >= Self::SPACING) {
            self.samples.push_back((at, total));
        }
        while self.samples.front().is_some_and(|(t, _)| at - *t > Self::KEPT) {
            self.samples.pop_front();
        }
    }

    /// Spend per hour over the `window` before `now`, when the total is `total`: the growth
    /// since the oldest sample inside the window (or since the oldest of all, when the history
    /// is shorter), per hour of the span it covers. `None` with less than five minutes of
    /// history.
    pub fn rate(&self, now: OffsetDateTime, total: Usd, window: Duration) -> Option<f64> {
        let (from, then) = self.samples.iter().find(|(t, _)| now - *t <= window)?;
        let span = now - *from;
        if span < Self::MIN_SPAN {
            return None;
        }
        let grown = (total.nanos() - then.nanos()).max(0) as f64 / 1e9;
        Some(grown / span.as_seconds_f64() * 3600.0)
    }
}

/// Where the billing period is heading, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlook {
    /// [`BillingPeriod::forecast`] of the period's spend.
    pub forecast_period_spend: Usd,
    /// Seconds until spend + holds reach the hard stop at the given burn rate: 0 when they
    /// already have; `None` without a monthly budget or without spend to extrapolate.
    pub exhaustion_seconds: Option<f64>,
    /// Seconds until the period ends (and spend starts again from 0).
    pub period_remaining_seconds: f64,
}

impl BudgetConfig {
    /// The period's outlook at `now`, from its spend, what open holds hold, and the spend per
    /// hour (the 24 h burn rate) that exhaustion is extrapolated at.
    pub fn outlook(&self, now: OffsetDateTime, period_spend: Usd, held: Usd, burn_per_hour: Option<f64>) -> Outlook {
        let period = BillingPeriod::containing(now, self.reset_day);
        let left = self.hard_stop().nanos() as f64 - period_spend.nanos() as f64 - held.nanos() as f64;
        let exhaustion_seconds = match (self.total_monthly.is_zero(), burn_per_hour) {
            (true, _) => None,
            (false, _) if left <= 0.0 => Some(0.0),
            (false, Some(rate)) if rate > 0.0 => Some(left / 1e9 / rate * 3600.0),
            (false, _) => None,
        };
        Outlook {
            forecast_period_spend: period.forecast(period_spend, now),
            exhaustion_seconds,
            period_remaining_seconds: (period.end - now).as_seconds_f64(),
        }
    }
}

/// The instants spend is summed from, at one moment: the start of the billing period and of
/// the UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendWindow {
    pub period_start: OffsetDateTime,
    pub day_start: OffsetDateTime,
}

impl SpendWindow {
    /// The window at `now` for a budget resetting on `reset_day`.
    pub fn at(now: OffsetDateTime, reset_day: u8) -> Self {
        Self { period_start: BillingPeriod::containing(now, reset_day).start, day_start: day_start(now) }
    }
}

/// 00:00 UTC of the day containing `now`.
pub fn day_start(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(time::UtcOffset::UTC).replace_time(Time::MIDNIGHT)
}

fn midnight(year: i32, month: Month, day: u8) -> OffsetDateTime {
    // Days 1–28 exist in every month, so this cannot fail; fall back to the first of the
    // month rather than panic should that ever change.
    let date = Date::from_calendar_date(year, month, day)
        .or_else(|_| Date::from_calendar_date(year, month, 1))
        .unwrap_or(Date::MIN);
    date.midnight().assume_utc()
}

fn previous_month(year: i32, month: Month) -> (i32, Month) {
    if month == Month::January { (year - 1, Month::December) } else { (year, month.previous()) }
}

fn next_month(year: i32, month: Month) -> (i32, Month) {
    if month == Month::December { (year + 1, Month::January) } else { (year, month.next()) }
}

/// Spend figures read from the ledger, the inputs of [`budget_status`].
#[derive(Debug, Clone, Default)]
pub struct SpendSnapshot {
    /// Spend since the start of the current billing period.
    pub period_spend: Usd,
    /// Spend since 00:00 UTC today.
    pub today_spend: Usd,
    /// Spend per agent since 00:00 UTC today.
    pub agents_today: Vec<(Uuid, Usd)>,
    /// Tokens (input + output) per agent since 00:00 UTC today.
    pub agent_tokens_today: Vec<(Uuid, u64)>,
}

/// The spend an action is judged against by [`BudgetConfig::refusal`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSpend {
    pub period_spend: Usd,
    /// The acting agent's spend since 00:00 UTC today.
    pub agent_today: Usd,
    /// The task's total spend, when the action is for a task.
    pub task_total: Option<Usd>,
    /// The acting agent's tokens (input + output) since 00:00 UTC today.
    pub agent_tokens_today: u64,
}

/// Budget status as reported by `GET /api/v1/budget/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    pub period: BillingPeriod,
    pub days_in_period: i64,
    pub currency: String,
    pub total_monthly: Usd,
    pub period_spend: Usd,
    /// Period spend in percent of `total_monthly`; absent when the budget is 0 (disabled).
    pub used_percent: Option<f64>,
    /// `total_monthly / days_in_period`.
    pub daily_budget: Usd,
    pub today_spend: Usd,
    pub daily_used_percent: Option<f64>,
    pub alert_level: AlertLevel,
    pub per_agent_daily_limit: Usd,
    /// Most tokens per agent per UTC day; 0: no limit.
    pub per_agent_daily_tokens: u64,
    pub agents: Vec<AgentDailySpend>,
    /// The period's spend projected linearly to its end: spend so far ÷ time elapsed (at
    /// least an hour) × the period's length.
    pub forecast_period_spend: Usd,
    /// USD spent per hour over the last hour, from the answering process's samples of the
    /// ledger (one a minute, kept in memory); absent until it has samples to measure over.
    pub burn_rate_1h: Option<f64>,
    /// The same over the last 24 hours (over the samples there are, when fewer).
    pub burn_rate_24h: Option<f64>,
}

/// One agent's spend today against `per_agent_daily_limit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentDailySpend {
    pub agent_id: Uuid,
    pub today_spend: Usd,
    pub used_percent: Option<f64>,
    pub over_limit: bool,
    /// Tokens (input + output) today.
    pub today_tokens: u64,
    /// `today_tokens` in percent of `per_agent_daily_tokens`; absent without that limit.
    pub tokens_used_percent: Option<f64>,
}

/// Computes the budget status at `now` from the spend read from the ledger.
pub fn budget_status(config: &BudgetConfig, now: OffsetDateTime, spend: &SpendSnapshot) -> BudgetStatus {
    let period = BillingPeriod::containing(now, config.reset_day);
    let days = period.days();
    let daily_budget = period.daily_share(config.total_monthly);
    let used_percent = spend.period_spend.percent_of(config.total_monthly);
    let limit = config.per_agent_daily_limit;
    let token_limit = config.per_agent_daily_tokens;
    let tokens: std::collections::BTreeMap<Uuid, u64> = spend.agent_tokens_today.iter().copied().collect();
    let agents = spend
        .agents_today
        .iter()
        .map(|&(agent_id, today_spend)| {
            let today_tokens = tokens.get(&agent_id).copied().unwrap_or(0);
            AgentDailySpend {
                agent_id,
                today_spend,
                used_percent: today_spend.percent_of(limit),
                over_limit: (!limit.is_zero() && today_spend >= limit)
                    || (token_limit > 0 && today_tokens >= token_limit),
                today_tokens,
                tokens_used_percent: (token_limit > 0).then(|| today_tokens as f64 * 100.0 / token_limit as f64),
            }
        })
        .collect();
    BudgetStatus {
        period,
        days_in_period: days,
        currency: config.currency.clone(),
        total_monthly: config.total_monthly,
        period_spend: spend.period_spend,
        used_percent,
        daily_budget,
        today_spend: spend.today_spend,
        daily_used_percent: spend.today_spend.percent_of(daily_budget),
        alert_level: config.alert_level(used_percent),
        per_agent_daily_limit: limit,
        per_agent_daily_tokens: token_limit,
        agents,
        forecast_period_spend: period.forecast(spend.period_spend, now),
        burn_rate_1h: None,
        burn_rate_24h: None,
    }
}

/// One scope's limit and what is left of it, as `GET /api/v1/budget/remaining` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScopeBudget {
    pub scope: Scope,
    /// The spend at which new work is refused: for `monthly` the hard stop
    /// (`total_monthly × alerts.hard_stop / 100`), else the configured limit.
    pub limit: Usd,
    pub spent: Usd,
    /// Held by open reservations, not yet spent.
    pub held: Usd,
    /// `limit − spent − held`, never below 0.
    pub remaining: Usd,
    /// `spent + held` in percent of `limit`.
    pub used_percent: f64,
    /// `used_percent` against the alert thresholds, taken relative to the hard stop: at 100 %
    /// of its limit every scope is at `hard_stop`.
    pub alert_level: AlertLevel,
}

/// An agent's tokens today against `per_agent_daily_tokens` (scope `agent_daily_tokens`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenBudget {
    pub limit: u64,
    pub spent: u64,
    pub held: u64,
    /// `limit − spent − held`, never below 0.
    pub remaining: u64,
    pub used_percent: f64,
    pub alert_level: AlertLevel,
}

/// What an agent (and a task) may still spend: `GET /api/v1/budget/remaining`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetRemaining {
    pub agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub period: BillingPeriod,
    /// The scopes with a limit (a limit of 0 is none) that apply to the agent and task asked
    /// about.
    pub scopes: Vec<ScopeBudget>,
    /// The scope with the least remaining, absent when no limit applies.
    pub tightest: Option<Scope>,
    /// What remains in the tightest scope; absent when no limit applies.
    pub remaining: Option<Usd>,
    /// The most severe alert level of the scopes.
    pub alert_level: AlertLevel,
    /// The agent's token budget today (`per_agent_daily_tokens`), when one is set and an
    /// agent was asked about.
    pub tokens: Option<TokenBudget>,
    /// The period's spend projected linearly to its end (spend so far ÷ time elapsed ×
    /// period length; at least one hour counts as elapsed).
    pub forecast_period_spend: Usd,
}

impl BudgetConfig {
    /// Every limited scope that applies to `spend`'s agent (when `agent`) and task, with what
    /// is left of it at `now`. `held` is what open reservations hold in each scope.
    pub fn remaining(
        &self,
        agent: Option<Uuid>,
        task: Option<Uuid>,
        spend: &ActionSpend,
        held: &ActionSpend,
        now: OffsetDateTime,
    ) -> BudgetRemaining {
        let monthly = self.hard_stop();
        let mut scopes = Vec::new();
        let mut push = |scope: Scope, limit: Usd, spent: Usd, held: Usd| {
            if limit.is_zero() {
                return;
            }
            let committed = spent.checked_add(held).unwrap_or(Usd::from_nanos(i64::MAX));
            let remaining = Usd::from_nanos((limit.nanos() - committed.nanos()).max(0));
            let used_percent = committed.percent_of(limit).unwrap_or(0.0);
            let alert_level = self.alert_level(Some(used_percent * self.alerts.hard_stop / 100.0));
            scopes.push(ScopeBudget { scope, limit, spent, held, remaining, used_percent, alert_level });
        };
        push(Scope::Monthly, monthly, spend.period_spend, held.period_spend);
        if agent.is_some() {
            push(Scope::AgentDaily, self.per_agent_daily_limit, spend.agent_today, held.agent_today);
        }
        if let (Some(_), Some(spent)) = (task, spend.task_total) {
            push(Scope::Task, self.per_task_limit, spent, held.task_total.unwrap_or(Usd::ZERO));
        }
        let tokens = (agent.is_some() && self.per_agent_daily_tokens > 0).then(|| {
            let limit = self.per_agent_daily_tokens;
            let committed = spend.agent_tokens_today.saturating_add(held.agent_tokens_today);
            let used_percent = committed as f64 * 100.0 / limit as f64;
            TokenBudget {
                limit,
                spent: spend.agent_tokens_today,
                held: held.agent_tokens_today,
                remaining: limit.saturating_sub(committed),
                used_percent,
                alert_level: self.alert_level(Some(used_percent * self.alerts.hard_stop / 100.0)),
            }
        });
        let tightest = scopes.iter().min_by_key(|s| s.remaining);
        let period = BillingPeriod::containing(now, self.reset_day);
        BudgetRemaining {
            agent_id: agent,
            task_id: task,
            period,
            tightest: tightest.map(|s| s.scope),
            remaining: tightest.map(|s| s.remaining),
            alert_level: scopes
                .iter()
                .map(|s| s.alert_level)
                .chain(tokens.as_ref().map(|t| t.alert_level))
                .max()
                .unwrap_or(AlertLevel::Normal),
            tokens,
            forecast_period_spend: period.forecast(spend.period_spend, now),
            scopes,
        }
    }
}

/// Where the next-day boundary lies, for callers iterating days.
pub fn next_day(day: OffsetDateTime) -> OffsetDateTime {
    day_start(day) + Duration::days(1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn periods_roll_over_months_and_years() {
        let check = |now: OffsetDateTime, day: u8, start: OffsetDateTime, end: OffsetDateTime| {
            let p = BillingPeriod::containing(now, day);
            assert_eq!((p.start, p.end), (start, end), "{now} reset_day {day}");
        };
        check(datetime!(2026-03-15 12:00 UTC), 1, datetime!(2026-03-01 0:00 UTC), datetime!(2026-04-01 0:00 UTC));
        check(datetime!(2026-03-15 12:00 UTC), 20, datetime!(2026-02-20 0:00 UTC), datetime!(2026-03-20 0:00 UTC));
        check(datetime!(2026-01-05 00:00 UTC), 10, datetime!(2025-12-10 0:00 UTC), datetime!(2026-01-10 0:00 UTC));
        check(datetime!(2026-12-28 00:00 UTC), 28, datetime!(2026-12-28 0:00 UTC), datetime!(2027-01-28 0:00 UTC));
        check(datetime!(2026-12-27 23:59:59 UTC), 28, datetime!(2026-11-28 0:00 UTC), datetime!(2026-12-28 0:00 UTC));
        // Offsets other than UTC are converted first: 01:00 +02:00 on the 1st is still the 31st UTC.
        check(datetime!(2026-04-01 01:00 +2), 1, datetime!(2026-03-01 0:00 UTC), datetime!(2026-04-01 0:00 UTC));
    }

    #[test]
    fn daily_budget_is_prorated_by_period_length() {
        let config = BudgetConfig { total_monthly: Usd::dollars(2800), ..Default::default() };
        let feb = budget_status(&config, datetime!(2026-02-10 10:00 UTC), &SpendSnapshot::default());
        assert_eq!(feb.days_in_period, 28);
        assert_eq!(feb.daily_budget, Usd::dollars(100));
        let mar = budget_status(&config, datetime!(2026-03-10 10:00 UTC), &SpendSnapshot::default());
        assert_eq!(mar.days_in_period, 31);
        assert_eq!(mar.daily_budget.to_string(), "90.322580645");
    }

    /// The status projects the period's spend linearly: 4 of May's 31 days cost 40 USD.
    #[test]
    fn status_forecasts_the_period_linearly() {
        let config = BudgetConfig { total_monthly: Usd::dollars(100), ..Default::default() };
        let s = SpendSnapshot { period_spend: Usd::dollars(40), ..Default::default() };
        let status = budget_status(&config, datetime!(2026-05-05 0:00 UTC), &s);
        assert_eq!(status.forecast_period_spend, Usd::dollars(310));
        assert_eq!((status.burn_rate_1h, status.burn_rate_24h), (None, None), "measured by the server, not here");
    }

    #[test]
    fn alert_levels_follow_thresholds_and_overspend_shows() {
        let config = BudgetConfig { total_monthly: Usd::dollars(100), ..Default::default() };
        let level = |spend: i64| {
            let s = SpendSnapshot { period_spend: Usd::dollars(spend), ..Default::default() };
            let status = budget_status(&config, datetime!(2026-05-05 0:00 UTC), &s);
            (status.alert_level, status.used_percent)
        };
        assert_eq!(level(0), (AlertLevel::Normal, Some(0.0)));
        assert_eq!(level(74).0, AlertLevel::Normal);
        assert_eq!(level(75).0, AlertLevel::Warn);
        assert_eq!(level(90).0, AlertLevel::Critical);
        assert_eq!(level(100).0, AlertLevel::HardStop);
        assert_eq!(level(150), (AlertLevel::HardStop, Some(150.0)));
        let disabled = BudgetConfig::default();
        let s = SpendSnapshot { period_spend: Usd::dollars(5), ..Default::default() };
        let status = budget_status(&disabled, datetime!(2026-05-05 0:00 UTC), &s);
        assert_eq!((status.alert_level, status.used_percent), (AlertLevel::Normal, None));
    }

    #[test]
    fn validation_reports_every_problem() {
        let config = BudgetConfig {
            total_monthly: Usd::dollars(-1),
            reset_day: 29,
            alerts: AlertThresholds { warn: 90.0, critical: 90.0, hard_stop: 100.0 },
            currency: String::new(),
            ..Default::default()
        };
        let fields: Vec<_> = config.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["total_monthly", "reset_day", "alerts", "currency"]);
        assert!(BudgetConfig { reset_day: 0, ..Default::default() }.validate()[0].message.contains("got 0"));
        assert!(BudgetConfig::default().validate().is_empty());
    }

    #[test]
    fn remaining_is_per_scope_with_holds_and_a_forecast() {
        let usd = |s: &str| Usd::parse(s).unwrap();
        let agent = Some(Uuid::now_v7());
        let task = Some(Uuid::now_v7());
        let now = datetime!(2026-03-04 12:00 UTC); // 3.5 days into a 31-day period
        let spend = ActionSpend {
            period_spend: usd("35"),
            agent_today: usd("4"),
            task_total: Some(usd("1")),
            ..ActionSpend::default()
        };
        let none = BudgetConfig::default().remaining(agent, task, &spend, &ActionSpend::default(), now);
        assert!(none.scopes.is_empty() && none.tightest.is_none() && none.remaining.is_none());
        assert_eq!((none.alert_level, none.forecast_period_spend), (AlertLevel::Normal, usd("310")));

        let config = BudgetConfig {
            total_monthly: usd("100"),
            per_agent_daily_limit: usd("5"),
            per_task_limit: usd("10"),
            alerts: AlertThresholds { warn: 50.0, critical: 75.0, hard_stop: 110.0 },
            ..BudgetConfig::default()
        };
        let held = ActionSpend {
            period_spend: usd("0.5"),
            agent_today: usd("0.5"),
            task_total: Some(usd("0.5")),
            ..ActionSpend::default()
        };
        let r = config.remaining(agent, task, &spend, &held, now);
        let of = |scope| r.scopes.iter().find(|s| s.scope == scope).unwrap();
        assert_eq!((of(Scope::Monthly).limit, of(Scope::Monthly).remaining), (usd("110"), usd("74.5")));
        assert_eq!((of(Scope::AgentDaily).remaining, of(Scope::AgentDaily).used_percent), (usd("0.5"), 90.0));
        // 90 % of its limit is 99 % of a 110 % hard stop: critical (75), not yet hard stop.
        assert_eq!(of(Scope::AgentDaily).alert_level, AlertLevel::Critical);
        assert_eq!(of(Scope::Task).remaining, usd("8.5"));
        assert_eq!(
            (r.tightest, r.remaining, r.alert_level),
            (Some(Scope::AgentDaily), Some(usd("0.5")), AlertLevel::Critical)
        );
        // Overspent scopes show 0 remaining and hard stop; without an agent or task only the month.
        let over = ActionSpend { agent_today: usd("6"), ..spend };
        let r = config.remaining(agent, None, &over, &ActionSpend::default(), now);
        assert_eq!((r.remaining, r.alert_level, r.scopes.len()), (Some(Usd::ZERO), AlertLevel::HardStop, 2));
        assert_eq!(config.remaining(None, None, &spend, &held, now).scopes.len(), 1);
        // The first hour of a period counts as one hour: no division by a few seconds.
        let early = config.remaining(None, None, &spend, &held, datetime!(2026-03-01 0:00:01 UTC));
        assert_eq!(early.forecast_period_spend, usd("26040"));
    }

    #[test]
    fn burn_rates_come_from_the_sampled_history() {
        let usd = |s: &str| Usd::parse(s).unwrap();
        let t0 = datetime!(2026-03-10 00:00 UTC);
        let mut h = SpendHistory::default();
        assert_eq!(h.rate(t0, usd("5"), Duration::HOUR), None);
        // $1 a minute for two hours; samples closer than a minute are not kept.
        for minute in 0..=120 {
            h.record(t0 + Duration::minutes(minute), Usd::dollars(minute));
            h.record(t0 + Duration::minutes(minute) + Duration::seconds(30), Usd::dollars(1000));
        }
        let now = t0 + Duration::minutes(120);
        assert_eq!(h.rate(now, Usd::dollars(120), Duration::HOUR), Some(60.0));
        // The 24 h window covers the two hours there are.
        assert_eq!(h.rate(now, Usd::dollars(120), Duration::hours(24)), Some(60.0));
        // Less than five minutes of history: no rate.
        let mut short = SpendHistory::default();
        short.record(t0, Usd::ZERO);
        assert_eq!(short.rate(t0 + Duration::minutes(4), Usd::dollars(4), Duration::HOUR), None);
        // Samples older than 25 h are dropped.
        h.record(t0 + Duration::hours(30), Usd::dollars(121));
        assert_eq!(h.samples.len(), 1);
    }

    #[test]
    fn the_outlook_extrapolates_to_the_hard_stop_within_the_period() {
        let usd = |s: &str| Usd::parse(s).unwrap();
        let config = BudgetConfig { total_monthly: usd("100"), ..BudgetConfig::default() };
        let now = datetime!(2026-03-11 00:00 UTC); // 10 of 31 days gone
        let o = config.outlook(now, usd("40"), usd("10"), Some(2.5));
        assert_eq!(o.forecast_period_spend, usd("124"));
        // 50 left at 2.5 an hour: 20 hours.
        assert_eq!(o.exhaustion_seconds, Some(72_000.0));
        assert_eq!(o.period_remaining_seconds, 21.0 * 86_400.0);
        assert_eq!(config.outlook(now, usd("95"), usd("5"), None).exhaustion_seconds, Some(0.0));
        assert_eq!(config.outlook(now, usd("40"), Usd::ZERO, Some(0.0)).exhaustion_seconds, None);
        assert_eq!(BudgetConfig::default().outlook(now, usd("40"), Usd::ZERO, Some(2.0)).exhaustion_seconds, None);
    }

    #[test]
    fn refusals_name_the_limit_reached() {
        let config = BudgetConfig {
            total_monthly: Usd::dollars(100),
            per_agent_daily_limit: Usd::dollars(10),
            per_task_limit: Usd::dollars(5),
            ..Default::default()
        };
        let spend = |period: i64, agent: i64, task: Option<i64>| ActionSpend {
            period_spend: Usd::dollars(period),
            agent_today: Usd::dollars(agent),
            task_total: task.map(Usd::dollars),
            ..ActionSpend::default()
        };
        let none = ActionSpend::default();
        assert_eq!(config.refusal(&spend(99, 9, Some(4)), &none), None);
        assert!(config.refusal(&spend(100, 0, None), &none).unwrap().message().starts_with("budget hard stop"));
        assert!(config.refusal(&spend(0, 10, None), &none).unwrap().message().starts_with("agent daily limit"));
        assert!(config.refusal(&spend(0, 0, Some(5)), &none).unwrap().message().starts_with("task limit"));
        // Holds count like spend: 99 spent and 1 held is the hard stop.
        let held = ActionSpend { period_spend: Usd::dollars(1), ..ActionSpend::default() };
        assert!(config.refusal(&spend(99, 0, None), &held).unwrap().message().starts_with("budget hard stop"));
        assert_eq!(
            BudgetConfig::default().refusal(&spend(1_000_000, 1_000_000, Some(1_000_000)), &none),
            None,
            "0 disables"
        );
        let tokens = BudgetConfig { per_agent_daily_tokens: 1000, ..BudgetConfig::default() };
        let used = ActionSpend { agent_tokens_today: 1000, ..ActionSpend::default() };
        let refused = tokens.refusal(&used, &none).unwrap().message();
        assert!(refused.starts_with("agent daily token limit reached: 1000 tokens spent"), "{refused}");
    }

    #[test]
    fn admission_fits_a_hold_in_every_scope_or_names_the_first_it_does_not_fit() {
        let usd = |s: &str| Usd::parse(s).unwrap();
        let config = BudgetConfig {
            total_monthly: usd("5"),
            per_agent_daily_limit: usd("2"),
            per_agent_daily_tokens: 10_000,
            ..BudgetConfig::default()
        };
        let spend = ActionSpend { period_spend: usd("3"), agent_today: usd("1"), ..ActionSpend::default() };
        let held = ActionSpend { period_spend: usd("1"), agent_today: usd("0.5"), ..ActionSpend::default() };
        // Exactly the room left fits; a nanodollar more does not.
        assert_eq!(config.admit(&spend, &held, usd("0.5"), 0), Ok(()));
        let e = config.admit(&spend, &held, usd("0.500000001"), 0).unwrap_err();
        assert_eq!((e.scope, e.unit, e.remaining), (Scope::AgentDaily, Unit::Usd, Quantity::Usd(usd("0.5"))));
        assert_eq!(e.requested, Quantity::Usd(usd("0.500000001")));
        let month = ActionSpend { agent_today: Usd::ZERO, ..spend };
        let e = config.admit(&month, &held, usd("1.5"), 0).unwrap_err();
        assert_eq!((e.scope, e.remaining, e.held), (Scope::Monthly, Quantity::Usd(usd("1")), Quantity::Usd(usd("1"))));
        assert!(e.message().starts_with("budget hard stop: 3 USD spent and 1 USD held of 5 USD"), "{}", e.message());
        // Tokens are their own scope.
        let e = config.admit(&ActionSpend::default(), &ActionSpend::default(), Usd::ZERO, 10_001).unwrap_err();
        assert_eq!((e.scope, e.unit, e.remaining), (Scope::AgentDailyTokens, Unit::Tokens, Quantity::Tokens(10_000)));
        assert_eq!(serde_json::to_value(&e).unwrap()["remaining"], serde_json::json!(10_000));
        // A scope at its limit refuses even a zero hold.
        let full = ActionSpend { period_spend: usd("5"), ..ActionSpend::default() };
        assert_eq!(config.admit(&full, &ActionSpend::default(), Usd::ZERO, 0).unwrap_err().scope, Scope::Monthly);
    }

    proptest! {
        #[test]
        fn every_instant_lies_in_exactly_one_period(secs in 946_684_800i64..4_102_444_800, day in 1u8..=28) {
            let now = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let p = BillingPeriod::containing(now, day);
            prop_assert!(p.start <= now && now < p.end);
            prop_assert_eq!(p.start.day(), day);
            prop_assert_eq!(p.start.time(), Time::MIDNIGHT);
            prop_assert!((28..=31).contains(&p.days()));
            // Periods tile time: the next one starts where this one ends.
            prop_assert_eq!(BillingPeriod::containing(p.end, day).start, p.end);
            prop_assert_eq!(BillingPeriod::containing(p.start - Duration::nanoseconds(1), day).end, p.start);
        }

        #[test]
        fn daily_budgets_never_exceed_the_month(total in 0i64..10_000_000_000_000, secs in 946_684_800i64..4_102_444_800, day in 1u8..=28) {
            let config = BudgetConfig { total_monthly: Usd::from_nanos(total), reset_day: day, ..Default::default() };
            let now = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let s = budget_status(&config, now, &SpendSnapshot::default());
            let month = s.daily_budget.nanos() * s.days_in_period;
            prop_assert!(month <= total && total - month < s.days_in_period);
        }
    }
}
