//! Whole numbers from JSON however they are spelled. JSON Schema's `integer` is a
//! mathematical integer: `3`, `3.0` and `3e0` are all the integer 3, and a client (or a
//! language whose numbers are all floats) may send any of them. serde refuses the last two
//! for an integer type; these functions accept them and still refuse `3.5` and values out of
//! the type's range, naming the type.
//!
//! Use as `#[serde(deserialize_with = "synthorg_core::integral::deserialize")]`, or
//! `integral::option::deserialize` for an `Option`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Deserializes an integer of type `T` from a JSON integer or a float with no fractional part.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_any(Integral(PhantomData))
}

/// [`deserialize`] for an optional field; `null` is `None`.
pub mod option {
    use super::*;

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        deserializer.deserialize_option(OptionIntegral(PhantomData))
    }

    struct OptionIntegral<T>(PhantomData<T>);

    impl<'de, T: TryFrom<i128>> Visitor<'de> for OptionIntegral<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            Integral::<T>(PhantomData).expecting(f)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

struct Integral<T>(PhantomData<T>);

impl<T: TryFrom<i128>> Integral<T> {
    fn fit<E: de::Error>(&self, value: i128, unexpected: Unexpected<'_>) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(unexpected, self))
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for Integral<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number that fits {}", std::any::type_name::<T>())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.fit(i128::from(v), Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.fit(i128::from(v), Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Every integral f64 below 2^127 converts exactly; larger ones fit no field anyway.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1.7e38 {
            #[expect(clippy::cast_possible_truncation, reason = "integral and within i128, checked above")]
            return self.fit(v as i128, Unexpected::Float(v));
        }
        Err(E::invalid_value(Unexpected::Float(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::deserialize")]
        day: u8,
        #[serde(default, deserialize_with = "super::option::deserialize")]
        version: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_in_any_spelling() {
        for (json, day, version) in [
            (r#"{"day": 3}"#, 3, None),
            (r#"{"day": 3.0, "version": -244.0}"#, 3, Some(-244)),
            (r#"{"day": 3e0, "version": null}"#, 3, None),
            (r#"{"day": 255, "version": 9007199254740993}"#, 255, Some(9_007_199_254_740_993)),
        ] {
            let body = parse(json).unwrap();
            assert_eq!((body.day, body.version), (day, version), "{json}");
        }
    }

    #[test]
    fn fractions_wrong_types_and_overflow_are_refused_naming_the_type() {
        for (json, found) in [
            (r#"{"day": 3.5}"#, "floating point `3.5`"),
            (r#"{"day": 256}"#, "integer `256`"),
            (r#"{"day": -1}"#, "integer `-1`"),
            (r#"{"day": 1e300}"#, "floating point"),
            (r#"{"day": "3"}"#, "string \"3\""),
            (r#"{"day": 1, "version": 1.25}"#, "floating point `1.25`"),
        ] {
            let error = parse(json).unwrap_err().to_string();
            assert!(error.contains(found) && error.contains("a whole number that fits"), "{json}: {error}");
        }
    }
}
