//! `procfs-trace tour`: the documents' scenarios under the tracer.

use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::{probes::attach::Method, render::events::Format, tour};

/// Arguments of `tour`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Output format of the flows.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also record the tour's events to this file (the project's test fixtures
    /// are made this way).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also write a JSON summary (kernel, probes, verdict per scenario, losses).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// How to attach: fentry/fexit where the kernel allows it and kprobes
    /// elsewhere (auto), or only one method.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub attach: Method,
}

/// Runs the tour; exits 1 unless every scenario matched.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    tour::run(
        args.format,
        args.record.as_deref(),
        args.report.as_deref(),
        args.attach,
    )
    .await
}
