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
    // Every kernel of the matrix has recursion_misses (5.12+); only 6.7+
    // counts kprobe misses.
    let counts_kprobe_misses = support::kernel_version() >= (6, 7);
    let losses = text
        .lines()
        .find(|l| l.starts_with("losses "))
        .unwrap_or_else(|| panic!("no losses line: {text}"));
    assert!(
        losses
            .contains("counts ring buffer overflows, failed map inserts, fentry recursion misses"),
        "{losses}"
    );
    assert_eq!(
        losses.contains("not kprobe misses (Linux 6.7+)"),
        !counts_kprobe_misses,
        "{losses}"
    );
    assert!(
        text.contains("verdict      procfs-trace can trace here with "),
        "{text}"
    );
}
