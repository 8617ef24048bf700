//! `record`: the tracer's raw events into a recording, a chunk per tick.

use std::{io, path::PathBuf};

use anyhow::Context as _;
use procfs_trace_common::{Chain, ProbeId, Role, NO_ARG};

use super::{
    child, clock,
    output::{open_private, DurableFile},
    sink::{Lost, Sink},
    tracer::{Counting, Probing, Stopped, Tracer},
    user::RunAs,
};
use crate::{
    events::{decode::Event, Symbolize},
    model::kernel::ConfigSource,
    recording::{
        format::{Header, ProbeRecord},
        writer::Writer,
    },
};

/// What the user asked `record` for.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The file to write.
    pub output: PathBuf,
    /// What to trace and how.
    pub probing: Probing,
    /// Command to start and record with its descendants.
    pub command: Vec<String>,
    /// Who the command runs as (the caller when `None`).
    pub user: Option<RunAs>,
}

/// Records until the command exits, the duration ends or a signal; returns the exit code.
pub async fn run(opts: RecordOptions) -> anyhow::Result<i32> {
    let mut tracer = opts
        .probing
        .start(!opts.command.is_empty(), Counting::Off)?;
    let mut command = vec!["procfs-trace".to_owned(), "record".to_owned()];
    command.extend(opts.command.iter().cloned());
    let mut sink = create(&opts.output, &tracer, command)?;
    let mut child = match opts.command.is_empty() {
        true => {
            eprintln!(
                "procfs-trace: recording to {}; Ctrl-C to stop",
                opts.output.display()
            );
            None
        }
        false => Some(child::spawn(&opts.command, opts.user.as_ref())?),
    };
    let stopped = tracer
        .stream(child.as_mut(), opts.probing.duration, &mut sink)
        .await?;
    sink.writer.flush_chunk(0, 0, None)?;
    eprintln!(
        "procfs-trace: recorded {} events ({} lost in the kernel) to {}, {} bytes",
        sink.writer.events,
        tracer.lost(),
        opts.output.display(),
        sink.writer.bytes
    );
    Ok(match stopped {
        Stopped::Exited(code) => code,
        _ => 0,
    })
}

/// The header describing this tracer's kernel and probes.
pub fn header(tracer: &Tracer, command: Vec<String>) -> Header {
    let chains = |id: ProbeId, spec: &procfs_trace_common::ProbeSpec| {
        let addr = match id.def().role {
            Role::MountOpts => "mount",
            _ => "show",
        };
        [
            ("name", spec.name),
            ("pos", spec.pos),
            (addr, spec.addr),
            ("pidns", spec.pidns),
        ]
        .into_iter()
        .filter(|(_, c): &(&str, Chain)| c.arg != NO_ARG)
        .map(|(what, c)| {
            (
                what.to_owned(),
                c.arg,
                c.offsets[..usize::from(c.steps).min(c.offsets.len())].to_vec(),
            )
        })
        .collect()
    };
    let c = &tracer.config;
    Header {
        tool: format!("procfs-trace {}", env!("CARGO_PKG_VERSION")),
        kernel_release: tracer.kernel.release.clone(),
        kernel_config: tracer.kernel.options(),
        kernel_config_source: match &tracer.kernel.source {
            ConfigSource::Running => "running".to_owned(),
            ConfigSource::Debian(v) => format!("debian {v}"),
        },
        probes: tracer
            .attached()
            .map(|(p, method)| ProbeRecord {
                func: p.id.def().func.to_owned(),
                symbol: p.symbol.clone(),
                method: method.as_str().to_owned(),
                chains: chains(p.id, &p.spec),
            })
            .collect(),
        skipped: tracer
            .plan
            .skipped
            .iter()
            .map(|s| s.func.to_owned())
            .collect(),
        offsets: vec![
            ("task_struct.real_parent".to_owned(), c.task_real_parent),
            ("task_struct.tgid".to_owned(), c.task_tgid),
            ("pt_regs.di".to_owned(), c.regs_arg0),
            ("pt_regs.si".to_owned(), c.regs_arg1),
            ("pt_regs.dx".to_owned(), c.regs_arg2),
            ("pt_regs.r10".to_owned(), c.regs_arg3),
            ("pt_regs.orig_ax".to_owned(), c.regs_nr),
        ],
        clock_monotonic_ns: clock::monotonic_ns(),
        clock_realtime_ns: clock::now_ns(libc::CLOCK_REALTIME),
        // Attaching fails when the syscall tracepoints cannot be attached.
        syscalls: true,
        command,
        proc_mounts: tracer.proc_mounts.clone(),
        ..Header::of_this_build()
    }
}

/// Writes raw events and the symbols their callbacks need.
pub struct RecordSink<W: io::Write> {
    /// The recording being written.
    pub writer: Writer<W>,
}

/// Creates `path` (mode 0600) and writes the header of this tracer's recording.
pub fn create(
    path: &std::path::Path,
    tracer: &Tracer,
    command: Vec<String>,
) -> anyhow::Result<RecordSink<DurableFile>> {
    let file = open_private(path)?;
    let writer = Writer::new(DurableFile::new(file), &header(tracer, command))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(RecordSink { writer })
}

impl<W: io::Write> Sink for RecordSink<W> {
    fn event(&mut self, raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        let addr = match &ev {
            Event::Probe(p) => p.addr,
            Event::Call(c) => c.entry.as_ref().and_then(|e| e.addr),
            Event::Syscall(_) | Event::SyscallCall(_) => None,
        };
        if let Some((addr, name)) = addr.and_then(|a| Some((a, symbolize(a)?))) {
            self.writer.symbol(addr, &name);
        }
        self.writer.event(raw, ev.origin().ts_ns)
    }
    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        self.writer.tick(lost.new, lost.unflagged, lost.reading())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
