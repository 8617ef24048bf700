//! `procfs-trace doctor`: what this machine allows.

use crate::doctor;

/// Prints the report; exits 1 unless procfs-trace can trace here.
pub fn run() -> anyhow::Result<i32> {
    let report = doctor::examine();
    report.write(&mut std::io::stdout())?;
    Ok(if report.can_trace() { 0 } else { 1 })
}
