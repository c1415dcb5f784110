//! Any bytes: `syslog::parse` returns a message or a typed error, never panics; a parsed
//! message keeps facility and severity in range.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = cutover_parsers::syslog::parse(data, 1_795_694_400_000_000_000) {
        assert!(m.facility <= 23 && m.severity <= 7);
    }
});
