//! Replays the fuzz target's corpus (`procfs-trace/fuzz/corpus/recording`:
//! the real fixtures, crafted damage, and what fuzzing found worth keeping)
//! as a regular test, so every input that once mattered stays covered.

#[path = "../fuzz/fuzz_targets/exercise.rs"]
mod exercise;

#[test]
fn the_fuzz_corpus_reads_without_panicking() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/recording");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("the corpus is checked in") {
        let path = entry.unwrap().path();
        exercise::exercise(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 100, "only {n} corpus files in {dir}");
}

/// Writes small seeds for the fuzzer into the corpus: windows of real events
/// from each fixture, under a compact header, so inputs stay under
/// libFuzzer's `-max_len` and mutations reach the chunks and the decoder.
/// Run by hand: `cargo test --test fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seeds_from_the_fixtures() {
    use procfs_trace::recording::{
        format::Header,
        reader::{Item, Reader, Record},
        writer::{Reading, Writer},
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let out = format!("{root}/fuzz/corpus/recording");
    for entry in std::fs::read_dir(format!("{root}/tests/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pfsrec") {
            continue;
        }
        let mut rec = Reader::open(&path).unwrap();
        let header = Header {
            tool: "seed".into(),
            probes: vec![],
            kernel_config: vec![],
            offsets: vec![],
            command: vec![],
            ..rec.header().clone()
        };
        let mut records = Vec::new();
        while let Some(item) = rec.next_item().unwrap() {
            if let Item::Chunk(c) = item {
                records.extend(c.records().map(|r| match r {
                    Record::Event(raw) => (raw.to_vec(), None),
                    Record::Symbol(a, n) => (Vec::new(), Some((a, n.into_owned()))),
                }));
            }
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (i, window) in records.chunks(24).step_by(8).enumerate() {
            let mut w = Writer::new(Vec::new(), &header).unwrap();
            for (j, (raw, sym)) in window.iter().enumerate() {
                match sym {
                    Some((a, n)) => w.symbol(*a, n),
                    None => w.event(raw, 1 + j as u64).unwrap(),
                }
                if j % 12 == 11 {
                    let reading = Reading {
                        from_ns: j as u64 * 500,
                        to_ns: j as u64 * 1000,
                    };
                    w.flush_chunk(j as u64 % 3, j as u64 % 2, Some(reading))
                        .unwrap();
                }
            }
            w.flush_chunk(0, 0, None).unwrap();
            std::fs::write(format!("{out}/seed-{stem}-{i}"), w.into_inner()).unwrap();
        }
    }
}
