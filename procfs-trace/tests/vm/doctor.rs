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
    // bpf_prog_info has recursion_misses from 5.12, bpf_link_info a kprobe
    // link's missed count from 6.7.
    let version = support::kernel_version();
    let losses = text
        .lines()
        .find(|l| l.starts_with("losses "))
        .unwrap_or_else(|| panic!("no losses line: {text}"));
    assert!(
        losses.contains("counts ring buffer overflows, failed map inserts"),
        "{losses}"
    );
    for (what, since) in [
        ("fentry recursion misses", (5, 12)),
        ("kprobe misses", (6, 7)),
    ] {
        let counted = losses.split("; not ").next().unwrap_or("").contains(what);
        assert_eq!(counted, version >= since, "{what}: {losses}");
    }
    assert!(
        text.contains("verdict      procfs-trace can trace here with "),
        "{text}"
    );
}
