//! `procfs-trace live`: the top-like view.

use std::{path::PathBuf, time::Duration};

use clap::Args as ClapArgs;

use super::probing::{parse_secs, parse_speed, ProbingArgs};
use crate::live::{self, LiveOptions};

/// Arguments of `live`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Play this recording through the view instead of tracing.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Playing speed of --from (2 is twice as fast; 0 as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Plain-text tables every interval instead of the terminal view (the
    /// default when standard output is not a terminal).
    #[arg(long)]
    pub plain: bool,
    /// Seconds between plain-text tables.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs)]
    pub interval: Duration,
    /// Start with the view filtered to paths matching this glob, e.g. '/proc/*/stat'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    #[command(flatten)]
    pub probing: ProbingArgs,
}

/// Runs the view until it is quit or its source ends.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    live::run(LiveOptions {
        from: args.from,
        speed: args.speed,
        plain: args.plain,
        interval: args.interval,
        path: args.path,
        probing: args.probing.probing(),
    })
    .await
}
