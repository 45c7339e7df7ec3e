//! The price catalogue: what a model call costs, computed by synthorg itself.
//!
//! A catalogue maps (provider, model) to exact USD prices per million tokens for five token
//! classes. `cache_read_input` and `cache_write_input` are parts of `input_tokens`, and
//! `reasoning_output` is a part of `output_tokens` (the OpenTelemetry GenAI convention), so
//! a call's cost is
//!
//! ```text
//! (input − cache_read − cache_write) × input + cache_read × cache_read_input
//!   + cache_write × cache_write_input + (output − reasoning) × output + reasoning × reasoning_output
//! ```
//!
//! all divided by one million, computed in exact decimals and rounded **once**, to the
//! nanodollar (half away from zero). A tier replaces the prices of the whole call when its
//! input tokens exceed the tier's threshold (long-context pricing).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cost::MAX_TOKENS;
use crate::money::{MoneyError, SCALE, serialize_exact};
use crate::text::check_len;
use crate::{FieldError, Usd, string_enum};

mod litellm;

/// The built-in catalogue's source text.
const BUILTIN: &str = include_str!("price/builtin.yaml");

/// Highest price a catalogue may hold, USD per million tokens.
const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Most decimal places a price may have (a LiteLLM per-token price of 1e-10 USD is 0.0001
/// per million).
const PRICE_SCALE: u32 = 12;

string_enum! {
    /// A class of tokens, as priced and as counted in metrics.
    pub enum TokenType {
        /// Every input token of a call (cached ones included).
        Input => "input",
        /// Every output token of a call (reasoning included).
        Output => "output",
        /// The part of the input read from a prompt cache.
        CacheReadInput => "cache_read_input",
        /// The part of the input written to a prompt cache.
        CacheWriteInput => "cache_write_input",
        /// The part of the output spent reasoning.
        ReasoningOutput => "reasoning_output",
    }
}

/// The tokens of one model call, by class. The cache classes are parts of `input`, the
/// reasoning class a part of `output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read_input: u64,
    pub cache_write_input: u64,
    pub reasoning_output: u64,
}

impl Usage {
    /// The count of one class.
    pub fn of(&self, class: TokenType) -> u64 {
        match class {
            TokenType::Input => self.input,
            TokenType::Output => self.output,
            TokenType::CacheReadInput => self.cache_read_input,
            TokenType::CacheWriteInput => self.cache_write_input,
            TokenType::ReasoningOutput => self.reasoning_output,
        }
    }

    /// The counts of both, class by class (saturating: a sum of totals, never of one call).
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            cache_read_input: self.cache_read_input.saturating_add(other.cache_read_input),
            cache_write_input: self.cache_write_input.saturating_add(other.cache_write_input),
            reasoning_output: self.reasoning_output.saturating_add(other.reasoning_output),
        }
    }

    /// Every problem with the counts, named by the cost report's fields.
    pub fn check(&self, errors: &mut Vec<FieldError>) {
        for class in TokenType::ALL {
            if self.of(*class) > MAX_TOKENS {
                errors.push(FieldError::new(field_of(*class), format!("must be at most {MAX_TOKENS}")));
            }
        }
        if self.cache_read_input.saturating_add(self.cache_write_input) > self.input {
            let field =
                if self.cache_read_input > self.input { "cache_read_input_tokens" } else { "cache_write_input_tokens" };
            errors.push(FieldError::new(
                field,
                "cache_read_input_tokens + cache_write_input_tokens must not exceed input_tokens (they are parts of it)",
            ));
        }
        if self.reasoning_output > self.output {
            errors.push(FieldError::new(
                "reasoning_output_tokens",
                "must not exceed output_tokens (reasoning tokens are part of the output)",
            ));
        }
    }
}

/// The cost report field that carries a class.
pub fn field_of(class: TokenType) -> &'static str {
    match class {
        TokenType::Input => "input_tokens",
        TokenType::Output => "output_tokens",
        TokenType::CacheReadInput => "cache_read_input_tokens",
        TokenType::CacheWriteInput => "cache_write_input_tokens",
        TokenType::ReasoningOutput => "reasoning_output_tokens",
    }
}

/// Why a price was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("{0:?} is not a decimal number")]
    NotDecimal(String),
    #[error("must not be negative")]
    Negative,
    #[error("must be at most {MAX_PRICE} USD per million tokens")]
    TooLarge,
    #[error("must have at most {PRICE_SCALE} decimal places")]
    TooPrecise,
}

/// An exact price in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PerMillion(Decimal);

impl PerMillion {
    /// A price from its decimal text (`3`, `0.075`, `1.5e-1`); refuses negative, larger than
    /// 1,000,000 or more precise than 12 decimal places.
    pub fn parse(text: &str) -> Result<Self, PriceError> {
        Self::new(decimal(text)?)
    }

    pub fn new(value: Decimal) -> Result<Self, PriceError> {
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(PriceError::Negative);
        }
        if value > MAX_PRICE {
            return Err(PriceError::TooLarge);
        }
        if value.scale() > PRICE_SCALE {
            return Err(PriceError::TooPrecise);
        }
        Ok(Self(value.abs()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for PerMillion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A JSON number whose text is the exact decimal, like [`Usd`].
impl Serialize for PerMillion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_exact(&self.to_string(), serializer)
    }
}

/// A number or a decimal string. Price files are YAML as often as JSON, so a number arrives
/// as the nearest `f64`, whose shortest round-trip text is the literal written for every
/// price of at most 15 significant digits.
impl<'de> Deserialize<'de> for PerMillion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;
        impl Visitor<'_> for PriceVisitor {
            type Value = PerMillion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price in USD per million tokens")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PerMillion, E> {
                PerMillion::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PerMillion, E> {
                if !v.is_finite() {
                    return Err(E::custom(MoneyError::NotANumber));
                }
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PerMillion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PerMillion, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(PriceVisitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for PerMillion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .description(Some("Exact price in USD per million tokens"))
            .examples([serde_json::json!(0.3)])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for PerMillion {}

/// The prices above an input-token threshold; a class left out keeps the base price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The tier prices a whole call whose input tokens exceed this.
    pub above_input_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_output: Option<PerMillion>,
}

/// The prices of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub provider: String,
    /// Matched exactly; a dated snapshot (`-20250929`, `-2025-08-07`, `@20250929`) not listed
    /// itself falls back to this name.
    pub model: String,
    /// Other exact names of the same model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub input: PerMillion,
    pub output: PerMillion,
    /// Absent: priced as `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input: Option<PerMillion>,
    /// Absent: priced as `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input: Option<PerMillion>,
    /// Absent: priced as `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_output: Option<PerMillion>,
    /// Long-context prices, by increasing threshold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    /// Where the figures come from (a public price page, or the file they were loaded from).
    pub source: String,
}

/// The five prices that apply to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rates {
    input: Decimal,
    output: Decimal,
    cache_read_input: Decimal,
    cache_write_input: Decimal,
    reasoning_output: Decimal,
}

/// Why a cost could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the computed cost exceeds the largest amount a record may carry")]
pub struct CostOverflow;

impl ModelPrice {
    /// The prices for a call with `input_tokens` input tokens: the highest tier it exceeds,
    /// each class it leaves out taken from the base entry, then the class defaults.
    fn rates(&self, input_tokens: u64) -> Rates {
        let tier =
            self.tiers.iter().filter(|t| input_tokens > t.above_input_tokens).max_by_key(|t| t.above_input_tokens);
        let pick = |tiered: Option<PerMillion>, base: Option<PerMillion>| tiered.or(base).map(PerMillion::value);
        let input = pick(tier.and_then(|t| t.input), Some(self.input)).unwrap_or_default();
        let output = pick(tier.and_then(|t| t.output), Some(self.output)).unwrap_or_default();
        Rates {
            input,
            output,
            cache_read_input: pick(tier.and_then(|t| t.cache_read_input), self.cache_read_input).unwrap_or(input),
            cache_write_input: pick(tier.and_then(|t| t.cache_write_input), self.cache_write_input).unwrap_or(input),
            reasoning_output: pick(tier.and_then(|t| t.reasoning_output), self.reasoning_output).unwrap_or(output),
        }
    }

    /// The exact cost of a call, rounded once to the nanodollar. `usage` must be valid
    /// ([`Usage::check`]): the parts never exceed their wholes.
    pub fn cost(&self, usage: &Usage) -> Result<Usd, CostOverflow> {
        let r = self.rates(usage.input);
        let plain_input = usage.input.saturating_sub(usage.cache_read_input).saturating_sub(usage.cache_write_input);
        let plain_output = usage.output.saturating_sub(usage.reasoning_output);
        let mut sum = Decimal::ZERO;
        for (tokens, rate) in [
            (plain_input, r.input),
            (usage.cache_read_input, r.cache_read_input),
            (usage.cache_write_input, r.cache_write_input),
            (plain_output, r.output),
            (usage.reasoning_output, r.reasoning_output),
        ] {
            let part = Decimal::from(tokens).checked_mul(rate).ok_or(CostOverflow)?;
            sum = sum.checked_add(part).ok_or(CostOverflow)?;
        }
        let usd = sum
            .checked_div(Decimal::from(1_000_000))
            .ok_or(CostOverflow)?
            .round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero);
        Usd::from_decimal(usd).map_err(|_| CostOverflow)
    }

    /// The most a call of at most `max_input` input and `max_output` output tokens can cost:
    /// the largest of the call with plain tokens, with every input token written to a cache
    /// (some providers charge more for that), with every output token spent reasoning, and
    /// with both. Cost rises with every count, so these corners bound every split.
    pub fn worst_case(&self, max_input: u64, max_output: u64) -> Result<Usd, CostOverflow> {
        let mut worst = Usd::ZERO;
        for (cache_write_input, reasoning_output) in [(0, 0), (max_input, 0), (0, max_output), (max_input, max_output)]
        {
            let usage =
                Usage { input: max_input, output: max_output, cache_write_input, reasoning_output, ..Usage::default() };
            worst = worst.max(self.cost(&usage)?);
        }
        Ok(worst)
    }

    fn check(&self, errors: &mut Vec<FieldError>) {
        check_len(errors, "provider", &self.provider, 1, 128);
        check_len(errors, "model", &self.model, 1, 128);
        check_len(errors, "source", &self.source, 1, 1024);
        for (i, alias) in self.aliases.iter().enumerate() {
            check_len(errors, &format!("aliases[{i}]"), alias, 1, 128);
        }
        let mut previous = None;
        for (i, tier) in self.tiers.iter().enumerate() {
            if previous.is_some_and(|p| tier.above_input_tokens <= p) {
                errors.push(FieldError::new(
                    format!("tiers[{i}].above_input_tokens"),
                    "must be greater than the previous tier's",
                ));
            }
            previous = Some(tier.above_input_tokens);
        }
    }
}

/// A catalogue as written in synthorg's YAML format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    /// The date the figures were read, `YYYY-MM-DD`.
    version: String,
    #[serde(default)]
    provider_aliases: BTreeMap<String, String>,
    models: Vec<ModelPrice>,
}

/// Why a price file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("not a price catalogue: {0}")]
    Syntax(String),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// The prices in force, with the version recorded on every computed cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Catalogue {
    /// The built-in catalogue's date, or `builtin+file` when a file extends it.
    version: String,
    /// Provider names clients may use for a provider listed here.
    provider_aliases: BTreeMap<String, String>,
    models: Vec<ModelPrice>,
    /// provider → exact model name or alias → index into `models` (looked up without
    /// allocating: a cost report pays two hash lookups).
    #[serde(skip)]
    index: HashMap<String, HashMap<String, usize>>,
}

/// `model` without a dated snapshot suffix (`-20250929`, `-2025-09-29`, or Vertex's
/// `@20250929`), when it has one.
fn snapshot_family(model: &str) -> Option<&str> {
    // Byte patterns: `#` a digit, anything else itself.
    for pattern in [&b"-########"[..], b"@########", b"-####-##-##"] {
        let Some(split) = model.len().checked_sub(pattern.len()).filter(|s| *s > 0) else { continue };
        let suffix = &model.as_bytes()[split..];
        let matches = pattern.iter().zip(suffix).all(|(p, b)| if *p == b'#' { b.is_ascii_digit() } else { p == b });
        // An ASCII suffix starts on a character boundary, so the slice cannot panic.
        if matches && model.is_char_boundary(split) {
            return Some(&model[..split]);
        }
    }
    None
}
static DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}$").expect("valid regex"));

impl Catalogue {
    /// The catalogue that ships in the binary.
    pub fn builtin() -> Catalogue {
        Self::from_yaml(BUILTIN).expect("the built-in catalogue is valid (tested)")
    }

    /// A catalogue without prices: every report without `cost` is unpriced.
    pub fn empty() -> Catalogue {
        Catalogue::new(String::from("none"), BTreeMap::new(), Vec::new()).expect("an empty catalogue is valid")
    }

    /// Parses and checks synthorg's YAML format (every problem reported, with its path).
    pub fn from_yaml(text: &str) -> Result<Catalogue, CatalogueError> {
        // The parser's message ends in a multi-line excerpt; its first line has the position.
        let file: CatalogueFile = serde_saphyr::from_str(text).map_err(|e| {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            CatalogueError::Syntax(first.strip_prefix("error: ").unwrap_or(first).to_owned())
        })?;
        let mut errors = Vec::new();
        if !DATE.is_match(&file.version) {
            errors.push(FieldError::new("version", "must be the date the prices were read, YYYY-MM-DD"));
        }
        for (i, model) in file.models.iter().enumerate() {
            let mut own = Vec::new();
            model.check(&mut own);
            errors.extend(own.into_iter().map(|e| e.within(&format!("models[{i}]"))));
        }
        checked(errors)?;
        Catalogue::new(file.version, file.provider_aliases, file.models)
    }

    /// Parses LiteLLM's `model_prices_and_context_window.json` shape; see [`litellm`].
    /// `version` names the file (e.g. a hash of its content). Returns the catalogue and how
    /// many entries carried no token prices and were skipped.
    pub fn from_litellm_json(text: &str, version: String, source: &str) -> Result<(Catalogue, usize), CatalogueError> {
        let (models, skipped) = litellm::parse(text, source)?;
        Ok((Catalogue::new(version, BTreeMap::new(), models)?, skipped))
    }

    fn new(
        version: String,
        provider_aliases: BTreeMap<String, String>,
        models: Vec<ModelPrice>,
    ) -> Result<Catalogue, CatalogueError> {
        let mut errors = Vec::new();
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, model) in models.iter().enumerate() {
            for (j, name) in std::iter::once(&model.model).chain(&model.aliases).enumerate() {
                let field =
                    if j == 0 { format!("models[{i}].model") } else { format!("models[{i}].aliases[{}]", j - 1) };
                if let Some(other) = index.entry(model.provider.clone()).or_default().insert(name.clone(), i)
                    && other != i
                {
                    errors.push(FieldError::new(
                        field,
                        format!("{}/{name} is already priced by models[{other}]", model.provider),
                    ));
                }
            }
        }
        for (from, to) in &provider_aliases {
            if from.is_empty() || to.is_empty() || from == to {
                errors.push(FieldError::new(format!("provider_aliases.{from}"), "must map a name to another name"));
            }
        }
        checked(errors)?;
        Ok(Catalogue { version, provider_aliases, models, index })
    }

    /// `self` with `other`'s entries added; an entry of `other` replaces the entry of `self`
    /// for the same provider and model (and takes over its aliases' names).
    pub fn extended_by(self, other: Catalogue) -> Catalogue {
        // A name `other` prices (as a model or an alias) leaves `self`: an entry whose model
        // it prices is replaced, an alias it prices is dropped.
        let taken =
            |provider: &str, name: &str| other.index.get(provider).is_some_and(|names| names.contains_key(name));
        let mut models: Vec<ModelPrice> = self
            .models
            .into_iter()
            .filter(|m| !taken(&m.provider, &m.model))
            .map(|mut m| {
                m.aliases.retain(|a| !taken(&m.provider, a));
                m
            })
            .collect();
        models.extend(other.models);
        let mut provider_aliases = self.provider_aliases;
        provider_aliases.extend(other.provider_aliases);
        let version = format!("{}+{}", self.version, other.version);
        Catalogue::new(version, provider_aliases, models).expect("names were made unique above")
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    pub fn provider_aliases(&self) -> &BTreeMap<String, String> {
        &self.provider_aliases
    }

    /// The entry that prices `model` of `provider`: the exact name or an alias first, then
    /// the name without a dated snapshot suffix; the provider as given first, then the
    /// provider it is an alias of.
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        let providers = std::iter::once(provider).chain(self.provider_aliases.get(provider).map(String::as_str));
        let mut family = None;
        for names in providers.filter_map(|p| self.index.get(p)) {
            if let Some(i) = names.get(model) {
                return Some(&self.models[*i]);
            }
            // The snapshot pattern runs only when the exact name is unknown.
            let family = *family.get_or_insert_with(|| snapshot_family(model));
            if let Some(i) = family.and_then(|f| names.get(f)) {
                return Some(&self.models[*i]);
            }
        }
        None
    }

    /// A filtered copy for listing.
    pub fn filtered(&self, provider: Option<&str>, model: Option<&str>) -> Catalogue {
        let models = self
            .models
            .iter()
            .filter(|m| provider.is_none_or(|p| m.provider == p))
            .filter(|m| model.is_none_or(|n| m.model == n || m.aliases.iter().any(|a| a == n)))
            .cloned()
            .collect();
        Catalogue::new(self.version.clone(), self.provider_aliases.clone(), models).expect("a subset stays valid")
    }
}

/// `Ok` when no problem was found.
fn checked(errors: Vec<FieldError>) -> Result<(), CatalogueError> {
    if errors.is_empty() { Ok(()) } else { Err(CatalogueError::Invalid(errors)) }
}

/// Does a reported cost disagree with the computed one by more than 1 % of the computed?
/// Any reported amount disagrees with a computed zero.
pub fn disagrees(reported: Usd, computed: Usd) -> bool {
    let diff = (i128::from(reported.nanos()) - i128::from(computed.nanos())).abs();
    diff * 100 > i128::from(computed.nanos())
}

#[cfg(test)]
mod tests;

/// A decimal from its text: plain (`0.075`) or scientific (`1.5e-1`), exactly.
pub(crate) fn decimal(text: &str) -> Result<Decimal, PriceError> {
    let text = text.trim();
    if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str_exact(text) }
        .map_err(|_| PriceError::NotDecimal(text.to_owned()))
}
