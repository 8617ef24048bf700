//! `procfs-trace doctor` on a kernel that can trace.

use crate::support;

/// doctor tries every attach method for real and says procfs-trace can trace.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn doctor_finds_a_traceable_kernel() {
    let out = support::run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("DOCTOR:\n{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("kprobes      yes: "), "{text}");
    assert!(text.contains("ring buffer  yes"), "{text}");
    assert!(
        text.contains("verdict      procfs-trace can trace here with "),
        "{text}"
    );
}
