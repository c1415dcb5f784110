//! Any bytes as OTLP/protobuf traces, metrics and logs requests: the decoded-size estimate,
//! decoding and conversion under the request limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_ingest::fuzzing::otlp_protobuf(data);
});
