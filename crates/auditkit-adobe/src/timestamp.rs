use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The time of an Adobe audit event.
///
/// Adobe documents one shape, UTC with milliseconds and `Z` (`2017-10-31T00:02:04.232Z`), so
/// whatever the caller gives — another offset, seconds or nanoseconds — is written that way.
/// Sub-millisecond digits are truncated, never rounded into the next millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to the millisecond.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// The instant, in UTC, as it will be written.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Timestamp {
    fn from(time: DateTime<Tz>) -> Self {
        let utc = time.with_timezone(&Utc);
        let truncated = DateTime::from_timestamp_millis(utc.timestamp_millis()).unwrap_or(utc);
        Self(truncated)
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(time: std::time::SystemTime) -> Self {
        Self::from(DateTime::<Utc>::from(time))
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(time: Timestamp) -> Self {
        time.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl std::str::FromStr for Timestamp {
    type Err = chrono::ParseError;

    /// Accepts any RFC 3339 time; it is normalised to UTC milliseconds.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(text).map(Self::from)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(|err| {
            serde::de::Error::custom(format_args!(
                "timestamp {text:?} is not an RFC 3339 time: {err}"
            ))
        })
    }
}

#[cfg(feature = "json-schema")]
impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> String {
        "Timestamp".to_owned()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = <String as schemars::JsonSchema>::json_schema(generator).into_object();
        schema.format = Some("date-time".to_owned());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn writes_milliseconds_and_z_whatever_the_precision() {
        let whole_seconds = Utc.with_ymd_and_hms(2017, 10, 31, 0, 2, 4).unwrap();
        assert_eq!(
            Timestamp::from(whole_seconds).to_string(),
            "2017-10-31T00:02:04.000Z"
        );
        let nanos = DateTime::parse_from_rfc3339("2017-10-31T00:02:04.232999999Z").unwrap();
        assert_eq!(
            Timestamp::from(nanos).to_string(),
            "2017-10-31T00:02:04.232Z"
        );
    }

    #[test]
    fn converts_other_offsets_to_utc() {
        let paris = FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2017, 10, 31, 1, 2, 4)
            .unwrap();
        assert_eq!(
            serde_json::to_string(&Timestamp::from(paris)).unwrap(),
            r#""2017-10-31T00:02:04.000Z""#
        );
    }

    #[test]
    fn reads_any_rfc3339_and_refuses_the_rest() {
        let read: Timestamp = serde_json::from_str(r#""2017-10-31T02:02:04.5+02:00""#).unwrap();
        assert_eq!(read.to_string(), "2017-10-31T00:02:04.500Z");
        let err = serde_json::from_str::<Timestamp>(r#""31/10/2017""#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(r#"timestamp "31/10/2017" is not an RFC 3339 time"#),
            "{err}"
        );
    }
}
