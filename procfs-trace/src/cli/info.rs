//! `procfs-trace info`: what a recording holds.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::replay;

/// Arguments of `info`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The recording.
    pub file: PathBuf,
}

/// Prints the summary.
pub fn run(args: Args) -> anyhow::Result<i32> {
    replay::info(&args.file, &mut std::io::stdout())?;
    Ok(0)
}
