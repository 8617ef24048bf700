//! Crafted recordings cannot make a replay hold more than the reader's stated
//! cap (docs/recording-format.md): a counting allocator measures the peak.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

use procfs_trace::{
    agent::sink::{FlowSink, Output},
    recording::{
        columns,
        format::{record, ChunkHeader, Header, MAX_CHUNK, MAX_HEADER},
        reader::Reader,
        writer::Writer,
    },
    render::events::Format,
    replay::{self, ReplayOptions},
};

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only the
// byte counts are recorded.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(now, Relaxed);
        // SAFETY: as the caller promised for `layout`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a replay may hold on top of what it held before: one chunk
/// compressed, decompressed and rebuilt from its columns, plus room for
/// the checker's bounded tables and the header.
const CAP: usize = 3 * MAX_CHUNK as usize + (8 << 20);

fn header() -> Header {
    Header {
        tool: "bomb".into(),
        kernel_release: "6.1.0-bomb".into(),
        kernel_config_source: "running".into(),
        syscalls: true,
        ..Header::of_this_build()
    }
}

/// A valid chunk whose columns rebuild `MAX_CHUNK` bytes of empty event
/// records: the most records a chunk can declare, from a few KiB on disk.
fn bomb_chunk() -> Vec<u8> {
    let raw: Vec<u8> = [record::EVENT, 0, 0, 0, 0]
        .iter()
        .copied()
        .cycle()
        .take(MAX_CHUNK as usize / 5 * 5)
        .collect();
    let cols = columns::encode(&raw);
    let payload = zstd::bulk::compress(&cols, 19).unwrap();
    let h = ChunkHeader {
        payload_len: payload.len() as u32,
        raw_len: cols.len() as u32,
        records: (raw.len() / 5) as u32,
        lost: 0,
        unflagged: 0,
        losses_read_ns: 0,
        first_ts: 1,
        last_ts: 2,
        payload_crc: crc32fast::hash(&payload),
    };
    let mut out = h.encode().to_vec();
    out.extend_from_slice(&payload);
    out
}

fn replay_bytes(file: &[u8]) -> anyhow::Result<(u64, u64)> {
    let mut rec = Reader::new(file, "bomb")?;
    let mut sink = FlowSink::new(
        replay::checker(rec.header())?,
        Format::Jsonl,
        Output::new(Box::new(std::io::sink())),
    );
    sink.print = false;
    let fed = replay::feed(&mut rec, &ReplayOptions::default(), &mut sink)?;
    sink.finish()?;
    Ok(fed)
}

/// Runs `f` and returns its result with the most it held at once.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    (out, PEAK.load(Relaxed) - base)
}

#[test]
fn crafted_files_fail_cleanly_within_the_cap() {
    let mut file = Writer::new(Vec::new(), &header()).unwrap().into_inner();
    let chunk = bomb_chunk();
    let chunks = 4;
    for _ in 0..chunks {
        file.extend_from_slice(&chunk);
    }
    let declared = chunks * MAX_CHUNK as usize;
    assert!(
        file.len() * 1000 < declared,
        "a bomb is small on disk: {} bytes for {declared}",
        file.len()
    );
    let (fed, peak) = peak_of(|| replay_bytes(&file));
    let (events, bad) = fed.unwrap();
    assert_eq!((events, bad), (0, chunks as u64 * u64::from(MAX_CHUNK / 5)));
    assert!(peak <= CAP, "held {peak} bytes, cap {CAP}");

    // A chunk declaring more than a reader holds is an error, before any
    // allocation of that size.
    let mut big = Writer::new(Vec::new(), &header()).unwrap().into_inner();
    let h = ChunkHeader {
        payload_len: u32::MAX,
        raw_len: u32::MAX,
        records: u32::MAX,
        lost: 0,
        unflagged: 0,
        losses_read_ns: 0,
        first_ts: 0,
        last_ts: 0,
        payload_crc: 0,
    };
    big.extend_from_slice(&h.encode());
    let (res, peak) = peak_of(|| replay_bytes(&big));
    let err = format!("{:#}", res.unwrap_err());
    assert!(err.contains("damaged or crafted"), "{err}");
    assert!(peak <= CAP, "held {peak} bytes, cap {CAP}");

    // So is a header longer than any writer writes.
    let mut long = b"PFSTRACE\x02\x00\x00\x00".to_vec();
    long.extend_from_slice(&(MAX_HEADER + 1).to_le_bytes());
    long.resize(64, b'{');
    let (res, peak) = peak_of(|| replay_bytes(&long));
    assert!(format!("{:#}", res.unwrap_err()).contains("header length"));
    assert!(peak < 1 << 20, "held {peak} bytes for a refused header");
}
