//! How generated models read shapes that services really send but the spec does not describe.
//!
//! `cargo xtask generate` attaches these functions (`#[serde(deserialize_with = ...)]`) to every
//! generated field of the kind they serve, so that one odd value never makes the whole page it
//! sits on undecodable; openapi/README.md lists each rule and why. Only reading is affected:
//! what the models write is unchanged.
//!
//! `cargo xtask generate` writes this file from one template (`xtask/templates/lenient.rs`)
//! into both generated crates: they do not depend on each other, and the models must build
//! without any other auditkit crate.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// A list. `null` reads as an empty list (OData says a collection is never null, yet services
/// send it), and a `null` item is dropped: it carries nothing a `T` could hold.
pub fn vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Items<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list or null")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            inner.deserialize_seq(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // No capacity from the size hint: the count comes from outside.
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Option<T>>()? {
                items.extend(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_option(Items(PhantomData))
}

/// A map. `null` reads as an empty map, and an entry whose value is `null` is dropped, as
/// `vec` drops a `null` item.
pub fn map<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for Entries<K, V>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map or null")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            inner.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut entries = BTreeMap::new();
            while let Some((key, value)) = access.next_entry::<K, Option<V>>()? {
                if let Some(value) = value {
                    entries.insert(key, value);
                }
            }
            Ok(entries)
        }
    }

    deserializer.deserialize_option(Entries(PhantomData))
}

/// An optional date-time in UTC. RFC 3339 as chrono reads it (any number of fractional digits,
/// Graph writes seven), and also a time without an offset, read as UTC: Graph documents these
/// times as UTC yet sometimes leaves the offset out, and Microsoft's own SDKs read it so
/// (kiota-java, microsoft/kiota-java#1084). Anything else is still an error.
pub fn date_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Time;

    impl<'de> Visitor<'de> for Time {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 date-time or null")
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            inner.deserialize_str(self)
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
            // The text itself stays out of the message: it is part of an answer body.
            match text.parse::<DateTime<Utc>>() {
                Ok(time) => Ok(Some(time)),
                Err(err) => text
                    .parse::<NaiveDateTime>()
                    .map(|naive| Some(naive.and_utc()))
                    .map_err(|_| E::custom(format_args!("not an RFC 3339 date-time: {err}"))),
            }
        }
    }

    deserializer.deserialize_option(Time)
}
