//! `procfs-trace record`: the tracer's events into a file.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::probing::ProbingArgs;
use crate::agent::{
    record::{self, RecordOptions},
    user::RunAs,
};

/// Arguments of `record`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The recording to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub probing: ProbingArgs,
    /// Run the command as this user (a name, or a numeric uid that needs no
    /// /etc/passwd), with its groups; by default it runs as the caller.
    #[arg(long, value_name = "USER", requires = "command")]
    pub user: Option<String>,
    /// Command to run and record with its children.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Records until the command exits, the duration ends or a signal comes.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    record::run(RecordOptions {
        output: args.output,
        probing: args.probing.probing(),
        user: args.user.as_deref().map(RunAs::resolve).transpose()?,
        command: args.command,
    })
    .await
}
