//! procfs-trace: an eBPF tracer of the Linux kernel's procfs paths.

mod cli;

use clap::Parser as _;

use procfs_trace::{agent, doctor, explain, live, replay, tour};

use crate::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(anyhow::Error::new(e).context("starting the tokio runtime")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Trace(args) => agent::session::run(args.into(), false).await,
            Command::Check(args) => agent::session::run(args.into(), true).await,
            Command::Tour(args) => {
                tour::run(
                    args.format,
                    args.record.as_deref(),
                    args.report.as_deref(),
                    args.attach,
                )
                .await
            }
            Command::Record(args) => agent::record::run(args.into()).await,
            Command::Replay(args) => replay::run(&args.file, args.format, &args.options()),
            Command::Doctor => doctor::examine()
                .write(&mut std::io::stdout())
                .map(|()| 0)
                .map_err(Into::into),
            Command::Info(args) => replay::info(&args.file, &mut std::io::stdout()).map(|()| 0),
            Command::Explain(args) => explain::run(
                &args.path,
                args.op.map(Into::into),
                args.kernel.as_deref(),
                &mut std::io::stdout(),
            )
            .map(|()| 0),
            Command::Live(args) => live::run(args.into()).await,
        }
    });
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ! {
    eprintln!("procfs-trace: error: {e:#}");
    std::process::exit(1)
}
