//! Syslog messages: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`) and RFC 3164
//! (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), told apart by the version digit after PRI.
//!
//! RFC 3164 timestamps carry neither year nor zone: they are read as UTC, in the year that
//! puts them closest before `now` (at most one day ahead, for clock skew).

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

/// Which syslog format a message was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 5424.
    Rfc5424,
    /// RFC 3164 (BSD).
    Rfc3164,
}

impl Format {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

/// One structured-data element `[id k="v" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    /// SD-ID.
    pub id: String,
    /// Parameters in order, values unescaped.
    pub params: Vec<(String, String)>,
}

/// A parsed syslog message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The format.
    pub format: Format,
    /// Facility, 0–23.
    pub facility: u8,
    /// Severity, 0–7.
    pub severity: u8,
    /// Timestamp, ns since the epoch, when the message had one.
    pub timestamp: Option<i64>,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164).
    pub app_name: Option<String>,
    /// PROCID, or the PID of an RFC 3164 tag.
    pub proc_id: Option<String>,
    /// MSGID (RFC 5424 only).
    pub msg_id: Option<String>,
    /// STRUCTURED-DATA (RFC 5424 only).
    pub structured_data: Vec<SdElement>,
    /// The free-form message.
    pub message: String,
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No `<PRI>` at the start.
    #[error("missing <PRI> at the start of the message")]
    MissingPri,
    /// PRI out of range or malformed.
    #[error("invalid PRI {0:?}")]
    BadPri(String),
    /// A header field is missing or malformed.
    #[error("invalid {field}: {detail}")]
    BadHeader {
        /// Which field.
        field: &'static str,
        /// What was found.
        detail: String,
    },
    /// Structured data is malformed.
    #[error("invalid structured data at byte {offset} of the STRUCTURED-DATA field: {reason}")]
    BadStructuredData {
        /// Offset from the start of the STRUCTURED-DATA field.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Parses one syslog message (one frame, without framing).
pub fn parse(input: &[u8], now_unix_nano: i64) -> Result<Message, ParseError> {
    let text = String::from_utf8_lossy(input);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let rest = text.strip_prefix('<').ok_or(ParseError::MissingPri)?;
    let close = rest
        .find('>')
        .filter(|&i| i > 0 && i <= 3)
        .ok_or(ParseError::MissingPri)?;
    let pri_text = &rest[..close];
    let pri: u16 = pri_text.parse().map_err(|_| ParseError::BadPri(pri_text.to_string()))?;
    if pri > 191 || !pri_text.bytes().all(|b| b.is_ascii_digit()) || (pri_text.len() > 1 && pri_text.starts_with('0')) {
        return Err(ParseError::BadPri(pri_text.to_string()));
    }
    let rest = &rest[close + 1..];
    let (facility, severity) = ((pri / 8) as u8, (pri % 8) as u8);
    let version_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if version_len > 0 && version_len <= 2 && rest[version_len..].starts_with(' ') {
        parse_5424(&rest[version_len + 1..], facility, severity)
    } else {
        parse_3164(rest, facility, severity, now_unix_nano)
    }
}

fn nil(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

/// Splits off one space-terminated field.
fn field<'a>(rest: &'a str, name: &'static str) -> Result<(&'a str, &'a str), ParseError> {
    let (f, r) = rest.split_once(' ').unwrap_or((rest, ""));
    if f.is_empty() {
        return Err(ParseError::BadHeader {
            field: name,
            detail: "missing".into(),
        });
    }
    Ok((f, r))
}

fn parse_5424(rest: &str, facility: u8, severity: u8) -> Result<Message, ParseError> {
    let (ts, rest) = field(rest, "TIMESTAMP")?;
    let timestamp = if ts == "-" {
        None
    } else {
        let t = chrono::DateTime::parse_from_rfc3339(ts).map_err(|e| ParseError::BadHeader {
            field: "TIMESTAMP",
            detail: format!("{ts:?}: {e}"),
        })?;
        t.timestamp_nanos_opt()
    };
    let (host, rest) = field(rest, "HOSTNAME")?;
    let (app, rest) = field(rest, "APP-NAME")?;
    let (proc_id, rest) = field(rest, "PROCID")?;
    let (msg_id, rest) = field(rest, "MSGID")?;
    let (structured_data, rest) = if let Some(r) = rest.strip_prefix('-') {
        (Vec::new(), r)
    } else {
        parse_sd(rest)?
    };
    let message = match rest {
        "" => String::new(),
        r => r
            .strip_prefix(' ')
            .unwrap_or(r)
            .trim_start_matches('\u{feff}')
            .to_string(),
    };
    Ok(Message {
        format: Format::Rfc5424,
        facility,
        severity,
        timestamp,
        hostname: nil(host),
        app_name: nil(app),
        proc_id: nil(proc_id),
        msg_id: nil(msg_id),
        structured_data,
        message,
    })
}

fn parse_sd(s: &str) -> Result<(Vec<SdElement>, &str), ParseError> {
    let bad = |at: usize, reason: &str| ParseError::BadStructuredData {
        offset: at,
        reason: reason.into(),
    };
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b'[' {
        i += 1;
        let id_start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == id_start {
            return Err(bad(i, "empty SD-ID"));
        }
        let mut el = SdElement {
            id: s[id_start..i].to_string(),
            params: Vec::new(),
        };
        loop {
            match bytes.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                None => return Err(bad(i, "unterminated element")),
                _ => return Err(bad(i, "expected a space or ]")),
            }
            let name_start = i;
            while i < bytes.len() && !matches!(bytes[i], b'=' | b' ' | b']' | b'"') {
                i += 1;
            }
            if i == name_start || bytes.get(i) != Some(&b'=') || bytes.get(i + 1) != Some(&b'"') {
                return Err(bad(i, "expected PARAM-NAME=\"value\""));
            }
            let name = s[name_start..i].to_string();
            i += 2;
            let mut value = String::new();
            loop {
                let c = s[i..]
                    .chars()
                    .next()
                    .ok_or_else(|| bad(i, "unterminated PARAM-VALUE"))?;
                match c {
                    '"' => {
                        i += 1;
                        break;
                    }
                    '\\' => {
                        let next = s[i + 1..]
                            .chars()
                            .next()
                            .ok_or_else(|| bad(i, "unterminated PARAM-VALUE"))?;
                        if !matches!(next, '"' | '\\' | ']') {
                            value.push('\\');
                        }
                        value.push(next);
                        i += 1 + next.len_utf8();
                    }
                    c => {
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            el.params.push((name, value));
        }
        out.push(el);
    }
    if out.is_empty() {
        return Err(bad(0, "expected - or ["));
    }
    if i < bytes.len() && bytes[i] != b' ' {
        return Err(bad(i, "expected a space after structured data"));
    }
    Ok((out, &s[i..]))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn parse_3164_time(s: &str, now_unix_nano: i64) -> Option<i64> {
    // "Mmm dd hh:mm:ss" (the day may be space-padded).
    if s.len() != 15 || !s.is_ascii() {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == &s[0..3])? as u32 + 1;
    let day: u32 = s[4..6].trim_start().parse().ok()?;
    let (h, m, sec): (u32, u32, u32) = (s[7..9].parse().ok()?, s[10..12].parse().ok()?, s[13..15].parse().ok()?);
    if &s[3..4] != " " || &s[6..7] != " " || &s[9..10] != ":" || &s[12..13] != ":" {
        return None;
    }
    let now = Utc.timestamp_nanos(now_unix_nano);
    let at = |year: i32| {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|d| d.and_hms_opt(h, m, sec))
            .and_then(|t| Utc.from_utc_datetime(&t).timestamp_nanos_opt())
    };
    let this_year = at(now.year());
    match this_year {
        Some(t) if t <= now_unix_nano + 86_400_000_000_000 => Some(t),
        _ => at(now.year() - 1).or(this_year),
    }
}

fn parse_3164(rest: &str, facility: u8, severity: u8, now_unix_nano: i64) -> Result<Message, ParseError> {
    let ts_text = rest.get(..15).unwrap_or(rest);
    let timestamp = parse_3164_time(ts_text, now_unix_nano).ok_or_else(|| ParseError::BadHeader {
        field: "TIMESTAMP",
        detail: format!("{ts_text:?} is not \"Mmm dd hh:mm:ss\""),
    })?;
    let rest = rest[15..].strip_prefix(' ').unwrap_or(&rest[15..]);
    let (hostname, rest) = match rest.split_once(' ') {
        Some((h, r)) if !h.is_empty() && !h.ends_with(':') => (Some(h.to_string()), r),
        _ => (None, rest),
    };
    // TAG[PID]: MSG, where the tag is at most 48 characters without spaces.
    let (app_name, proc_id, message) = match rest.split_once(':') {
        Some((tag, msg)) if !tag.is_empty() && tag.len() <= 48 && !tag.contains(' ') => {
            let (app, pid) = match tag.split_once('[') {
                Some((a, p)) => (a, p.strip_suffix(']').map(str::to_string)),
                None => (tag, None),
            };
            (
                Some(app.to_string()),
                pid,
                msg.strip_prefix(' ').unwrap_or(msg).to_string(),
            )
        }
        _ => (None, None, rest.to_string()),
    };
    Ok(Message {
        format: Format::Rfc3164,
        facility,
        severity,
        timestamp: Some(timestamp),
        hostname,
        app_name,
        proc_id,
        msg_id: None,
        structured_data: Vec::new(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-11-26T12:00:00Z
    const NOW: i64 = 1_795_694_400_000_000_000;

    fn ns(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn rfc5424_cases() {
        struct Case {
            input: &'static str,
            host: Option<&'static str>,
            app: Option<&'static str>,
            msg_id: Option<&'static str>,
            sd: usize,
            message: &'static str,
        }
        let cases = [
            Case {
                input: "<165>1 2026-11-26T10:00:00.003Z mymachine evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] BOMAn app event",
                host: Some("mymachine"),
                app: Some("evntslog"),
                msg_id: Some("ID47"),
                sd: 1,
                message: "BOMAn app event",
            },
            Case {
                input: "<34>1 2026-11-26T10:00:00Z host su - - - 'su root' failed",
                host: Some("host"),
                app: Some("su"),
                msg_id: None,
                sd: 0,
                message: "'su root' failed",
            },
            Case {
                input: "<13>1 - - - - - -",
                host: None,
                app: None,
                msg_id: None,
                sd: 0,
                message: "",
            },
            Case {
                input: "<13>1 2026-11-26T10:00:00+01:00 h a 12 m [a x=\"1\"][b y=\"q\\\"\\]\"] \u{feff}hello",
                host: Some("h"),
                app: Some("a"),
                msg_id: Some("m"),
                sd: 2,
                message: "hello",
            },
        ];
        for c in cases {
            let m = parse(c.input.as_bytes(), NOW).unwrap_or_else(|e| panic!("{}: {e}", c.input));
            assert_eq!(m.format, Format::Rfc5424);
            assert_eq!(m.hostname.as_deref(), c.host, "{}", c.input);
            assert_eq!(m.app_name.as_deref(), c.app, "{}", c.input);
            assert_eq!(m.msg_id.as_deref(), c.msg_id, "{}", c.input);
            assert_eq!(m.structured_data.len(), c.sd, "{}", c.input);
            assert_eq!(m.message, c.message, "{}", c.input);
        }
        let m = parse(b"<165>1 2026-11-26T10:00:00.003Z h a - - [x@1 k=\"v\"] m", NOW).unwrap();
        assert_eq!((m.facility, m.severity), (20, 5));
        assert_eq!(m.timestamp, Some(ns("2026-11-26T10:00:00.003Z")));
        assert_eq!(
            m.structured_data[0],
            SdElement {
                id: "x@1".into(),
                params: vec![("k".into(), "v".into())]
            }
        );
        let m = parse(b"<13>1 2026-11-26T10:00:00+01:00 h a 12 m [b y=\"q\\\"\\]\"] x", NOW).unwrap();
        assert_eq!(m.timestamp, Some(ns("2026-11-26T09:00:00Z")));
        assert_eq!(m.structured_data[0].params[0].1, "q\"]");
        assert_eq!(m.proc_id.as_deref(), Some("12"));
    }

    #[test]
    fn rfc3164_cases() {
        let m = parse(
            b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick",
            NOW,
        )
        .unwrap();
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!((m.facility, m.severity), (4, 2));
        assert_eq!(m.timestamp, Some(ns("2026-10-11T22:14:15Z")));
        assert_eq!(
            (m.hostname.as_deref(), m.app_name.as_deref(), m.proc_id.as_deref()),
            (Some("mymachine"), Some("su"), Some("230"))
        );
        assert_eq!(m.message, "'su root' failed for lonvick");
        // December seen in November is last year's.
        let m = parse(b"<13>Dec  5 01:02:03 h app: x", NOW).unwrap();
        assert_eq!(m.timestamp, Some(ns("2025-12-05T01:02:03Z")));
        // No tag: the whole rest is the message.
        let m = parse(b"<13>Nov 26 11:00:00 host just words here", NOW).unwrap();
        assert_eq!((m.app_name, m.message.as_str()), (None, "just words here"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse(b"no pri", NOW), Err(ParseError::MissingPri));
        assert_eq!(parse(b"<999>1 - - - - - -", NOW), Err(ParseError::BadPri("999".into())));
        assert!(matches!(
            parse(b"<13>1 yesterday h a - - -", NOW),
            Err(ParseError::BadHeader { field: "TIMESTAMP", .. })
        ));
        assert!(matches!(
            parse(b"<13>1 - h a - - [x k=v] m", NOW),
            Err(ParseError::BadStructuredData { .. })
        ));
        assert!(matches!(
            parse(b"<13>1 - h a - - [x k=\"v", NOW),
            Err(ParseError::BadStructuredData { .. })
        ));
        assert!(matches!(
            parse(b"<13>Foo 11 22:14:15 h m", NOW),
            Err(ParseError::BadHeader { field: "TIMESTAMP", .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&input, NOW);
        }

        #[test]
        fn rfc5424_fields_round_trip(host in "[a-z][a-z0-9.-]{0,20}", app in "[a-z][a-z0-9]{0,10}", msg in "[ -~]{0,60}", pri in 0u16..192) {
            let line = format!("<{pri}>1 2026-11-26T10:00:00Z {host} {app} - - - {msg}");
            let m = parse(line.as_bytes(), NOW).unwrap();
            prop_assert_eq!(m.hostname.as_deref(), Some(host.as_str()));
            prop_assert_eq!(m.app_name.as_deref(), Some(app.as_str()));
            prop_assert_eq!(m.message, msg);
            prop_assert_eq!(u16::from(m.facility) * 8 + u16::from(m.severity), pri);
        }
    }
}
