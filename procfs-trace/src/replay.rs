//! `replay` and `info`: recordings read back offline, without root or BPF.

use std::{collections::HashMap, io, path::Path};

use anyhow::Context as _;
use procfs_trace_common::ProbeId;

use crate::{
    agent::sink::{FlowSink, Output, Sink},
    check::{tally::Gaps, Checker},
    events::decode::{decode, Event},
    flows::builder::FlowBuilder,
    model::kernel::KernelFacts,
    paths::glob_match,
    recording::reader::{Chunk, Record, Recording},
    render::{
        events::{format_duration, Format, Symbolize},
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
    /// A JSON trace for the Perfetto UI.
    Perfetto,
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

/// Reads `file`, warning about damage on standard error.
pub fn open(file: &Path) -> anyhow::Result<Recording> {
    let rec = Recording::open(file)?;
    for d in &rec.damage {
        eprintln!(
            "procfs-trace: warning: {}: at byte {} ({} bytes skipped): {}",
            file.display(),
            d.offset,
            d.skipped,
            d.what
        );
    }
    Ok(rec)
}

/// Feeds a recording into `sink`, chunk by chunk, with each chunk's losses;
/// returns (events, undecodable).
pub fn feed(rec: &Recording, opts: &ReplayOptions, sink: &mut dyn Sink) -> io::Result<(u64, u64)> {
    let mut symbols = HashMap::new();
    let (mut events, mut bad, mut total_lost) = (0, 0, 0);
    for chunk in &rec.chunks {
        for (raw, ev) in decode_chunk(chunk, opts, &mut symbols, &mut bad) {
            events += 1;
            sink.event(raw, &ev, &|a| symbols.get(&a).cloned())?;
        }
        total_lost += chunk.lost;
        sink.tick(chunk.lost, total_lost)?;
    }
    Ok((events, bad))
}

/// A chunk's events that pass `opts`, in order, with their raw bytes; its
/// function names go into `symbols` and undecodable records are counted in
/// `bad`. (The writer puts a name before the first event that needs it.)
pub fn decode_chunk<'a>(
    chunk: &'a Chunk,
    opts: &ReplayOptions,
    symbols: &mut HashMap<u64, String>,
    bad: &mut u64,
) -> Vec<(&'a [u8], Event)> {
    let mut out = Vec::new();
    for r in &chunk.records {
        match r {
            Record::Symbol(addr, name) => {
                symbols.insert(*addr, name.clone());
            }
            Record::Event(raw) => match decode(raw) {
                Ok(ev) if wanted(&ev, opts) => out.push((raw.as_slice(), ev)),
                Ok(_) => {}
                Err(_) => *bad += 1,
            },
        }
    }
    out
}

fn wanted(ev: &Event, opts: &ReplayOptions) -> bool {
    let o = ev.origin();
    opts.pid.is_none_or(|p| o.tgid == p) && opts.comm.as_ref().is_none_or(|c| &o.comm == c)
}

/// The model's view of the recorded kernel.
pub fn kernel(rec: &Recording) -> anyhow::Result<KernelFacts> {
    KernelFacts::recorded(&rec.header.kernel_release, &rec.header.kernel_config).with_context(
        || {
            format!(
                "the recording's kernel release {:?} cannot be parsed",
                rec.header.kernel_release
            )
        },
    )
}

/// A checker set up as the recorder's was.
pub fn checker(rec: &Recording) -> anyhow::Result<Checker> {
    let probed = rec
        .header
        .probes
        .iter()
        .filter_map(|r| ProbeId::by_name(&r.func))
        .collect();
    Ok(Checker::new(kernel(rec)?, probed))
}

/// `replay`: prints the recording's flows; returns the exit code.
pub fn run(file: &Path, format: ReplayFormat, opts: &ReplayOptions) -> anyhow::Result<i32> {
    let rec = open(file)?;
    let out_format = match format {
        ReplayFormat::Jsonl => Format::Jsonl,
        ReplayFormat::Tree | ReplayFormat::Perfetto => Format::Text,
    };
    let mut sink = FlowSink::new(
        checker(&rec)?,
        out_format,
        Output::new(Box::new(io::stdout())),
    );
    if let Some(glob) = opts.path.clone() {
        sink.filter = Some(Box::new(move |op| {
            op.path.as_deref().is_some_and(|p| glob_match(&glob, p))
        }));
    }
    if format == ReplayFormat::Perfetto {
        sink.print = false;
        sink.kept = Some(Vec::new());
    }
    let (events, bad) = feed(&rec, opts, &mut sink)?;
    sink.finish(false)?;
    if let Some(kept) = &sink.kept {
        perfetto::write(kept, &mut io::stdout())?;
    }
    eprintln!(
        "procfs-trace: replayed {events} events from {} ({} lost in the kernel{}{}); {}",
        file.display(),
        rec.lost(),
        if bad > 0 {
            format!(", {bad} undecodable")
        } else {
            String::new()
        },
        if rec.damage.is_empty() {
            String::new()
        } else {
            format!(", {} damaged regions", rec.damage.len())
        },
        sink.tally.summary()
    );
    eprintln!("procfs-trace: {}", sink.tally.coverage());
    if !opts.check {
        return Ok(0);
    }
    let verdict = sink.tally.outcome(Gaps {
        lost: rec.lost(),
        damaged: rec.damage.len(),
    });
    eprintln!("procfs-trace: check: {}", verdict.message());
    Ok(verdict.code())
}

/// `info`: what a recording holds.
pub fn info(file: &Path, out: &mut impl io::Write) -> anyhow::Result<()> {
    let rec = open(file)?;
    let h = &rec.header;
    let mut counter = OpCounter {
        builder: FlowBuilder::new(),
        ops: 0,
    };
    feed(&rec, &ReplayOptions::default(), &mut counter)?;
    let flows = counter.ops + counter.builder.finish(false).len();
    let first = rec
        .chunks
        .iter()
        .map(|c| c.first_ts)
        .filter(|t| *t > 0)
        .min();
    let last = rec.chunks.iter().map(|c| c.last_ts).max();
    writeln!(out, "file:        {} ({} bytes)", file.display(), rec.size)?;
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
    match (first, last) {
        (Some(f), Some(l)) => writeln!(
            out,
            "time span:   {} (monotonic {f} to {l} ns)",
            format_duration(l.saturating_sub(f))
        )?,
        _ => writeln!(out, "time span:   no events")?,
    }
    writeln!(
        out,
        "events:      {} in {} chunks",
        rec.events(),
        rec.chunks.len()
    )?;
    writeln!(out, "operations:  {flows}")?;
    writeln!(out, "lost:        {} events lost in the kernel", rec.lost())?;
    writeln!(
        out,
        "damage:      {}",
        if rec.damage.is_empty() {
            "none".to_owned()
        } else {
            format!("{} regions, see the warnings above", rec.damage.len())
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
    fn event(&mut self, _raw: &[u8], ev: &Event, symbolize: Symbolize) -> io::Result<()> {
        self.builder.push(ev, symbolize);
        Ok(())
    }
    fn tick(&mut self, _new: u64, _total: u64) -> io::Result<()> {
        self.ops += self.builder.release(false).len();
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
