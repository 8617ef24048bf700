//! `procfs-trace tour`: every scenario of the documents matches the model.

use std::{process::Output, sync::OnceLock};

use crate::support;

/// Where the tour's report goes: the kernel matrix (`cargo xtask test`)
/// brings it back for its per-kernel summary and JUnit file.
pub(crate) const REPORT: &str = "/tmp/tour-report.json";

/// The tour with the default attach method, run once for the tests that
/// judge it (each start of the tracer costs half a minute under emulation).
pub(crate) fn default_tour() -> &'static Output {
    static TOUR: OnceLock<Output> = OnceLock::new();
    TOUR.get_or_init(|| support::run(&["tour", "--report", REPORT]))
}

/// The tour runs every scenario of the documents and all match the model.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn tour_matches_every_scenario() {
    let out = default_tour();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let table = stdout
        .rsplit_once("scenario ")
        .map(|(_, t)| t)
        .unwrap_or(&stdout);
    println!("TOUR:\nscenario {table}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("14 of 14 scenarios match the model"),
        "{stdout}"
    );
}
