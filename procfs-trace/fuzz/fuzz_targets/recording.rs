//! Any bytes given to the recording reader, and every event it yields to the
//! decoder, must produce a result or a reported error, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procfs_trace::{
    events::decode::decode,
    recording::reader::{Record, Recording},
};

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = Recording::parse(data, "fuzz") {
        for chunk in &rec.chunks {
            for r in &chunk.records {
                if let Record::Event(raw) = r {
                    let _ = decode(raw);
                }
            }
        }
        let _ = (rec.events(), rec.lost());
    }
});
