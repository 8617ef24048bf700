//! `replay` and `info`: recordings read back offline, without root or BPF.

use std::{
    collections::HashMap,
    fs::File,
    io::{self, BufReader, IsTerminal as _, Read},
    path::Path,
    sync::Arc,
};

use anyhow::{bail, Context as _};
use procfs_trace_common::ProbeId;

use crate::{
    agent::sink::{FlowSink, Lost, Output, Sink},
    check::{tally::Gaps, Checker},
    events::{
        decode::{decode_as, Event},
        Symbolize,
    },
    flows::builder::{FlowBuilder, Window},
    model::kernel::KernelFacts,
    paths::glob_match,
    recording::{
        format::Header,
        reader::{Chunk, Damage, Item, ProbeTable, Reader, Record},
    },
    render::{
        chrome_json,
        events::{format_duration, Format},
        perfetto,
    },
};

/// Output of `replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// Indented call trees with verdicts.
    Tree,
    /// One JSON object per operation.
    Jsonl,
    /// A native Perfetto trace (protobuf) for the Perfetto UI and trace
    /// processor: slices, flows from each read to its show callback,
    /// divergences as instant events. Binary: redirect it to a file.
    Perfetto,
    /// The same as a Chrome JSON trace (larger, without flow arrows).
    ChromeJson,
}

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Exit non-zero on divergence (1) or missing evidence (3).
    pub check: bool,
    /// Only this process.
    pub pid: Option<u32>,
    /// Only tasks with this comm.
    pub comm: Option<String>,
    /// Only operations whose path matches this glob (`*` within a component, `?`).
    pub path: Option<String>,
}

/// Opens a recording and reads its header; chunks are read as they are fed.
pub fn open(file: &Path) -> anyhow::Result<Reader<BufReader<File>>> {
    Ok(Reader::open(file)?)
}

/// Warns about a damaged region on standard error.
pub fn warn(name: &str, d: &Damage) {
    eprintln!(
        "procfs-trace: warning: {name}: at byte {} ({} bytes skipped): {}",
        d.offset, d.skipped, d.what
    );
}

/// Feeds a recording into `sink`, chunk by chunk, with each chunk's losses,
/// warning about damage as it is found; returns (events, undecodable).
pub fn feed<R: Read>(
    rec: &mut Reader<R>,
    opts: &ReplayOptions,
    sink: &mut dyn Sink,
) -> anyhow::Result<(u64, u64)> {
    let mut symbols = Symbols::default();
    let mut readings = Readings::default();
    let (mut events, mut bad) = (0, 0);
    while let Some(item) = rec.next_item()? {
        let chunk = match item {
            Item::Chunk(c) => c,
            Item::Damage(d) => {
                warn(rec.name(), &d);
                continue;
            }
        };
        symbols.absorb(&chunk);
        for r in chunk.records() {
            let Record::Event(raw) = r else { continue };
            let Some(ev) = decode_wanted(raw, rec.probes(), opts, &mut bad) else {
                continue;
            };
            events += 1;
            sink.event(raw, ev, &|a| symbols.get(a))?;
        }
        sink.tick(readings.lost(&chunk, rec.totals().lost))?;
    }
    Ok((events, bad))
}

/// How long a reading of the loss counters took at most, for files that
/// date each reading only by its end (before version 7): their windows start
/// this long before the previous reading ended.
const READING_NS: u64 = 100_000_000;

/// Dates each chunk's losses as the tracer did: the window a chunk's reading
/// covers is in the file from version 7; before, it starts where the
/// previous reading ended, less [`READING_NS`].
#[derive(Debug, Default)]
pub struct Readings {
    last_ns: u64,
}

impl Readings {
    /// What `chunk` says the kernel lost, and when, with `total` lost so far.
    pub fn lost(&mut self, chunk: &Chunk, total: u64) -> Lost {
        let from_ns =
            (chunk.losses_from_ns).unwrap_or_else(|| self.last_ns.saturating_sub(READING_NS));
        let read_ns = match (chunk.losses_read_ns, chunk.lost) {
            // A chunk closed early, without a reading: nothing to date.
            (0, 0) => return Lost::default(),
            // Files before version 6 do not date readings: one came after
            // the chunk's last event.
            (0, _) => chunk.last_ts.max(self.last_ns),
            (t, _) => t,
        };
        self.last_ns = read_ns;
        Lost {
            new: chunk.lost,
            unflagged: chunk.unflagged,
            total,
            from_ns,
            to_ns: read_ns,
            waiting: 0,
        }
    }
}

/// The kernel function names a recording has given so far.
#[derive(Debug, Default)]
pub struct Symbols(HashMap<u64, Arc<str>, foldhash::fast::RandomState>);

impl Symbols {
    /// Keeps the names `chunk` gives. The writer puts each before the first
    /// event that needs it, and gives it once per file, so a chunk's names
    /// can all be taken before its events.
    pub fn absorb(&mut self, chunk: &Chunk) {
        for r in chunk.records() {
            if let Record::Symbol(addr, name) = r {
                self.0.insert(addr, name.into());
            }
        }
    }

    /// The name of the function at `addr`.
    pub fn get(&self, addr: u64) -> Option<Arc<str>> {
        self.0.get(&addr).cloned()
    }
}

/// The event `raw` holds, if it passes `opts`, its probe id read through
/// the file's `probes`; an undecodable record is counted in `bad`. A chunk's
/// names are for [`Symbols::absorb`]. (Called per record, returning the event
/// alone: moving each event through an iterator adapter, or a tuple, cost as
/// much as a tenth of checking it.)
#[inline]
pub fn decode_wanted(
    raw: &[u8],
    probes: &ProbeTable,
    opts: &ReplayOptions,
    bad: &mut u64,
) -> Option<Event> {
    match decode_as(raw, |id| probes.get(id)) {
        Ok(ev) => wanted(&ev, opts).then_some(ev),
        Err(_) => {
            *bad += 1;
            None
        }
    }
}

fn wanted(ev: &Event, opts: &ReplayOptions) -> bool {
    let o = ev.origin();
    opts.pid.is_none_or(|p| o.tgid == p) && opts.comm.as_ref().is_none_or(|c| &o.comm == c)
}

/// The model's view of the recorded kernel.
pub fn kernel(header: &Header) -> anyhow::Result<KernelFacts> {
    KernelFacts::recorded(&header.kernel_release, &header.kernel_config).with_context(|| {
        format!(
            "the recording's kernel release {:?} cannot be parsed",
            header.kernel_release
        )
    })
}

/// A checker set up as the recorder's was.
pub fn checker(header: &Header) -> anyhow::Result<Checker> {
    let probed = header
        .probes
        .iter()
        .filter_map(|r| ProbeId::by_name(&r.func))
        .collect();
    Ok(Checker::new(kernel(header)?, probed).with_mounts(header.proc_mounts.clone()))
}

/// `replay`: prints the recording's flows; returns the exit code.
pub fn run(file: &Path, format: ReplayFormat, opts: &ReplayOptions) -> anyhow::Result<i32> {
    if format == ReplayFormat::Perfetto && io::stdout().is_terminal() {
        bail!("a Perfetto trace is binary: redirect standard output to a file, e.g. `> trace.perfetto-trace`, then open it in https://ui.perfetto.dev");
    }
    let mut rec = open(file)?;
    let out_format = match format {
        ReplayFormat::Jsonl => Format::Jsonl,
        ReplayFormat::Tree | ReplayFormat::Perfetto | ReplayFormat::ChromeJson => Format::Text,
    };
    let mut sink = FlowSink::new(
        checker(rec.header())?,
        out_format,
        Output::new(Box::new(io::stdout())),
    );
    if let Some(glob) = opts.path.clone() {
        sink.filter = Some(Box::new(move |op| {
            op.path.as_deref().is_some_and(|p| glob_match(&glob, p))
        }));
    }
    if matches!(format, ReplayFormat::Perfetto | ReplayFormat::ChromeJson) {
        sink.print = false;
        sink.kept = Some(Vec::new());
    }
    let (events, bad) = feed(&mut rec, opts, &mut sink)?;
    let t = rec.totals();
    sink.finish()?;
    if let Some(kept) = &sink.kept {
        let mut out = io::BufWriter::new(io::stdout().lock());
        match format {
            ReplayFormat::Perfetto => perfetto::write(kept, &mut out)?,
            _ => chrome_json::write(kept, &mut out)?,
        }
    }
    eprintln!(
        "procfs-trace: replayed {events} events from {} ({} lost in the kernel{}{}); {}",
        file.display(),
        t.lost,
        if bad > 0 {
            format!(", {bad} undecodable")
        } else {
            String::new()
        },
        if t.damaged == 0 {
            String::new()
        } else {
            format!(", {} damaged regions", t.damaged)
        },
        sink.tally.summary()
    );
    eprintln!("procfs-trace: {}", sink.tally.coverage());
    if !opts.check {
        return Ok(0);
    }
    let verdict = sink.tally.outcome(Gaps {
        lost: t.lost,
        damaged: t.damaged as usize,
    });
    eprintln!("procfs-trace: check: {}", verdict.message());
    Ok(verdict.code())
}

/// `info`: what a recording holds.
pub fn info(file: &Path, out: &mut impl io::Write) -> anyhow::Result<()> {
    let mut rec = open(file)?;
    let mut counter = OpCounter {
        builder: FlowBuilder::new(),
        ops: 0,
    };
    feed(&mut rec, &ReplayOptions::default(), &mut counter)?;
    let flows = counter.ops + counter.builder.finish().len();
    let (h, t) = (rec.header(), rec.totals());
    writeln!(out, "file:        {} ({} bytes)", file.display(), t.bytes)?;
    writeln!(out, "written by:  {}", h.tool)?;
    writeln!(out, "command:     {}", h.command.join(" "))?;
    writeln!(
        out,
        "kernel:      {} (config: {}, {} options the model uses)",
        h.kernel_release,
        h.kernel_config_source,
        h.kernel_config.len()
    )?;
    writeln!(
        out,
        "probes:      {} attached, {} absent{}",
        h.probes.len(),
        h.skipped.len(),
        if h.syscalls {
            "; syscalls followed"
        } else {
            "; syscalls not followed"
        }
    )?;
    match (t.first_ts, t.last_ts) {
        (0, _) => writeln!(out, "time span:   no events")?,
        (f, l) => writeln!(
            out,
            "time span:   {} (monotonic {f} to {l} ns)",
            format_duration(l.saturating_sub(f))
        )?,
    }
    writeln!(out, "events:      {} in {} chunks", t.events, t.chunks)?;
    writeln!(
        out,
        "layout:      {} (format version {})",
        h.layout,
        rec.version()
    )?;
    writeln!(out, "operations:  {flows}")?;
    writeln!(out, "lost:        {} events lost in the kernel", t.lost)?;
    writeln!(
        out,
        "damage:      {}",
        if t.damaged == 0 {
            "none".to_owned()
        } else {
            format!("{} regions, see the warnings above", t.damaged)
        }
    )?;
    Ok(())
}

/// Counts the operations a recording's events rebuild into (for `info`).
struct OpCounter {
    builder: FlowBuilder,
    ops: usize,
}

impl Sink for OpCounter {
    fn event(&mut self, _raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        self.builder.push(ev, symbolize);
        Ok(())
    }
    fn tick(&mut self, _lost: Lost) -> io::Result<()> {
        self.ops += self.builder.release(Window::WHOLE).len();
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{
        format::Header,
        writer::{Reading, Writer},
    };

    /// A recording's windows are the tracer's: each is in the file, chunks
    /// closed without a reading change nothing, and an undated (pre-6)
    /// reading ends after its chunk's last event and starts where the
    /// previous reading ended, less the span a reading may take.
    #[test]
    fn each_chunk_dates_its_losses_as_the_tracer_did() {
        let reading = |from_ns, to_ns| Some(Reading { from_ns, to_ns });
        let mut w = Writer::new(Vec::new(), &Header::of_this_build()).unwrap();
        w.event(&[1], 5_000_000_000).unwrap();
        w.flush_chunk(0, 0, reading(0, 5_100_000_000)).unwrap();
        w.event(&[2], 5_200_000_000).unwrap();
        w.flush_chunk(0, 0, None).unwrap();
        w.flush_chunk(3, 1, reading(5_099_000_000, 5_400_000_000))
            .unwrap();
        w.event(&[3], 5_500_000_000).unwrap();
        w.flush_chunk(2, 0, None).unwrap();
        let bytes = w.into_inner();
        let mut r = Reader::new(bytes.as_slice(), "t").unwrap();
        let mut readings = Readings::default();
        let mut windows = Vec::new();
        while let Some(Item::Chunk(c)) = r.next_item().unwrap() {
            // The window is the chunk's, not one of its records.
            assert!(c.records().all(|r| matches!(r, Record::Event(_))));
            let l = readings.lost(&c, 0);
            windows.push((l.new, l.unflagged, l.from_ns, l.to_ns));
        }
        assert_eq!(
            windows,
            [
                (0, 0, 0, 5_100_000_000),
                (0, 0, 0, 0),
                (3, 1, 5_099_000_000, 5_400_000_000),
                (2, 0, 5_300_000_000, 5_500_000_000),
            ]
        );
    }
}
