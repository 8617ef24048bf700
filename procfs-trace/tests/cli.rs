//! How procfs-trace refuses to run where it cannot trace: these run on any host.

mod support;

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use support::{bin, is_root, kernel_has_kprobes, run};

#[test]
fn unprivileged_users_are_told_to_use_sudo() {
    let mut cmd = Command::new(bin());
    cmd.args(["trace", "--", "true"]);
    if is_root() {
        // Drop to nobody, as a normal user would run it (std sets the groups to
        // just the gid when uid changes).
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().expect("run procfs-trace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("needs root, or the capabilities CAP_BPF and CAP_PERFMON"),
        "{stderr}"
    );
    assert!(stderr.contains("sudo"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn root_on_a_kernel_without_kprobes_is_pointed_to_the_vm() {
    if !is_root() || kernel_has_kprobes() {
        println!(
            "skipped: this check needs root on a kernel without kprobes (like the build host)"
        );
        return;
    }
    let out = run(&["trace", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot run kprobes"), "{stderr}");
    assert!(stderr.contains("CONFIG_KPROBES"), "{stderr}");
    assert!(stderr.contains("cargo xtask vm"), "{stderr}");
}

#[test]
fn bad_arguments_are_rejected_before_anything_runs() {
    let out = run(&["trace", "--comm", "a-name-longer-than-15", "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1 to 15 bytes"), "{stderr}");
    let out = run(&["trace", "--duration=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duration"));
}

#[test]
fn explain_needs_no_privileges() {
    let mut cmd = Command::new(bin());
    cmd.args(["explain", "/proc/1/limits", "--kernel", "6.1"]);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().expect("run procfs-trace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(r#"proc_pid_lookup(name="1") = 0"#),
        "{stdout}"
    );
    assert!(stdout.contains("show=proc_pid_limits"), "{stdout}");
}

#[test]
fn doctor_explains_this_host() {
    if !is_root() || kernel_has_kprobes() {
        println!(
            "skipped: this check needs root on a kernel without kprobes (like the build host)"
        );
        return;
    }
    let out = run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "tracing is impossible here: {text}"
    );
    assert!(text.contains("kprobes      no: CONFIG_KPROBES"), "{text}");
    assert!(
        text.contains("tracing is impossible on this kernel"),
        "{text}"
    );
    assert!(text.contains("cargo xtask vm"), "{text}");
}

/// Before version 8 the kernel wrote an entry and an exit event per call;
/// such a recording (of the tour on 6.1, version 2) still replays and checks.
#[test]
fn a_recording_without_paired_records_still_replays() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/previous-layout/tour-6.1-v2.pfsrec"
    );
    let out = run(&["replay", "--check", "--format", "jsonl", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let flows = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(flows > 100, "{flows} flows: {stderr}");
    let out = run(&["info", file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(format version 2)"), "{text}");
}

#[test]
fn a_recording_of_the_previous_layout_is_refused_not_misread() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/previous-layout/tour-6.1-v1.pfsrec"
    );
    for cmd in [&["replay", "--check", file][..], &["info", file]] {
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("written by procfs-trace 0.1.0 in recording format version 1"),
            "{stderr}"
        );
        assert!(stderr.contains("record it again"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{cmd:?} printed flows from a misread file"
        );
    }
}
