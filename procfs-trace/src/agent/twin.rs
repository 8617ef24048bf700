//! The benchmark twins of the tracer: the same functions probed the same way
//! by programs that only count their runs, or whose exits only stream the
//! least record a call needs. `cargo xtask bench` measures the tracer's cost
//! per operation against both.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{bail, Context as _};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use procfs_trace_common::twin;
use tokio::signal::unix::{signal, SignalKind};

use super::tracer::prepare;
use crate::{
    kernel::preflight::Host,
    probes::attach::{attach, Method, Programs},
};

/// How often the emit-floor records are drained: as often as the tracer's
/// reader looks at a ring that has not woken it.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// Attaches the twins with `method` (emit-floor exits with `emit`), waits
/// for SIGINT or SIGTERM, and prints how many times they ran. Fails if the
/// emit-floor ring dropped records: a failed reserve costs less than a
/// record, so the floor would read low.
pub async fn run(method: Method, emit: bool) -> anyhow::Result<i32> {
    let (_, _, plan) = prepare(&Host::real())?;
    let mut attached = attach(&plan, method, Programs::Twin { emit })?;
    let drain = match emit {
        true => Some(Drain::start(RingBuf::try_from(
            attached
                .ebpf
                .take_map("TWIN_EVENTS")
                .context("TWIN_EVENTS map missing")?,
        )?)?),
        false => None,
    };
    let fentry = attached
        .methods
        .iter()
        .filter(|m| **m == Method::Fentry)
        .count();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    eprintln!(
        "procfs-trace: {} probes attached as {} twins ({fentry} fentry, {} kprobe)",
        attached.attached.len(),
        if emit { "emit-floor" } else { "count-only" },
        attached.attached.len() - fentry,
    );
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    let counts: PerCpuArray<_, u64> = PerCpuArray::try_from(
        attached
            .ebpf
            .map("TWIN_COUNTS")
            .context("TWIN_COUNTS map missing")?,
    )?;
    let total = |at: u32| -> anyhow::Result<u64> { Ok(counts.get(&at, 0)?.iter().sum()) };
    let (runs, dropped) = (total(twin::RUNS)?, total(twin::DROPPED)?);
    match drain {
        Some(d) => println!("{runs} runs, {} records", d.stop()),
        None => println!("{runs} runs"),
    }
    if dropped > 0 {
        bail!(
            "the emit-floor ring buffer had no room for {dropped} records, so the floor reads low"
        );
    }
    Ok(0)
}

/// A thread that empties the emit-floor ring, counting the records it discards.
struct Drain {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Drain {
    fn start(mut ring: RingBuf<MapData>) -> anyhow::Result<Drain> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("twin drain".to_owned())
            .spawn({
                let stop = stop.clone();
                move || {
                    let mut records = 0;
                    let mut drain = || {
                        while ring.next().is_some() {
                            records += 1;
                        }
                    };
                    while !stop.load(Ordering::Acquire) {
                        drain();
                        std::thread::sleep(DRAIN_EVERY);
                    }
                    // What came during the last sleep.
                    drain();
                    records
                }
            })
            .context("starting the emit-floor ring's drain thread")?;
        Ok(Drain { stop, thread })
    }

    /// Stops the thread; the records it drained.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or(0)
    }
}
