//! Syslog frames → SIEM events (pure). Every frame becomes exactly one event: parsed when it
//! parses, raw with the parse error otherwise.
//!
//! Event time: the message's timestamp, else the receive time. Region: a structured-data
//! parameter or CEF extension named like the region label (default `region`), else the
//! listener's default. Service: APP-NAME/TAG, else the CEF device product.

use std::collections::BTreeMap;

use cutover_parsers::{cef, syslog};
use cutover_schemas::{Attribute, Body, Event, EventKind, SCHEMA_VERSION, SiemBody, Source};

/// Context of one batch of frames.
pub struct Origin<'a> {
    /// Region when the message names none.
    pub default_region: &'a str,
    /// Parameter / extension key naming the region.
    pub region_label: &'a str,
    /// TCP or UDP.
    pub source: Source,
    /// Sender address.
    pub peer: String,
    /// Receive time, ns since the epoch.
    pub now: i64,
}

/// Converts one frame; the `bool` is true when the frame did not parse (kept raw).
pub fn frame_to_event(frame: &[u8], origin: &Origin<'_>) -> (Event, bool) {
    let mut body = SiemBody {
        facility: -1,
        severity: -1,
        peer: origin.peer.clone(),
        ..Default::default()
    };
    let mut attributes = Vec::new();
    let mut time = origin.now;
    let mut region = None;
    let mut service = String::new();
    let mut failed = false;
    let text = String::from_utf8_lossy(frame);
    let cef_text = if text.starts_with("CEF:") {
        body.format = "cef".into();
        body.message = text.to_string();
        Some(text.to_string())
    } else {
        match syslog::parse(frame, origin.now) {
            Ok(m) => {
                body.format = m.format.name().into();
                body.facility = i32::from(m.facility);
                body.severity = i32::from(m.severity);
                body.hostname = m.hostname.unwrap_or_default();
                body.app_name = m.app_name.unwrap_or_default();
                body.proc_id = m.proc_id.unwrap_or_default();
                body.msg_id = m.msg_id.unwrap_or_default();
                time = m.timestamp.unwrap_or(origin.now);
                service = body.app_name.clone();
                if !m.structured_data.is_empty() {
                    let mut sd: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
                    for el in &m.structured_data {
                        for (k, v) in &el.params {
                            sd.entry(el.id.as_str()).or_default().insert(k.as_str(), v.as_str());
                            attributes.push(Attribute::str(format!("{}.{k}", el.id), v.clone()));
                            if k == origin.region_label {
                                region = Some(v.clone());
                            }
                        }
                    }
                    body.structured_data_json = serde_json::to_string(&sd).unwrap_or_default();
                }
                let cef_at = cef::find(&m.message);
                body.message = m.message.clone();
                cef_at.map(|i| m.message[i..].to_string())
            }
            Err(e) => {
                failed = true;
                body.format = "raw".into();
                body.parse_error = e.to_string();
                body.message = text.to_string();
                None
            }
        }
    };
    if let Some(cef_text) = cef_text {
        match cef::parse(&cef_text) {
            Ok(c) => {
                body.is_cef = true;
                for (k, v) in &c.extensions {
                    if k == origin.region_label {
                        region = Some(v.clone());
                    }
                    attributes.push(Attribute::str(k.clone(), v.clone()));
                }
                if service.is_empty() {
                    service = c.device_product.clone();
                }
                body.cef_vendor = c.device_vendor;
                body.cef_product = c.device_product;
                body.cef_device_version = c.device_version;
                body.cef_signature_id = c.signature_id;
                body.cef_name = c.name;
                body.cef_severity = c.severity;
            }
            Err(e) => {
                failed = true;
                body.parse_error = e.to_string();
                if body.format == "cef" {
                    body.format = "raw".into();
                }
            }
        }
    }
    let event = Event {
        schema_version: SCHEMA_VERSION,
        kind: EventKind::Siem as i32,
        region: region
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| origin.default_region.to_string()),
        service,
        event_time_unix_nano: time,
        ingest_time_unix_nano: origin.now,
        trace_id: vec![],
        span_id: vec![],
        attributes,
        resource_attributes: vec![],
        source: origin.source as i32,
        body: Some(Body::Siem(body)),
    };
    (event, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_schemas::Value;

    fn origin() -> Origin<'static> {
        Origin {
            default_region: "dflt",
            region_label: "region",
            source: Source::SyslogTcp,
            peer: "127.0.0.1:1".into(),
            now: 5,
        }
    }

    fn siem(e: &Event) -> &SiemBody {
        match &e.body {
            Some(Body::Siem(s)) => s,
            _ => panic!("not siem"),
        }
    }

    #[test]
    fn rfc5424_with_region_sd_and_cef_inside() {
        let line = br#"<134>1 2026-11-26T10:00:00Z fw1 ids 77 IDS [cutover region="us-west-2"] CEF:0|Acme|IDS|2.1|4001|Port scan|7|src=10.0.0.9 act=alert"#;
        let (e, failed) = frame_to_event(line, &origin());
        assert!(!failed);
        let s = siem(&e);
        assert_eq!(
            (s.format.as_str(), s.facility, s.severity, s.hostname.as_str()),
            ("rfc5424", 16, 6, "fw1")
        );
        assert!(s.is_cef);
        assert_eq!(
            (
                s.cef_vendor.as_str(),
                s.cef_signature_id.as_str(),
                s.cef_severity.as_str()
            ),
            ("Acme", "4001", "7")
        );
        assert_eq!(e.region, "us-west-2");
        assert_eq!(e.service, "ids");
        assert_eq!(e.attribute("src"), Some(&Value::Str("10.0.0.9".into())));
        assert_eq!(e.attribute("cutover.region"), Some(&Value::Str("us-west-2".into())));
        assert_ne!(e.event_time_unix_nano, 5);
    }

    #[test]
    fn standalone_cef_and_garbage() {
        let (e, failed) = frame_to_event(b"CEF:0|Acme|WAF|1|9|Blocked|5|region=eu-1 src=1.2.3.4", &origin());
        assert!(!failed);
        assert_eq!(
            (siem(&e).format.as_str(), e.region.as_str(), e.service.as_str()),
            ("cef", "eu-1", "WAF")
        );
        let (e, failed) = frame_to_event(b"\x00\xffnot syslog at all", &origin());
        assert!(failed);
        let s = siem(&e);
        assert_eq!(s.format, "raw");
        assert!(s.parse_error.contains("PRI"), "{}", s.parse_error);
        assert!(s.message.contains("not syslog at all"));
        assert_eq!((e.region.as_str(), e.event_time_unix_nano), ("dflt", 5));
    }
}
