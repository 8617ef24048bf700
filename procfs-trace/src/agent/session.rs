//! One `trace` run: checks, attach, stream events until the command exits, the
//! duration ends or a signal arrives, then report what was seen and lost.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use procfs_trace_common::{filter, Config, COMM_LEN};
use tokio::{
    io::{unix::AsyncFd, Interest},
    signal::unix::{signal, SignalKind},
};

use super::child;
use crate::{
    events::{
        decode::decode,
        render::{Format, Renderer},
    },
    kernel::{btf::Btf, kallsyms::Kallsyms, preflight::Host},
    probes::{attach::attach, plan::Plan},
};

/// What the user asked `trace` for.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Flat event stream instead of indented call trees.
    pub raw: bool,
    /// Output format.
    pub format: Format,
    /// Trace only this process.
    pub pid: Option<u32>,
    /// Trace only tasks with this comm.
    pub comm: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Ring buffer size in KiB.
    pub buffer_kib: u32,
    /// Where events go (stdout when `None`).
    pub output: Option<PathBuf>,
    /// Command to start and trace (with its descendants).
    pub command: Vec<String>,
}

/// How often the kernel's lost-event counter is read.
const LOST_POLL: Duration = Duration::from_millis(250);

/// Runs a trace session; returns the process exit code.
pub async fn run(opts: TraceOptions) -> anyhow::Result<i32> {
    let host = Host::real();
    host.check()?;
    let kallsyms =
        Kallsyms::from_file(&host.path("proc/kallsyms")).context("reading /proc/kallsyms")?;
    if !kallsyms.addresses_visible() {
        bail!("/proc/kallsyms shows only zero addresses, so probes and show callbacks cannot be resolved: run procfs-trace as root (kernel.kptr_restrict hides addresses from others)");
    }
    if kallsyms.skipped_lines() > 0 {
        eprintln!(
            "procfs-trace: warning: {} lines of /proc/kallsyms could not be parsed and were ignored",
            kallsyms.skipped_lines()
        );
    }
    let btf = Btf::from_file(&host.btf_path())?;
    let plan = Plan::new(&btf, &kallsyms)?;
    let config = configure(&plan, &opts);
    if !plan.skipped.is_empty() {
        let names: Vec<_> = plan.skipped.iter().map(|s| s.func).collect();
        eprintln!(
            "procfs-trace: warning: {} of the probed functions are not in this kernel (absent or inlined), skipped: {}",
            names.len(),
            names.join(", ")
        );
    }
    for d in &plan.degraded {
        eprintln!("procfs-trace: warning: {d}");
    }

    let mut attached = attach(&plan, &config, opts.buffer_kib * 1024)?;
    for (func, why) in &attached.failed {
        eprintln!("procfs-trace: warning: could not attach to {func}: {why}");
    }
    if let Some(why) = &attached.syscalls_missing {
        eprintln!(
            "procfs-trace: warning: syscalls are not followed, so operations have no paths: {why}"
        );
    }
    if let Some(pid) = opts.pid {
        let mut traced: BpfHashMap<_, u32, u8> = BpfHashMap::try_from(
            attached
                .ebpf
                .map_mut("TRACED")
                .context("TRACED map missing")?,
        )?;
        traced.insert(pid, 1, 0)?;
    }
    let ring = RingBuf::try_from(
        attached
            .ebpf
            .take_map("EVENTS")
            .context("EVENTS map missing")?,
    )?;
    let lost_map: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(attached.ebpf.take_map("LOST").context("LOST map missing")?)?;
    eprintln!(
        "procfs-trace: {} probes attached on {} ({} skipped){}",
        attached.attached.len(),
        host.release(),
        plan.skipped.len() + attached.failed.len(),
        if opts.command.is_empty() {
            "; Ctrl-C to stop"
        } else {
            ""
        }
    );

    let out: Box<dyn Write> = match &opts.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(io::stdout()),
    };
    let mut stream = Stream {
        out: BufWriter::new(out),
        renderer: Renderer::new(opts.format, !opts.raw, |addr| {
            kallsyms.resolve(addr).map(|s| {
                if s.offset == 0 {
                    s.name.to_owned()
                } else {
                    format!("{}+{:#x}", s.name, s.offset)
                }
            })
        }),
        events: 0,
        undecodable: 0,
        lost: 0,
        lost_map,
    };

    let started = Instant::now();
    let mut child = match opts.command.is_empty() {
        true => None,
        false => Some(child::spawn(&opts.command)?),
    };
    // SAFETY: the RingBuf owns its map fd, which stays open and unchanged until
    // the AsyncFd (and the RingBuf in it) is dropped.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
        .context("registering the ring buffer with tokio")?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut lost_tick = tokio::time::interval(LOST_POLL);
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut exit_code = 0;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                stream.drain(guard.get_inner_mut())?;
                guard.clear_ready();
            }
            status = async { child.as_mut().expect("guarded").wait().await }, if child.is_some() => {
                exit_code = child::exit_code(status?);
                break;
            }
            _ = lost_tick.tick() => stream.check_lost()?,
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => break,
            _ = sigint.recv() => { exit_code = forward(&mut child, libc::SIGINT).await; break }
            _ = sigterm.recv() => { exit_code = forward(&mut child, libc::SIGTERM).await; break }
        }
    }
    // The command's last events were submitted before it exited: take them too.
    stream.drain(ring.get_mut())?;
    stream.check_lost()?;
    stream.out.flush().or_else(ignore_broken_pipe)?;
    drop(attached);

    eprintln!(
        "procfs-trace: {} events in {:.1} s, {} lost (ring buffer full){}",
        stream.events,
        started.elapsed().as_secs_f64(),
        stream.lost,
        match stream.undecodable {
            0 => String::new(),
            n => format!(", {n} undecodable"),
        }
    );
    Ok(exit_code)
}

/// Filter settings from the options.
fn configure(plan: &Plan, opts: &TraceOptions) -> Config {
    let mut config = plan.config;
    config.self_tgid = std::process::id();
    config.filter = match (opts.command.is_empty(), opts.pid) {
        (false, _) => filter::DESCENDANTS,
        (true, Some(_)) => filter::TGIDS,
        (true, None) => filter::ALL,
    };
    if let Some(comm) = &opts.comm {
        // Length checked by the CLI.
        let bytes = &comm.as_bytes()[..comm.len().min(COMM_LEN - 1)];
        config.comm[..bytes.len()].copy_from_slice(bytes);
        config.comm_len = bytes.len() as u32;
    }
    config
}

/// Passes a signal to the traced command and waits for it; returns its exit code.
async fn forward(child: &mut Option<tokio::process::Child>, sig: i32) -> i32 {
    let Some(child) = child else { return 128 + sig };
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we own (our child, not yet reaped).
        unsafe { libc::kill(pid as i32, sig) };
    }
    match child.wait().await {
        Ok(status) => child::exit_code(status),
        Err(_) => 128 + sig,
    }
}

fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    }
}

/// Output side of the session.
struct Stream<W: Write, S> {
    out: W,
    renderer: Renderer<S>,
    events: u64,
    undecodable: u64,
    lost: u64,
    lost_map: PerCpuArray<MapData, u64>,
}

impl<W: Write, S: Fn(u64) -> Option<String>> Stream<W, S> {
    /// Renders everything the ring buffer holds.
    fn drain(&mut self, ring: &mut RingBuf<aya::maps::MapData>) -> anyhow::Result<()> {
        while let Some(item) = ring.next() {
            match decode(&item) {
                Ok(ev) => {
                    self.events += 1;
                    self.renderer
                        .event(&ev, &mut self.out)
                        .or_else(ignore_broken_pipe)?;
                }
                Err(e) => {
                    if self.undecodable == 0 {
                        eprintln!("procfs-trace: warning: {e}");
                    }
                    self.undecodable += 1;
                }
            }
        }
        self.out.flush().or_else(ignore_broken_pipe)?;
        Ok(())
    }

    /// Reports new kernel-side losses into the stream.
    fn check_lost(&mut self) -> anyhow::Result<()> {
        let total: u64 = self.lost_map.get(&0, 0)?.iter().sum();
        if total > self.lost {
            self.renderer
                .lost(total - self.lost, total, &mut self.out)
                .or_else(ignore_broken_pipe)?;
            self.lost = total;
        }
        Ok(())
    }
}
