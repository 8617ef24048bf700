//! `procfs-trace trace`: attach, print procfs activity, summarise.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::probing::ProbingArgs;
use crate::{
    agent::{session, user::RunAs},
    render::events::Format,
};

/// Arguments of `trace` (and of `check`, which reads the same).
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print the flat event stream instead of checked flows (ignored by check).
    #[arg(long)]
    pub raw: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub probing: ProbingArgs,
    /// Write events to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also record the events to this file, for replay elsewhere.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Run the command as this user (a name, or a numeric uid that needs no
    /// /etc/passwd), with its groups; by default it runs as the caller.
    #[arg(long, value_name = "USER", requires = "command")]
    pub user: Option<String>,
    /// Command to run and trace with its children; tracing stops when it exits
    /// and procfs-trace exits with its status.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl Args {
    /// The session these arguments ask for.
    pub fn options(self) -> anyhow::Result<session::TraceOptions> {
        Ok(session::TraceOptions {
            raw: self.raw,
            format: self.format,
            probing: self.probing.probing(),
            output: self.output,
            user: self.user.as_deref().map(RunAs::resolve).transpose()?,
            command: self.command,
            record: self.record,
        })
    }
}

/// Runs `trace`; exits with the traced command's status.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    session::trace(args.options()?).await
}
