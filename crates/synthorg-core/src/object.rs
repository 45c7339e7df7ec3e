//! Structs from JSON objects only. serde's derive also builds a struct from an array of its
//! fields' values in order (`{"alerts": [10, 20, 30]}`), which the API's document does not
//! allow and no client means: a nested struct field refuses anything but an object, naming
//! the field like any other type error.
//!
//! Use as `#[serde(deserialize_with = "synthorg_core::object::deserialize")]`, or
//! `object::option::deserialize` for an `Option`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// Deserializes `T` from a JSON object only.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_map(Object(PhantomData))
}

struct Object<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// [`deserialize`] for an optional field; `null` is `None`.
pub mod option {
    use super::*;

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        deserializer.deserialize_option(OptionObject(PhantomData))
    }

    struct OptionObject<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionObject<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object or null")
        }

        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: u8,
        b: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(deserialize_with = "super::deserialize")]
        pair: Pair,
        #[serde(default, deserialize_with = "super::option::deserialize")]
        maybe: Option<Pair>,
    }

    #[test]
    fn objects_pass_and_arrays_are_refused_naming_the_type() {
        let ok: Outer = serde_json::from_str(r#"{"pair": {"a": 1, "b": 2}, "maybe": null}"#).unwrap();
        assert_eq!((ok.pair, ok.maybe), (Pair { a: 1, b: 2 }, None));
        let some: Outer = serde_json::from_str(r#"{"pair": {"a": 1, "b": 2}, "maybe": {"b": 4, "a": 3}}"#).unwrap();
        assert_eq!(some.maybe, Some(Pair { a: 3, b: 4 }));
        for json in [r#"{"pair": [1, 2]}"#, r#"{"pair": {"a": 1, "b": 2}, "maybe": [3, 4]}"#, r#"{"pair": 3}"#] {
            let error = serde_json::from_str::<Outer>(json).unwrap_err().to_string();
            assert!(error.contains("expected an object"), "{json}: {error}");
        }
        // Plain derive takes the array: what this module is for.
        assert_eq!(serde_json::from_str::<Pair>("[1, 2]").unwrap(), Pair { a: 1, b: 2 });
    }
}
