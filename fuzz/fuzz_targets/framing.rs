//! Any byte stream: framing consumes only what it returns, never more than the input, and
//! every frame respects the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = cutover_parsers::framing::frames(data, 4096);
    assert!(f.consumed <= data.len());
    assert!(f.frames.iter().all(|fr| fr.len() <= 4096));
});
