//! The report's one timestamp type.

use std::fmt;
use std::ops::Deref;

use serde::{Serialize, Serializer};

/// A moment of the drill: nanoseconds since the Unix epoch, UTC, with its RFC 3339 text
/// (`2026-11-26T10:00:00.123Z`: a `Z` and as many fractional digits as it needs). The text is
/// what the JSON report, the Markdown and readers of a report see (`Time` reads as `&str`);
/// code that computes with a report's times takes [`Time::ns`] and never parses text back.
/// `Default` is the epoch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    ns: i64,
    text: Box<str>,
}

impl Time {
    /// The time `ns` nanoseconds after the epoch.
    pub fn new(ns: i64) -> Time {
        Time {
            ns,
            text: crate::report::rfc3339(ns).into_boxed_str(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn ns(&self) -> i64 {
        self.ns
    }

    /// The RFC 3339 text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// RFC 3339 text (any offset) as a time; `None` when it is not one. For callers that
    /// hold text from elsewhere; the analyzer never reads its own times back as text.
    pub fn parse(text: &str) -> Option<Time> {
        Some(Time::new(
            chrono::DateTime::parse_from_rfc3339(text).ok()?.timestamp_nanos_opt()?,
        ))
    }
}

impl Default for Time {
    fn default() -> Time {
        Time::new(0)
    }
}

impl Deref for Time {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl PartialEq<&str> for Time {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

impl PartialEq<str> for Time {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<String> for Time {
    fn eq(&self, other: &String) -> bool {
        *self.text == **other
    }
}

impl PartialEq<Time> for String {
    fn eq(&self, other: &Time) -> bool {
        **self == *other.text
    }
}

#[cfg(test)]
mod tests {
    use super::Time;

    #[test]
    fn a_time_is_its_rfc3339_text_and_keeps_its_nanoseconds() {
        let t = Time::new(1_700_000_000_123_000_000);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
        assert_eq!(t, "2023-11-14T22:13:20.123Z");
        assert_eq!(t.ns(), 1_700_000_000_123_000_000);
        assert_eq!(
            Time::new(1_700_000_000_000_000_001).as_str(),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(Time::parse("2023-11-14T23:13:20.123+01:00"), Some(t));
        assert_eq!(Time::parse("yesterday"), None);
        assert!(Time::new(1) < Time::new(2));
    }
}
