//! `procfs-trace replay`: a recording's flows, checked, without root.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::replay::{self, ReplayFormat, ReplayOptions};

/// Arguments of `replay`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The recording.
    pub file: PathBuf,
    /// Exit 1 on any divergence, 3 when events were lost, incomplete or damaged.
    #[arg(long)]
    pub check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Tree)]
    pub format: ReplayFormat,
    /// Only this process id.
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only tasks with this name.
    #[arg(long, value_name = "NAME")]
    pub comm: Option<String>,
    /// Only operations on paths matching this glob, e.g. '/proc/*/limits'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
}

/// Replays the file; with `--check`, exits by the verdicts.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let opts = ReplayOptions {
        check: args.check,
        pid: args.pid,
        comm: args.comm,
        path: args.path,
    };
    replay::run(&args.file, args.format, &opts)
}
