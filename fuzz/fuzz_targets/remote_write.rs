//! Any bytes: remote_write decoding returns a request or a typed error, never panics or
//! allocates past the limit; raw bytes are also tried as a snappy-compressed payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cutover_parsers::remote_write::decode(data, 1 << 20);
    let compressed = snap::raw::Encoder::new().compress_vec(data).expect("compresses");
    let _ = cutover_parsers::remote_write::decode(&compressed, 1 << 20);
});
