//! `procfs-trace explain`: the model's prediction for a path.

use clap::{Args as ClapArgs, ValueEnum};

use crate::{explain, model::OpKind};

/// Arguments of `explain`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A path under /proc, e.g. /proc/1/limits.
    pub path: String,
    /// Only this operation (default: what applies to the path).
    #[arg(long, value_enum)]
    pub op: Option<OpArg>,
    /// Kernel version to predict for, e.g. 6.1 (default: the running kernel).
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
}

/// Operations `explain` can predict.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpArg {
    /// The path walk of an open or stat.
    Lookup,
    /// A directory listing.
    Readdir,
    /// A read.
    Read,
    /// Reading a symlink.
    Readlink,
}

impl From<OpArg> for OpKind {
    fn from(op: OpArg) -> Self {
        match op {
            OpArg::Lookup => OpKind::Lookup,
            OpArg::Readdir => OpKind::Readdir,
            OpArg::Read => OpKind::Read,
            OpArg::Readlink => OpKind::Readlink,
        }
    }
}

/// Prints the prediction.
pub fn run(args: Args) -> anyhow::Result<i32> {
    explain::run(
        &args.path,
        args.op.map(Into::into),
        args.kernel.as_deref(),
        &mut std::io::stdout(),
    )?;
    Ok(0)
}
