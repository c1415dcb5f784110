//! ArcSight Common Event Format:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.
//!
//! Header fields escape `|` and `\` with a backslash. The extension is `key=value` pairs
//! separated by spaces; values may contain spaces, escape `=` and `\` with a backslash and
//! write newlines as `\n` / `\r`. A key is letters, digits, `_`, `.`, `[` or `]`, preceded by
//! the start of the extension or a space; a value runs to the space before the next key.

/// A parsed CEF event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cef {
    /// Format version (0 or 1).
    pub version: u32,
    /// Device vendor.
    pub device_vendor: String,
    /// Device product.
    pub device_product: String,
    /// Device version.
    pub device_version: String,
    /// Signature (event class) id.
    pub signature_id: String,
    /// Human-readable name.
    pub name: String,
    /// Severity: 0–10 or Unknown/Low/Medium/High/Very-High.
    pub severity: String,
    /// Extension pairs in order, values unescaped.
    pub extensions: Vec<(String, String)>,
}

/// Why a CEF text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CefError {
    /// Does not start with `CEF:`.
    #[error("not a CEF message (no \"CEF:\" prefix)")]
    NotCef,
    /// Fewer than the 7 header fields.
    #[error("CEF header has {0} of 7 fields")]
    ShortHeader(usize),
    /// The version is not a number.
    #[error("CEF version {0:?} is not a number")]
    BadVersion(String),
    /// Extension text that is not key=value.
    #[error("CEF extension has text without a key: {0:?}")]
    BadExtension(String),
}

/// Where `CEF:` starts in a syslog message body, if it holds CEF.
pub fn find(message: &str) -> Option<usize> {
    if message.starts_with("CEF:") {
        return Some(0);
    }
    message.find(" CEF:").map(|i| i + 1)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')
}

/// Parses a CEF text starting at `CEF:`.
pub fn parse(text: &str) -> Result<Cef, CefError> {
    let rest = text.strip_prefix("CEF:").ok_or(CefError::NotCef)?;
    let mut fields: Vec<String> = Vec::with_capacity(7);
    let mut current = String::new();
    let mut chars = rest.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n @ ('|' | '\\'))) => current.push(n),
                Some((_, n)) => {
                    current.push('\\');
                    current.push(n);
                }
                None => current.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() == 7 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => current.push(c),
        }
    }
    let Some(ext_start) = ext_start else {
        return Err(CefError::ShortHeader(fields.len() + usize::from(!current.is_empty())));
    };
    let version = fields[0]
        .trim()
        .parse()
        .map_err(|_| CefError::BadVersion(fields[0].clone()))?;
    let extensions = parse_extension(&rest[ext_start..])?;
    let mut f = fields.into_iter();
    let mut next = || f.next().unwrap_or_default();
    let _ = next();
    Ok(Cef {
        version,
        device_vendor: next(),
        device_product: next(),
        device_version: next(),
        signature_id: next(),
        name: next(),
        severity: next(),
        extensions,
    })
}

/// Byte offsets of every unescaped `=` that ends a key, with the key's start.
fn key_positions(ext: &str) -> Vec<(usize, usize)> {
    let bytes = ext.as_bytes();
    let mut out = Vec::new();
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'=' => {
                let key_start = ext[..i]
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| is_key_char(*c))
                    .last()
                    .map(|(s, _)| s);
                if let Some(s) = key_start
                    && (s == 0 || bytes[s - 1] == b' ')
                {
                    out.push((s, i));
                }
            }
            _ => {}
        }
    }
    out
}

fn unescape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(n @ ('=' | '\\' | '|')) => out.push(n),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn parse_extension(ext: &str) -> Result<Vec<(String, String)>, CefError> {
    let ext = ext.trim_end_matches(['\n', '\r']);
    let keys = key_positions(ext);
    let before = match keys.first() {
        Some((s, _)) => &ext[..*s],
        None => ext,
    };
    if !before.trim().is_empty() {
        return Err(CefError::BadExtension(before.trim().chars().take(60).collect()));
    }
    let mut out = Vec::with_capacity(keys.len());
    for (n, (start, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map(|(s, _)| s - 1).unwrap_or(ext.len());
        let value = ext[eq + 1..end.max(eq + 1)].trim_end_matches(' ');
        out.push((ext[*start..*eq].to_string(), unescape_value(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_and_extension_with_escapes() {
        let c = parse(
            r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        )
        .unwrap();
        assert_eq!(
            (
                c.version,
                c.device_vendor.as_str(),
                c.signature_id.as_str(),
                c.severity.as_str()
            ),
            (0, "Security", "100", "10")
        );
        assert_eq!(c.name, "worm successfully stopped");
        assert_eq!(
            c.extensions,
            vec![
                ("src".into(), "10.0.0.1".into()),
                ("dst".into(), "2.1.2.2".into()),
                ("spt".into(), "1232".into())
            ]
        );

        let c = parse(r"CEF:1|Ven\|dor|Prod\\uct|2|sig|Name with = sign|High|msg=Detected a threat. No action needed cs1Label=ip=x fname=C:\\dir\\a\=b.txt act=blocked\nline2").unwrap();
        assert_eq!(c.device_vendor, "Ven|dor");
        assert_eq!(c.device_product, r"Prod\uct");
        assert_eq!(c.name, "Name with = sign");
        assert_eq!(
            c.extensions[0],
            ("msg".into(), "Detected a threat. No action needed".into())
        );
        assert_eq!(c.extensions[1], ("cs1Label".into(), "ip=x".into()));
        assert_eq!(c.extensions[2], ("fname".into(), r"C:\dir\a=b.txt".into()));
        assert_eq!(c.extensions[3], ("act".into(), "blocked\nline2".into()));
    }

    #[test]
    fn empty_extension_and_errors() {
        assert_eq!(parse("CEF:0|a|b|c|d|e|5|").unwrap().extensions, vec![]);
        assert_eq!(parse("no"), Err(CefError::NotCef));
        assert_eq!(parse("CEF:0|a|b|c"), Err(CefError::ShortHeader(4)));
        assert_eq!(parse("CEF:x|a|b|c|d|e|5|"), Err(CefError::BadVersion("x".into())));
        assert!(matches!(
            parse("CEF:0|a|b|c|d|e|5|junk src=1"),
            Err(CefError::BadExtension(_))
        ));
    }

    #[test]
    fn found_inside_syslog_messages() {
        assert_eq!(find("CEF:0|a"), Some(0));
        assert_eq!(find("host app: CEF:0|a"), Some(10));
        assert_eq!(find("no cef here"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
            let _ = parse(&format!("CEF:0|a|b|c|d|e|5|{s}"));
        }

        #[test]
        fn extension_values_round_trip(pairs in proptest::collection::vec(("[a-z][a-zA-Z0-9]{0,8}", "[ -~]{1,30}"), 1..6)) {
            let esc = |v: &str| v.replace('\\', "\\\\").replace('=', "\\=");
            let ext = pairs.iter().map(|(k, v)| format!("{k}={}", esc(v.trim()))).collect::<Vec<_>>().join(" ");
            let c = parse(&format!("CEF:0|v|p|1|s|n|3|{ext}")).unwrap();
            let want: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.clone(), v.trim().to_string())).collect();
            // A value that itself contains " key=" text splits there, as the format defines.
            if pairs.iter().all(|(_, v)| !v.contains(' ') || !v.contains('=')) {
                prop_assert_eq!(c.extensions, want);
            }
        }
    }
}
