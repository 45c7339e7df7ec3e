//! Exact amounts of US dollars.
//!
//! Amounts are fixed-point integers of nanodollars (10⁻⁹ USD). Sums are integer additions,
//! so a million records of 0.000001 add up to exactly 1, in Rust and in SQL alike.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places an amount can carry.
pub const SCALE: u32 = 9;
const NANOS_PER_USD: i64 = 1_000_000_000;

/// A non-negative or negative exact amount in USD (negative only as a difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(i64);

/// Why a text is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotANumber,
    #[error("has more than {SCALE} decimal places")]
    TooPrecise,
    #[error("is too large")]
    TooLarge,
    #[error("must not be negative")]
    Negative,
}

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Usd(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Whole dollars, for defaults and tests.
    pub const fn dollars(d: i64) -> Self {
        Usd(d * NANOS_PER_USD)
    }

    /// Parses a decimal such as `0.000001`, `12`, `1.5e-3`. Refuses anything that would need
    /// rounding: an amount is either stored exactly or rejected.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let value =
            if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str_exact(text) }
                .map_err(|e| match e {
                    rust_decimal::Error::Underflow => MoneyError::TooPrecise,
                    rust_decimal::Error::ExceedsMaximumPossibleValue
                    | rust_decimal::Error::LessThanMinimumPossibleValue => MoneyError::TooLarge,
                    _ => MoneyError::NotANumber,
                })?;
        Self::from_decimal(value)
    }

    /// Converts an exact decimal, refusing more than nine decimal places.
    /// Parses a plain decimal, the form a string amount takes on the wire, spelled like a JSON
    /// number without exponent: an optional `-`, `0` or digits not starting with `0`, and
    /// optionally a point with one to nine digits after it. No `+`, white space, exponent or
    /// leading zero, so that the OpenAPI pattern describes the accepted strings exactly.
    pub fn parse_plain(text: &str) -> Result<Self, MoneyError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(fraction) || (whole.len() > 1 && whole.starts_with('0')) {
            return Err(MoneyError::NotANumber);
        }
        if digits.len() - whole.len() > SCALE as usize + 1 {
            return Err(MoneyError::TooPrecise);
        }
        Self::parse(text)
    }

    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        let value = value.normalize();
        if value.scale() > SCALE {
            return Err(MoneyError::TooPrecise);
        }
        let nanos = value.checked_mul(Decimal::from(NANOS_PER_USD)).ok_or(MoneyError::TooLarge)?;
        i64::try_from(nanos).map(Usd).map_err(|_| MoneyError::TooLarge)
    }

    /// The exact decimal value.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE).normalize()
    }

    /// The value as a float, for metric gauges only (never for sums).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    pub fn checked_add(self, other: Usd) -> Option<Usd> {
        self.0.checked_add(other.0).map(Usd)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self / whole × 100`, or `None` when `whole` is zero.
    pub fn percent_of(self, whole: Usd) -> Option<f64> {
        if whole.0 == 0 {
            return None;
        }
        // One rounding (the division) instead of two: 0.0081 of 500 is 0.00162, not 0.0016200000000000001.
        Some((i128::from(self.0) * 100) as f64 / whole.0 as f64)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_decimal(), f)
    }
}

impl FromStr for Usd {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Usd::parse(s)
    }
}

impl std::iter::Sum for Usd {
    /// Panics on overflow of ±9.2 billion USD; callers summing untrusted data use
    /// [`Usd::checked_add`].
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, |a, b| Usd(a.0.checked_add(b.0).expect("USD sum overflow")))
    }
}

/// Serialized as a JSON number whose text is the exact decimal (`0.000001`, not a float
/// approximation), so clients parsing it as a decimal get the stored value.
impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_exact(&self.to_string(), serializer)
    }
}

/// Accepts a JSON number or a decimal string, parsed **from its JSON text**: `0.1` is exactly
/// 0.1, and a literal with more than nine decimal places is refused whether written as a
/// number or as a string (no detour through `f64`, which would round
/// `0.1000000000000000055` to an acceptable `0.1`). Works with serde_json's deserializers
/// (the API's bodies, the stored budget) and its `Value` (the configuration tree, where YAML
/// numbers already are `f64`s).
impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        let parsed = match text.as_bytes().first() {
            Some(b'"') => {
                let string = serde_json::from_str::<String>(text).map_err(de::Error::custom)?;
                return Usd::parse_plain(&string).map_err(|e| match e {
                    MoneyError::NotANumber => de::Error::custom(
                        "a string amount must be a plain decimal such as \"0.0048\" (digits and one point; \
                         no exponent, sign + or spaces)",
                    ),
                    other => de::Error::custom(other),
                });
            }
            Some(b'-' | b'0'..=b'9') => Usd::parse(text),
            _ => return Err(de::Error::custom("expected a decimal amount of USD (a number or a decimal string)")),
        };
        parsed.map_err(de::Error::custom)
    }
}

/// Writes `decimal` (an exact decimal's text) as a JSON number with exactly that text.
pub(crate) fn serialize_exact<S: Serializer>(decimal: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(decimal.to_owned()).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

/// In OpenAPI an amount is a JSON number (its text is the exact decimal); strings are
/// accepted on input too.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Usd {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some("Exact amount in USD with at most 9 decimal places"))
            .examples([serde_json::json!(0.002341)])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Usd {}

/// The schema of an amount a client sends, from 0 to `max` whole dollars: a JSON number, or a
/// plain decimal string ([`Usd::parse_plain`]), at most nine decimal places either way.
#[cfg(feature = "openapi")]
fn amount_schema(max: u32, what: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let number = ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(0))
        .maximum(Some(max))
        .multiple_of(Some(0.000_000_001));
    let string = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^((0|[1-9][0-9]{{0,{}}})(\\.[0-9]{{1,9}})?|{max}(\\.0{{1,9}})?)$", max.ilog10() - 1)));
    AnyOfBuilder::new()
        .item(number)
        .item(string)
        .description(Some(format!(
            "{what}: exact USD from 0 to {max}, at most 9 decimal places; a JSON number (read from its text, \
             never through a float) or a decimal string such as \"0.000125\""
        )))
        .into()
}

/// Declares a document-only type whose schema is [`amount_schema`] with these bounds.
macro_rules! amount_type {
    ($(#[$meta:meta])* $name:ident, $max:expr, $what:expr) => {
        $(#[$meta])*
        #[cfg(feature = "openapi")]
        #[derive(Debug)]
        pub struct $name;

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                amount_schema($max, $what)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

amount_type!(
    /// A reported call's cost, in the document: see [`crate::cost::MAX_RECORD_COST`].
    CostAmount, 1_000_000, "The call's cost"
);
amount_type!(
    /// A budget limit, in the document: see [`crate::budget::MAX_BUDGET_AMOUNT`].
    BudgetAmount, 1_000_000_000, "A budget amount; 0 means no limit"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_micro_dollars_sum_to_exactly_one() {
        let micro = Usd::parse("0.000001").unwrap();
        let total: Usd = std::iter::repeat_n(micro, 1_000_000).sum();
        assert_eq!(total, Usd::parse("1").unwrap());
        assert_eq!(total.to_string(), "1");
    }

    #[test]
    fn a_string_amount_that_is_not_plain_says_what_is_expected() {
        for text in [r#""1e3""#, r#"" 1""#, r#""+1""#] {
            let e = serde_json::from_str::<Usd>(text).unwrap_err().to_string();
            assert!(e.contains("plain decimal such as"), "{text}: {e}");
        }
        let e = serde_json::from_str::<Usd>(r#""0.0000000001""#).unwrap_err().to_string();
        assert!(e.contains("more than 9 decimal places"), "{e}");
        assert_eq!(serde_json::from_str::<Usd>("1e3").unwrap(), Usd::dollars(1000), "a number may have an exponent");
    }

    #[test]
    fn plain_strings_are_json_numbers_without_exponent() {
        for (text, nanos) in
            [("0", 0), ("12.5", 12_500_000_000), ("-0.000000001", -1), ("1000000.000000000", 1_000_000_000_000_000)]
        {
            assert_eq!(Usd::parse_plain(text).map(Usd::nanos), Ok(nanos), "{text}");
        }
        for (text, error) in [
            ("", MoneyError::NotANumber),
            ("007", MoneyError::NotANumber),
            ("+1", MoneyError::NotANumber),
            (" 1", MoneyError::NotANumber),
            ("1e3", MoneyError::NotANumber),
            (".5", MoneyError::NotANumber),
            ("5.", MoneyError::NotANumber),
            ("0.0000000001", MoneyError::TooPrecise),
            ("1.0000000000", MoneyError::TooPrecise),
        ] {
            assert_eq!(Usd::parse_plain(text), Err(error), "{text}");
        }
    }

    #[test]
    fn parses_exactly_or_refuses() {
        let check = |text: &str, expected: Result<i64, MoneyError>| {
            assert_eq!(Usd::parse(text).map(Usd::nanos), expected, "{text}");
        };
        check("0", Ok(0));
        check("1", Ok(1_000_000_000));
        check("0.000000001", Ok(1));
        check("12.5", Ok(12_500_000_000));
        check("1.5e-3", Ok(1_500_000));
        check("0.0000000001", Err(MoneyError::TooPrecise));
        check("abc", Err(MoneyError::NotANumber));
        check("NaN", Err(MoneyError::NotANumber));
        check("", Err(MoneyError::NotANumber));
        check("99999999999999999999", Err(MoneyError::TooLarge));
        check("-2", Ok(-2_000_000_000));
    }

    #[test]
    fn percentages_round_once() {
        let p = Usd::parse("0.0081").unwrap().percent_of(Usd::dollars(500)).unwrap();
        assert_eq!(p.to_string(), "0.00162");
        assert_eq!(Usd::dollars(1).percent_of(Usd::ZERO), None);
    }

    #[test]
    fn json_round_trip_keeps_the_literal() {
        for literal in ["0.000001", "123456.123456789", "0.1", "3", "999999.999999999"] {
            let parsed: Usd = serde_json::from_str(literal).unwrap();
            assert_eq!(serde_json::to_string(&parsed).unwrap(), literal);
            assert_eq!(parsed, Usd::parse(literal).unwrap());
        }
        let quoted: Usd = serde_json::from_str("\"0.25\"").unwrap();
        assert_eq!(quoted, Usd::parse("0.25").unwrap());
        assert!(serde_json::from_str::<Usd>("0.1234567891").is_err());
        assert!(serde_json::from_str::<Usd>("true").is_err());
        // Read from the text, not through f64: a literal that f64 would round to an
        // acceptable amount is refused as a number exactly as it is as a string.
        for long in ["0.1000000000000000055511151231257827", "1.0000000000000001", "0.30000000000000004"] {
            let as_number = serde_json::from_str::<Usd>(long).unwrap_err().to_string();
            let as_string = serde_json::from_str::<Usd>(&format!("\"{long}\"")).unwrap_err().to_string();
            assert_eq!(as_number, as_string);
            assert!(as_number.contains("more than 9 decimal places"), "{as_number}");
        }
        assert_eq!(serde_json::from_str::<Usd>("1e-9").unwrap(), Usd::from_nanos(1));
        assert_eq!(serde_json::from_str::<Usd>("12345678.123456789").unwrap(), Usd::from_nanos(12_345_678_123_456_789));
        // The configuration tree is a serde_json Value.
        assert_eq!(serde_json::from_value::<Usd>(serde_json::json!(0.5)).unwrap(), Usd::parse("0.5").unwrap());
        assert_eq!(serde_json::from_value::<Usd>(serde_json::json!("7")).unwrap(), Usd::dollars(7));
        assert!(serde_json::from_value::<Usd>(serde_json::json!([1])).is_err());
    }
}
