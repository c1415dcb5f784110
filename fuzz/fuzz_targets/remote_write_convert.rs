//! Any bytes as a decompressed remote_write body: the decoded-size estimate, decoding and
//! conversion under the request limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_ingest::fuzzing::remote_write_conversion(data);
});
