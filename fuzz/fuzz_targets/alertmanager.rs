//! Any bytes as an Alertmanager webhook body: decoding and conversion to alert events.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_ingest::fuzzing::alertmanager(data);
});
