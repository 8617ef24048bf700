//! `procfs-trace doctor`: what this machine allows.

use crate::doctor;

/// Prints the report.
pub fn run() -> anyhow::Result<i32> {
    doctor::examine().write(&mut std::io::stdout())?;
    Ok(0)
}
