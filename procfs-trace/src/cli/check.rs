//! `procfs-trace check`: trace with flows always, and exit by the verdicts.

use super::trace::Args;
use crate::agent::session;

/// Runs `check`: 0 on a pass, 1 on a divergence, 3 when evidence was missing.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    session::check(args.options()?).await
}
