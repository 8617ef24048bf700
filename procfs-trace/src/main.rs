//! procfs-trace: an eBPF tracer of the Linux kernel's procfs paths.

use procfs_trace::cli;

/// The agent allocates per event, flow and prediction; mimalloc keeps that
/// off the critical path far better than glibc's allocator (see the replay
/// benchmark).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(anyhow::Error::new(e).context("starting the tokio runtime")),
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ! {
    eprintln!("procfs-trace: error: {e:#}");
    std::process::exit(1)
}
