//! Losses the kernel causes, counted and never passed.

use std::{
    io::{BufReader, Read as _},
    process::{Command, Stdio},
};

use crate::{park::park_readers_in_seq_read, support};

/// Threads parked inside `seq_read_iter` at once: more than a kretprobe's
/// default return instances (max(10, 2 × CPUs); the guests have 2 CPUs).
const PARKED: usize = 40;

/// A kretprobe has a fixed number of return instances; threads beyond them
/// inside its function lose their return. From 6.7 the kernel counts such
/// misses per link, and the summary names them; before, it does not, and the
/// calls without their exit make the operations incomplete. Either way the
/// check is inconclusive (exit 3), never a pass.
///
/// The threads are parked deterministically: each reads its own
/// `/proc/self/stat` into a page registered with userfaultfd, so the copy
/// out of `seq_read_iter` faults and waits until every thread has faulted.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn kretprobe_misses_are_counted_and_never_pass() {
    let flows = std::env::temp_dir().join("kretprobe-misses.jsonl");
    let mut check = Command::new(support::bin())
        .args(["check", "--attach", "kprobe", "--format", "jsonl", "-o"])
        .arg(&flows)
        .args(["--pid", &std::process::id().to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(check.stderr.take().unwrap());
    let mut said = support::wait_attached(&mut stderr);
    let faulted = park_readers_in_seq_read(PARKED, || ()).faulted;
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(check.id() as i32, libc::SIGINT) };
    let status = check.wait().unwrap();
    stderr.read_to_string(&mut said).unwrap();
    println!("{said}");
    assert_eq!(faulted, PARKED, "not every reader parked: {said}");
    assert_eq!(status.code(), Some(3), "{said}");
    let summary = said
        .lines()
        .rev()
        .find(|l| l.contains(" events in "))
        .expect("a summary line");
    if support::kernel_version() >= (6, 7) {
        let missed = summary_count(summary, " kprobe hits missed by the kernel");
        assert!(
            missed >= (PARKED - 2 * 10) as u64,
            "{missed} kprobe misses for {PARKED} parked threads: {said}"
        );
    } else {
        assert!(said.contains("does not count kprobe misses"), "{said}");
    }
    // The reads that lost their return are incomplete, whatever the kernel
    // counted.
    let incomplete = std::fs::read_to_string(&flows)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"flow""#) && l.contains(r#""kind":"read""#))
        .filter(|l| l.contains(r#""verdict":"inconclusive""#))
        .count();
    assert!(
        incomplete >= PARKED - 2 * 10,
        "{incomplete} inconclusive reads for {PARKED} parked threads: {said}"
    );
}

/// The number just before `label` in a summary line.
fn summary_count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("no{label} in {summary}"));
    summary[..at]
        .rsplit([' ', '(', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before{label} in {summary}"))
}
