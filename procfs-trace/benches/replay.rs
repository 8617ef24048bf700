//! Replay throughput: raw decoding alone (the ceiling) against the whole
//! pipeline (decode, rebuild flows, check against the model), and that
//! pipeline feeding the live view's aggregates, on one thread,
//! over a large synthetic recording built from the event shapes a real
//! `cat /proc/PID/limits` produces. Also prints the bytes per event on disk.

use std::{cell::RefCell, io, rc::Rc, time::Instant};

/// The allocator the procfs-trace binary uses.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use procfs_trace::{
    agent::sink::{FlowSink, Output},
    events::decode::decode,
    live::{collector::Collector, store::Store},
    recording::{
        format::{self, Header},
        reader::{Item, Reader, Record},
        writer::Writer,
    },
    render::events::Format,
    replay::{self, ReplayOptions},
};
use procfs_trace_common::{
    flags, kind, phase, syscall_flags, CallEvent, EventHeader, ProbeId, SyscallCallEvent, COMM_LEN,
    NAME_LEN, PATH_LEN,
};

/// Builds kernel-layout records as the tracer writes them inside followed
/// syscalls: a call record at each return, a syscall record at its exit.
struct Gen {
    ts: u64,
    out: Vec<(Vec<u8>, u64)>,
    /// The syscall in progress: its number, path, fd, entry time.
    frame: Option<(u32, String, i64, u64)>,
    /// Its next place in the sequence of entries and exits.
    seq: u16,
    /// Its open calls: probe, place, entry time, name, callback address.
    open: Vec<(ProbeId, u16, u64, String, u64)>,
}

fn header(tid: u32, ts: u64, k: u16, size: usize) -> EventHeader {
    let mut comm = [0u8; COMM_LEN];
    comm[..3].copy_from_slice(b"cat");
    EventHeader {
        ts_ns: ts,
        tgid: tid,
        tid,
        cpu: tid % 2,
        kind: k,
        size: size as u16,
        comm,
    }
}

fn bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: the event types are repr(C) without padding (asserted in procfs-trace-common).
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

impl Gen {
    fn probe(&mut self, tid: u32, p: ProbeId, ph: u8, name: &str, ret: i64, addr: u64) {
        self.ts += 500;
        let seq = self.seq;
        self.seq += 1;
        if ph == phase::ENTRY {
            self.open.push((p, seq, self.ts, name.to_owned(), addr));
            return;
        }
        let (probe, entry_seq, entry_ns, name, addr) = self.open.pop().expect("an open call");
        assert_eq!(probe, p);
        let mut n = [0u8; NAME_LEN];
        n[..name.len()].copy_from_slice(name.as_bytes());
        let mut entry_flags = 0;
        if !name.is_empty() {
            entry_flags |= flags::NAME;
        }
        if addr != 0 {
            entry_flags |= flags::ADDR;
        }
        let ev = CallEvent {
            header: header(tid, self.ts, kind::CALL, size_of::<CallEvent>()),
            probe: p as u16,
            entry_flags,
            exit_flags: flags::RET,
            name_len: name.len() as u16,
            entry_seq,
            exit_seq: seq,
            call_flags: 0,
            reserved: 0,
            frame_ns: self.frame.as_ref().expect("in a syscall").3,
            entry_ns,
            ret,
            entry_pos: 0,
            exit_pos: 0,
            addr,
            name: n,
        };
        self.out.push((bytes(&ev), self.ts));
    }

    fn sys(&mut self, tid: u32, nr: u32, ph: u8, path: &str, fd: i64, ret: i64) {
        self.ts += 500;
        if ph == phase::ENTRY {
            self.frame = Some((nr, path.to_owned(), fd, self.ts));
            self.seq = 0;
            return;
        }
        let (nr, path, fd, entry_ns) = self.frame.take().expect("a syscall in progress");
        let mut p = [0u8; PATH_LEN];
        p[..path.len()].copy_from_slice(path.as_bytes());
        let path_flag = if path.is_empty() {
            0
        } else {
            syscall_flags::PATH
        };
        let ev = SyscallCallEvent {
            header: header(
                tid,
                entry_ns,
                kind::SYSCALL_CALL,
                size_of::<SyscallCallEvent>(),
            ),
            nr,
            flags: syscall_flags::RET | path_flag,
            reserved8: 0,
            path_len: path.len() as u16,
            at_flags: 0,
            reserved: 0,
            exit_ns: self.ts,
            fd,
            ret,
            path: p,
        };
        self.out.push((bytes(&ev), self.ts));
    }

    /// One `cat /proc/PID/limits`: open (cold lookups) and two reads.
    fn cat_limits(&mut self, tid: u32) {
        use phase::{ENTRY as IN, EXIT as OUT};
        let pid = tid.to_string();
        self.sys(tid, 257, IN, &format!("/proc/{pid}/limits"), -100, 0);
        self.probe(tid, ProbeId::ProcRootLookup, IN, &pid, 0, 0);
        self.probe(tid, ProbeId::ProcPidLookup, IN, &pid, 0, 0);
        self.probe(tid, ProbeId::ProcPidLookup, OUT, "", 0, 0);
        self.probe(tid, ProbeId::ProcRootLookup, OUT, "", 0, 0);
        self.probe(tid, ProbeId::ProcTgidBaseLookup, IN, "limits", 0, 0);
        self.probe(tid, ProbeId::ProcPidentLookup, IN, "limits", 0, 0);
        self.probe(tid, ProbeId::ProcPidentLookup, OUT, "", 0, 0);
        self.probe(tid, ProbeId::ProcTgidBaseLookup, OUT, "", 0, 0);
        self.sys(tid, 257, OUT, "", -100, 3);
        for data in [1323, 0] {
            self.sys(tid, 0, IN, "", 3, 0);
            self.probe(tid, ProbeId::SeqRead, IN, "limits", 0, 0x1000);
            self.probe(tid, ProbeId::SeqReadIter, IN, "limits", 0, 0x1000);
            if data > 0 {
                self.probe(tid, ProbeId::ProcSingleShow, IN, "limits", 0, 0x2000);
                self.probe(tid, ProbeId::ProcPidLimits, IN, "limits", 0, 0);
                self.probe(tid, ProbeId::ProcPidLimits, OUT, "", 0, 0);
                self.probe(tid, ProbeId::ProcSingleShow, OUT, "", 0, 0);
            }
            self.probe(tid, ProbeId::SeqReadIter, OUT, "", data, 0);
            self.probe(tid, ProbeId::SeqRead, OUT, "", data, 0);
            self.sys(tid, 0, OUT, "", 3, data);
        }
    }
}

/// A recording of `n` cat runs by fresh processes, as the recorder chunks
/// it, and its number of events.
fn recording(n: u32) -> (Vec<u8>, u64) {
    let mut g = Gen {
        ts: 1,
        out: Vec::new(),
        frame: None,
        seq: 0,
        open: Vec::new(),
    };
    for i in 0..n {
        g.cat_limits(1000 + i);
    }
    let h = Header {
        tool: "bench".into(),
        kernel_release: "6.1.0-bench".into(),
        kernel_config_source: "debian 6.1".into(),
        probes: procfs_trace_common::PROBES
            .iter()
            .map(|p| format::ProbeRecord {
                func: p.func.into(),
                symbol: p.func.into(),
                method: "kprobe".into(),
                chains: vec![],
            })
            .collect(),
        syscalls: true,
        ..Header::of_this_build()
    };
    let mut w = Writer::new(Vec::new(), &h).unwrap();
    w.symbol(0x1000, "proc_single_show");
    w.symbol(0x2000, "proc_pid_limits");
    for (i, (raw, ts)) in g.out.iter().enumerate() {
        w.event(raw, *ts).unwrap();
        // About what a recorder at full speed gathers in one 250 ms tick.
        if i % 20_000 == 19_999 {
            w.flush_chunk(0, 0, None).unwrap();
        }
    }
    w.flush_chunk(0, 0, None).unwrap();
    (w.into_inner(), g.out.len() as u64)
}

/// Decodes every event of `file`, and nothing more: the ceiling.
fn decode_only(file: &[u8], events: u64) -> u64 {
    let mut rec = Reader::new(file, "bench").unwrap();
    let mut n = 0u64;
    while let Some(item) = rec.next_item().unwrap() {
        let Item::Chunk(chunk) = item else { continue };
        for r in chunk.records() {
            if let Record::Event(raw) = r {
                n += decode(raw).is_ok() as u64;
            }
        }
    }
    assert_eq!(n, events);
    n
}

/// Decodes, rebuilds flows and checks them, as `replay` does.
fn check(file: &[u8]) -> u64 {
    let mut rec = Reader::new(file, "bench").unwrap();
    let mut sink = FlowSink::new(
        replay::checker(rec.header()).unwrap(),
        Format::Jsonl,
        Output::new(Box::new(io::sink())),
    );
    sink.print = false;
    replay::feed(&mut rec, &ReplayOptions::default(), &mut sink).unwrap();
    sink.finish().unwrap();
    assert_eq!(sink.tally.count("divergence"), 0);
    sink.tally.count("match")
}

/// The same feeding the live view's aggregates.
fn live(file: &[u8]) -> u64 {
    let mut rec = Reader::new(file, "bench").unwrap();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut collector = Collector::new(replay::checker(rec.header()).unwrap(), store.clone());
    replay::feed(&mut rec, &ReplayOptions::default(), &mut collector).unwrap();
    collector.finish();
    let ops = store.borrow().all.ops;
    assert_eq!(ops, 60_000);
    ops
}

fn bench(c: &mut Criterion) {
    let (file, events) = recording(20_000);
    println!(
        "recording: {events} events, {} bytes on disk, {:.2} bytes per event, {:.1} per cat (raw records are 168 and 208 bytes)",
        file.len(),
        file.len() as f64 / events as f64,
        file.len() as f64 / 20_000.0
    );
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(events));
    g.sample_size(10);
    g.bench_with_input(BenchmarkId::new("decode only", events), &file, |b, file| {
        b.iter(|| decode_only(file, events))
    });
    g.bench_with_input(
        BenchmarkId::new("decode + flows + check", events),
        &file,
        |b, file| b.iter(|| check(file)),
    );
    g.bench_with_input(
        BenchmarkId::new("decode + flows + check + live view", events),
        &file,
        |b, file| b.iter(|| live(file)),
    );
    g.finish();
    paired_ratios(&file, events);
}

/// The ratios the performance targets are stated in, each from the three
/// runs of one round, side by side: on a noisy machine a round's runs share
/// its conditions, where separate criterion groups may not.
fn paired_ratios(file: &[u8], events: u64) {
    const ROUNDS: usize = 11;
    let time = |f: &dyn Fn() -> u64| {
        let t = Instant::now();
        std::hint::black_box(f());
        t.elapsed().as_secs_f64()
    };
    let (mut checked, mut viewed) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let d = time(&|| decode_only(file, events));
        let c = time(&|| check(file));
        let l = time(&|| live(file));
        checked.push(d / c);
        viewed.push(l / c - 1.0);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "paired, median of {ROUNDS} rounds: decode + flows + check at {:.1} % of decode-only speed; the live view's aggregation costs {:.1} % on top",
        median(checked) * 100.0,
        median(viewed) * 100.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
