//! Any byte stream: framing consumes only what it returns, never more than the input, and
//! every frame respects the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((frames, used)) = cutover_parsers::framing::frames(data, 4096) {
        assert!(used <= data.len());
        assert!(frames.iter().all(|f| f.len() <= 4096));
    }
});
