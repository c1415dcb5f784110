//! Any text: `cef::parse` returns an event or a typed error, never panics; extension keys
//! are never empty.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for candidate in [text.to_string(), format!("CEF:0|v|p|1|s|n|5|{text}")] {
        if let Ok(c) = cutover_parsers::cef::parse(&candidate) {
            assert!(c.extensions.iter().all(|(k, _)| !k.is_empty()));
        }
    }
});
