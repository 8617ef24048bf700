//! The count-only twin of the tracer: the same functions probed the same
//! way by programs that only count their runs. `cargo xtask bench` measures
//! the tracer's cost per operation against it.

use anyhow::Context as _;
use aya::maps::PerCpuArray;
use tokio::signal::unix::{signal, SignalKind};

use super::tracer::prepare;
use crate::{
    kernel::preflight::Host,
    probes::attach::{attach, Method, Programs},
};

/// Attaches the twins with `method`, waits for SIGINT or SIGTERM, and prints
/// how many times they ran.
pub async fn run(method: Method) -> anyhow::Result<i32> {
    let (_, _, plan) = prepare(&Host::real())?;
    let attached = attach(&plan, method, Programs::Twin)?;
    let fentry = attached
        .methods
        .iter()
        .filter(|m| **m == Method::Fentry)
        .count();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    eprintln!(
        "procfs-trace: {} probes attached as count-only twins ({fentry} fentry, {} kprobe)",
        attached.attached.len(),
        attached.attached.len() - fentry,
    );
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    let runs: PerCpuArray<_, u64> = PerCpuArray::try_from(
        attached
            .ebpf
            .map("TWIN_RUNS")
            .context("TWIN_RUNS map missing")?,
    )?;
    println!("{} runs", runs.get(&0, 0)?.iter().sum::<u64>());
    Ok(0)
}
