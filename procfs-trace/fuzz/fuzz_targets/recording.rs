//! Any bytes given to the recording reader, and every event it yields to the
//! decoder, must produce a result or a reported error, never a panic or hang.
#![no_main]

mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| exercise::exercise(data));
