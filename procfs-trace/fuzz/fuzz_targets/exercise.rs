//! What the fuzz target does with its input, shared with the test that
//! replays the corpus (`procfs-trace/tests/fuzz_corpus.rs`): any bytes must
//! give a result or a reported error, never a panic, a hang or unbounded
//! memory.

use procfs_trace::{
    events::decode::decode_as,
    recording::reader::{Item, Reader, Record},
};

/// Reads `data` as a recording and decodes every event it yields.
pub fn exercise(data: &[u8]) {
    let Ok(mut rec) = Reader::new(data, "fuzz") else {
        return;
    };
    while let Ok(Some(item)) = rec.next_item() {
        if let Item::Chunk(chunk) = item {
            for r in chunk.records() {
                if let Record::Event(raw) = r {
                    let _ = decode_as(raw, |id| rec.probes().get(id));
                }
            }
        }
    }
    let _ = rec.totals();
}
