//! `procfs-trace tour`: every scenario of the documents matches the model.

use crate::support;

/// The tour runs every scenario of the documents and all match the model.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn tour_matches_every_scenario() {
    // The kernel matrix (`cargo xtask test`) brings this report back for its
    // per-kernel summary and JUnit file.
    let out = support::run(&["tour", "--report", "/tmp/tour-report.json"]);
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
