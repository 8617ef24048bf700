//! The attached probes and the loop that streams their events into a sink.

use std::{collections::HashSet, io::Read as _, time::Duration};

use anyhow::{bail, Context as _};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use procfs_trace_common::{armed, filter, loss, Config, ProbeId, COMM_LEN};
use tokio::{
    process::Child,
    signal::unix::{signal, Signal, SignalKind},
};

use super::{
    batch::Batch,
    child, clock,
    counts::KernelCounts,
    losses::{self, kprobe_misses_counted, skipped_runs, KprobeLinks, Losses},
    reader::{Delivery, Reader, DEFAULT_BACKLOG_MIB},
    show_names::ShowNames,
    sink::{Lost, Sink},
};
use crate::{
    check::{mounts::ProcMounts, Checker},
    kernel::{btf::Btf, kallsyms::Kallsyms, preflight::Host},
    model::kernel::KernelFacts,
    probes::{
        attach::{attach, Attached, Method, Programs},
        plan::Plan,
    },
};

/// The share of the ring buffer (1/N) waiting from which a record wakes the
/// reader before its next poll: a burst that would fill the ring before then.
const WAKE_SHARE: u32 = 8;

/// Records waiting at the end from which the wait is announced.
const FINISH_NOTICE: usize = 100_000;

/// How often the kernel's loss counters are read (and flows released).
const TICK: Duration = Duration::from_millis(250);

/// Which tasks to trace.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only tasks with this comm (1 to 15 bytes, checked by the CLI).
    pub comm: Option<String>,
    /// Only the agent's descendants (a command it starts).
    pub descendants: bool,
}

/// What to trace and how, as `trace`, `check`, `record` and `live` take it.
#[derive(Debug, Clone)]
pub struct Probing {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only tasks with this comm (1 to 15 bytes, checked by the CLI).
    pub comm: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Ring buffer size in KiB.
    pub buffer_kib: u32,
    /// Memory for records read and waiting, in MiB (see [`Reader`]).
    pub backlog_mib: u32,
    /// How probes are attached.
    pub attach: Method,
}

impl Probing {
    /// Attaches the probes; `descendants` limits tracing to a command the
    /// agent starts (and its children).
    pub fn start(&self, descendants: bool, counting: Counting) -> anyhow::Result<Tracer> {
        let filters = Filters {
            pid: self.pid,
            comm: self.comm.clone(),
            descendants,
        };
        let ring = RingSize {
            buffer_kib: self.buffer_kib,
            backlog_mib: self.backlog_mib,
        };
        Tracer::start(&filters, ring, self.attach, counting)
    }
}

/// The memory events wait in: the kernel's ring buffer, then the backlog
/// the agent's reader copies them into.
#[derive(Debug, Clone, Copy)]
pub struct RingSize {
    /// Ring buffer size in KiB.
    pub buffer_kib: u32,
    /// Backlog in MiB.
    pub backlog_mib: u32,
}

impl Default for RingSize {
    fn default() -> RingSize {
        RingSize {
            buffer_kib: 4096,
            backlog_mib: DEFAULT_BACKLOG_MIB,
        }
    }
}

/// Whether the kernel keeps its own counts per process and function, which
/// only a sink that [`Sink::wants_counts`] reads: they cost every probe run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Counted from the moment events flow, so no operation escapes them.
    InKernel,
    /// Not counted.
    Off,
}

/// Loaded and attached probes.
pub struct Tracer {
    /// The thread copying records out of the ring buffer. Declared (so
    /// dropped, and its thread stopped) first: its system calls run through
    /// the syscall tracepoints, and patching those while a CPU runs them has
    /// oopsed guests under emulation (a 7.2 guest did, in this thread).
    reader: Reader,
    /// Declared (so dropped) before `attached`: these descriptors also hold
    /// the kprobe links, which must go when the object's own do.
    kprobe_links: Option<KprobeLinks>,
    attached: Attached,
    /// What was decided for this kernel.
    pub plan: Plan,
    /// The settings handed to the eBPF programs.
    pub config: Config,
    lost_map: PerCpuArray<MapData, u64>,
    counts: KernelCounts,
    /// Whether the kernel keeps `counts`.
    counting: Counting,
    losses: Losses,
    /// [`Losses::skipped_runs`] by program name.
    skipped_by_program: Vec<(String, u64)>,
    /// When the loss counters were last read (0 before the first reading):
    /// the next reading's losses happened after it began.
    last_began_ns: u64,
    /// The eBPF side's on switch (see `ARMED` in procfs-trace-ebpf).
    armed: Array<MapData, u32>,
    /// Kernel symbols, for the show callbacks events name.
    names: ShowNames,
    /// The running kernel as the model sees it.
    pub kernel: KernelFacts,
    /// Where proc is mounted besides /proc, as the agent's mount namespace
    /// saw it at start-up.
    pub proc_mounts: ProcMounts,
    /// Events delivered so far.
    pub events: u64,
    /// Records that could not be decoded.
    pub undecodable: u64,
    /// SIGINT and SIGTERM, caught from before "probes attached" is said:
    /// a signal sent on that line must stop the stream, not kill the agent.
    sigint: Signal,
    sigterm: Signal,
}

/// Why streaming stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The command exited with this code (or 128 + signal).
    Exited(i32),
    /// The duration ran out.
    Duration,
    /// SIGINT or SIGTERM, with its number.
    Signal(i32),
}

impl Tracer {
    /// Checks the machine, plans for this kernel and attaches every probe.
    pub fn start(
        filters: &Filters,
        size: RingSize,
        method: Method,
        counting: Counting,
    ) -> anyhow::Result<Tracer> {
        let host = Host::real();
        let (kallsyms, btf, plan) = prepare(&host)?;
        let ring_bytes = size.buffer_kib * 1024;
        let config = Config {
            wake_bytes: ring_bytes / WAKE_SHARE,
            ..configure(&plan, filters)
        };
        let programs = Programs::Tracing {
            config: &config,
            ring_bytes,
        };
        let mut attached = attach(&plan, method, programs)?;
        for (func, why) in &attached.failed {
            warn(&format!("could not attach to {func}: {why}"));
        }
        let kprobe_links = kprobe_links(&attached, &btf);
        if let Some(pid) = filters.pid {
            let map = attached
                .ebpf
                .map_mut("TRACED")
                .context("TRACED map missing")?;
            BpfHashMap::<_, u32, u8>::try_from(map)?.insert(pid, 1, 0)?;
        }
        let ring = RingBuf::try_from(
            attached
                .ebpf
                .take_map("EVENTS")
                .context("EVENTS map missing")?,
        )?;
        // The most records the ring buffer can hold (the smallest record: a probe event).
        let ring_records =
            ring_bytes as usize / (std::mem::size_of::<procfs_trace_common::ProbeEvent>() + 8);
        let reader = Reader::spawn(ring, ring_records, size.backlog_mib as usize * (1 << 20))?;
        let lost_map =
            PerCpuArray::try_from(attached.ebpf.take_map("LOST").context("LOST map missing")?)?;
        let counts = KernelCounts::new(
            PerCpuHashMap::try_from(
                attached
                    .ebpf
                    .take_map("COUNTS")
                    .context("COUNTS map missing")?,
            )?,
            &attached.attached,
        );
        let mut armed = Array::try_from(
            attached
                .ebpf
                .take_map("ARMED")
                .context("ARMED map missing")?,
        )?;
        let sigint = signal(SignalKind::interrupt())?;
        let sigterm = signal(SignalKind::terminate())?;
        // Every probe and tracepoint is in place: from here flows are whole.
        let wanted = match counting {
            Counting::InKernel => armed::EVENTS | armed::COUNTS,
            Counting::Off => armed::EVENTS,
        };
        armed
            .set(0, wanted, 0)
            .context("arming the eBPF programs")?;
        let release = host.release();
        let kernel = KernelFacts::running(&release, read_config(&host, &release).as_deref())
            .with_context(|| format!("cannot parse the kernel release {release:?}"))?;
        let fentry = attached
            .methods
            .iter()
            .filter(|m| **m == Method::Fentry)
            .count();
        eprintln!(
            "procfs-trace: {} probes attached on {release} ({fentry} fentry, {} kprobe; {} skipped)",
            attached.attached.len(),
            attached.attached.len() - fentry,
            plan.skipped.len() + attached.failed.len(),
        );
        Ok(Tracer {
            attached,
            plan,
            config,
            reader,
            lost_map,
            counts,
            kprobe_links,
            counting,
            losses: Losses::default(),
            skipped_by_program: Vec::new(),
            last_began_ns: 0,
            armed,
            names: ShowNames::new(kallsyms),
            kernel,
            // Unreadable means none known: such paths stay outside the model.
            proc_mounts: ProcMounts::from_mountinfo(
                &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            ),
            events: 0,
            undecodable: 0,
            sigint,
            sigterm,
        })
    }

    /// Probes attached, with the symbol each is attached to and how.
    pub fn attached(&self) -> impl Iterator<Item = (&crate::probes::plan::Planned, Method)> {
        self.attached
            .attached
            .iter()
            .zip(&self.attached.methods)
            .filter_map(|(id, m)| {
                self.plan
                    .probes
                    .iter()
                    .find(|p| p.id == *id)
                    .map(|p| (p, *m))
            })
    }

    /// A checker for what this tracer sees.
    pub fn checker(&self) -> Checker {
        Checker::new(self.kernel.clone(), self.probed()).with_mounts(self.proc_mounts.clone())
    }

    /// Names of the functions actually probed.
    pub fn probed(&self) -> HashSet<ProbeId> {
        self.attached.attached.iter().copied().collect()
    }

    /// Events the kernel could not deliver, as of the last tick (the figure
    /// the sink was given, so a summary adds up with the stream).
    pub fn lost(&self) -> u64 {
        self.losses.total()
    }

    /// Losses so far, by cause (as of the last tick).
    pub fn losses(&self) -> Losses {
        self.losses
    }

    /// The programs whose runs the kernel skipped, with how many (as of
    /// the last tick, so they add up to [`Losses::skipped_runs`]).
    pub fn skipped_by_program(&self) -> &[(String, u64)] {
        &self.skipped_by_program
    }

    /// The programs whose runs the kernel skipped, as a sentence for the
    /// summary; none when it skipped none.
    pub fn describe_skips(&self) -> Option<String> {
        losses::describe_skips(self.skipped_by_program.clone())
    }

    /// Streams events into `sink` until `child` exits (if given), `duration`
    /// passes, or a signal arrives; then drains what is left.
    pub async fn stream(
        &mut self,
        mut child: Option<&mut Child>,
        duration: Option<Duration>,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<Stopped> {
        let mut tick = tokio::time::interval(TICK);
        let deadline = duration.map(|d| tokio::time::Instant::now() + d);
        // One batch per turn of the loop, so that under a flood the timer,
        // signal and child drivers still run between batches; and a yield
        // after each, so that whatever shares this task (the live view's
        // tables and keys) does too. Without it, only tokio's budget of 128
        // channel receives per poll would end a turn: under a flood, many
        // seconds of batches.
        let stopped = loop {
            tokio::select! {
                d = self.reader.next() => {
                    self.deliver(d?, sink)?;
                    tokio::task::yield_now().await;
                }
                status = async { child.as_mut().expect("guarded").wait().await }, if child.is_some() => {
                    break Stopped::Exited(child::exit_code(status?));
                }
                _ = tick.tick() => self.tick(sink)?,
                _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => break Stopped::Duration,
                _ = self.sigint.recv() => break Stopped::Signal(libc::SIGINT),
                _ = self.sigterm.recv() => break Stopped::Signal(libc::SIGTERM),
            }
        };
        if let (Stopped::Signal(sig), Some(child)) = (stopped, child) {
            // The command gets the same signal, and its last events are kept.
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on our own child, not yet reaped.
                unsafe { libc::kill(pid as i32, sig) };
            }
            let _ = child.wait().await;
        }
        self.finish(sink).await?;
        Ok(stopped)
    }

    /// Takes what is still to come after streaming stopped: the records
    /// waiting in the backlog, those in the ring buffer (no more than it holds,
    /// as others may keep writing), the count of those left unread, and a
    /// last reading of the counters; an interrupt meanwhile drops what still
    /// waits, counted as unread. `stream` ends with it; call it after
    /// dropping a `stream` future that did not end by itself.
    pub async fn finish(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        self.forget_signals();
        let waiting = self.reader.waiting();
        if waiting >= FINISH_NOTICE {
            eprintln!(
                "procfs-trace: taking the {waiting} events still waiting (interrupt again to drop them)"
            );
        }
        let seq = self.reader.flush();
        let mut dropping = false;
        loop {
            let d = tokio::select! {
                d = self.reader.next() => d?,
                _ = self.sigint.recv(), if !dropping => { dropping = true; continue }
                _ = self.sigterm.recv(), if !dropping => { dropping = true; continue }
            };
            let served = matches!(d, Delivery::Flushed { seq: s, .. } if s == seq);
            match d {
                // Dropped unread: they count as lost, and mark what they may have cut short.
                Delivery::Records(batch) if dropping => self.losses.unread += batch.len() as u64,
                d => self.deliver(d, sink)?,
            }
            if served {
                break;
            }
        }
        self.tick(sink)
    }

    /// Forgets the interrupts delivered so far: whichever of them stopped the
    /// stream (the tracer's own, or a caller's such as the live view's, which
    /// the tracer sees too), only one that comes later asks to drop the backlog.
    fn forget_signals(&mut self) {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for s in [&mut self.sigint, &mut self.sigterm] {
            while let std::task::Poll::Ready(Some(())) = s.poll_recv(&mut cx) {}
        }
    }

    /// Hands a delivery's records to the sink, or counts what a flush left.
    fn deliver(&mut self, d: Delivery, sink: &mut dyn Sink) -> anyhow::Result<()> {
        match d {
            Delivery::Records(batch) => take(
                batch,
                &self.names,
                &mut self.events,
                &mut self.undecodable,
                sink,
            ),
            Delivery::Flushed { unread, .. } => {
                self.losses.unread += unread;
                Ok(())
            }
        }
    }

    /// Reads the kernel's counts and loss counters, and lets the sink
    /// release what it holds.
    fn tick(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        if self.counting == Counting::InKernel && sink.wants_counts() {
            let counted = self
                .counts
                .read(self.names.kallsyms())
                .context("reading the kernel's counts")?;
            sink.counted(&counted)?;
        }
        let before = self.losses;
        let began_ns = clock::monotonic_ns();
        let slot = |i| -> anyhow::Result<u64> { Ok(self.lost_map.get(&i, 0)?.iter().sum()) };
        self.losses.ring = slot(loss::RING)?;
        self.losses.map_inserts = slot(loss::MAP_INSERT)?;
        if let Some(by_program) = skipped_runs(&self.attached.ebpf) {
            self.losses.skipped_runs = by_program.iter().map(|(_, n)| n).sum();
            self.skipped_by_program = by_program;
        }
        if let Some(links) = &self.kprobe_links {
            self.losses.kprobe_misses = links.missed();
        }
        let total = self.losses.total();
        let ended_ns = clock::monotonic_ns();
        let last_began = std::mem::replace(&mut self.last_began_ns, began_ns);
        sink.tick(Lost {
            new: total.saturating_sub(before.total()),
            unflagged: self.losses.unflagged().saturating_sub(before.unflagged()),
            total,
            from_ns: last_began,
            to_ns: ended_ns,
            waiting: self.reader.waiting() as u64,
        })?;
        sink.flush()?;
        Ok(())
    }
}

impl Drop for Tracer {
    /// Disarms before the programs are detached, so no flow half-probed by
    /// the detaching is reported. (Not at the end of `stream`: the tour
    /// streams once per scenario, each starting its command beforehand.)
    fn drop(&mut self) {
        let _ = self.armed.set(0, 0, 0);
    }
}

/// Checks the machine, reads its symbols and BTF, and plans the probes for
/// its kernel, warning of what is skipped or degraded.
pub fn prepare(host: &Host) -> anyhow::Result<(Kallsyms, Btf, Plan)> {
    host.check()?;
    let kallsyms =
        Kallsyms::from_file(&host.path("proc/kallsyms")).context("reading /proc/kallsyms")?;
    if !kallsyms.addresses_visible() {
        bail!("/proc/kallsyms shows only zero addresses, so probes and show callbacks cannot be resolved: run procfs-trace as root (kernel.kptr_restrict hides addresses from others)");
    }
    if kallsyms.skipped_lines() > 0 {
        warn(&format!(
            "{} lines of /proc/kallsyms could not be parsed and were ignored",
            kallsyms.skipped_lines()
        ));
    }
    let btf = Btf::from_file(&host.btf_path())?;
    let plan = Plan::new(&btf, &kallsyms)?;
    if !plan.skipped.is_empty() {
        let names: Vec<_> = plan.skipped.iter().map(|s| s.func).collect();
        warn(&format!(
            "{} of the probed functions are not in this kernel (absent or inlined), skipped: {}",
            names.len(),
            names.join(", ")
        ));
    }
    for d in &plan.degraded {
        warn(d);
    }
    Ok((kallsyms, btf, plan))
}

/// The links whose missed counts tell the kprobe hits the kernel missed, or
/// `None`, with a warning, when some probe is a kprobe and this kernel does
/// not count them (its `bpf_link_info` has no `kprobe.missed` before 6.7).
fn kprobe_links(attached: &Attached, btf: &Btf) -> Option<KprobeLinks> {
    let kprobes = attached
        .methods
        .iter()
        .filter(|m| **m == Method::Kprobe)
        .count();
    if kprobes == 0 {
        return None;
    }
    if !kprobe_misses_counted(btf) {
        warn("this kernel does not count kprobe misses (Linux 6.7 and later do): a hit it missed shows only as a call without its entry or exit, and its operation is checked as incomplete");
        return None;
    }
    let links = KprobeLinks::of(&attached.ebpf);
    // An entry and a return link per kprobe probe.
    if links.len() < 2 * kprobes {
        warn(&format!(
            "found {} of the {} kprobe links, so kprobe misses are counted only for those",
            links.len(),
            2 * kprobes
        ));
    }
    Some(links)
}

/// Hands a batch of records to `sink`, counting those that did not decode.
fn take(
    batch: Batch,
    names: &ShowNames,
    events: &mut u64,
    undecodable: &mut u64,
    sink: &mut dyn Sink,
) -> anyhow::Result<()> {
    let symbolize = |addr: u64| names.name(addr);
    batch.try_for_each(|raw, decoded| -> anyhow::Result<()> {
        match decoded {
            Ok(ev) => {
                *events += 1;
                sink.event(raw, ev, &symbolize)?;
            }
            Err(e) => {
                if *undecodable == 0 {
                    warn(&e.to_string());
                }
                *undecodable += 1;
            }
        }
        Ok(())
    })?;
    sink.flush()?;
    Ok(())
}

/// One warning line on standard error.
pub fn warn(msg: &str) {
    eprintln!("procfs-trace: warning: {msg}");
}

/// The running kernel's config: /proc/config.gz, else /boot/config-RELEASE.
fn read_config(host: &Host, release: &str) -> Option<String> {
    if let Ok(f) = std::fs::File::open(host.path("proc/config.gz")) {
        let mut text = String::new();
        if flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .is_ok()
        {
            return Some(text);
        }
    }
    std::fs::read_to_string(host.path(&format!("boot/config-{release}"))).ok()
}

/// The eBPF settings for these filters.
fn configure(plan: &Plan, filters: &Filters) -> Config {
    let mut config = plan.config;
    config.self_tgid = std::process::id();
    config.filter = match (filters.descendants, filters.pid) {
        (true, _) => filter::DESCENDANTS,
        (false, Some(_)) => filter::TGIDS,
        (false, None) => filter::ALL,
    };
    if let Some(comm) = &filters.comm {
        let bytes = &comm.as_bytes()[..comm.len().min(COMM_LEN - 1)];
        config.comm[..bytes.len()].copy_from_slice(bytes);
        config.comm_len = bytes.len() as u32;
    }
    config
}
