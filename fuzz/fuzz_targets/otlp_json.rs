//! Any bytes as OTLP/JSON traces, metrics and logs requests: decoding and conversion under the
//! request limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_ingest::fuzzing::otlp_json(data);
});
