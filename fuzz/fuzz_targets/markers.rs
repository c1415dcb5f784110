//! Any bytes as a markers API body: decoding and validation into a marker event.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_ingest::fuzzing::markers(data);
});
