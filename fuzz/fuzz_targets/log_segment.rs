//! Any bytes as a log segment (and as records behind a valid header): the scan, the torn-tail
//! rule and the resync scan never panic, and what they return stays inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cutover_eventlog::testing::fuzz_segment(data);
});
