//! `procfs-trace trace`: the documented call paths in the raw stream, the
//! command's tree and status, rates and counted losses.

use crate::{
    limits_read,
    support::{self, assert_flow, entry, exit, trace},
};

/// `sh -c 'cat /proc/$$/limits'`: busybox sh execs its last command through
/// `/proc/self/exe`, so the shell's pid is looked up (`proc_root_lookup` →
/// `proc_pid_lookup`) during that exec, and cat, the same process afterwards,
/// finds the pid's dentry cached and only revalidates it.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn cat_shell_pid_limits_follows_the_documented_path() {
    let t = trace(&["--raw"], &["sh", "-c", "cat /proc/$$/limits"]);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let cat = t.of_comm("cat");
    let pid = cat.first().expect("cat events")["tgid"].to_string();
    let all: Vec<_> = t.events.iter().collect();
    assert_flow(
        &all,
        &[
            entry("proc_root_lookup").name(&pid),
            entry("proc_pid_lookup").name(&pid),
            exit("proc_pid_lookup"),
            exit("proc_root_lookup"),
            entry("pid_revalidate").name(&pid).comm("cat"),
        ],
    );
    limits_read(&cat);
    t.assert_lost_only_kernel_skips();
}

#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn ls_proc_lists_static_entries_then_pids() {
    let t = trace(&["--raw"], &["ls", "/proc"]);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let ls = t.of_comm("ls");
    let pos = |e: &serde_json::Value| e["pos"].as_i64();
    assert_flow(
        &ls,
        &[
            entry("proc_root_readdir").check("pos present", |e| e["pos"].is_i64()),
            // proc_readdir hands over to proc_readdir_de on every kernel we boot.
            entry("proc_readdir_de").check("pos present", |e| e["pos"].is_i64()),
            exit("proc_readdir_de"),
            // FIRST_PROCESS_ENTRY is 256: pids start after the static entries.
            entry("proc_pid_readdir").check("pos >= 256", |e| e["pos"].as_i64() >= Some(256)),
            exit("proc_pid_readdir")
                .check("pos advanced past 256", |e| e["pos"].as_i64() > Some(256)),
            exit("proc_root_readdir").check("pos present", |e| e["pos"].is_i64()),
        ],
    );
    assert!(
        ls.iter().any(|e| e["func"] == "proc_readdir"),
        "proc_readdir was not seen"
    );
    let first = ls
        .iter()
        .find(|e| e["func"] == "proc_root_readdir")
        .unwrap();
    assert!(
        pos(first) < Some(256),
        "the first readdir starts in the static range: {first}"
    );
    t.assert_lost_only_kernel_skips();
}

#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn only_the_command_tree_is_traced_and_its_status_is_returned() {
    let t = trace(
        &["--raw"],
        &["sh", "-c", "cat /proc/self/stat >/dev/null; exit 3"],
    );
    assert_eq!(t.code, Some(3), "stderr: {}", t.stderr);
    assert!(!t.events.is_empty());
    for e in &t.events {
        // "exe": busybox sh runs cat by exec'ing /proc/self/exe, and the task is
        // named after that path until cat renames itself.
        assert!(
            ["sh", "exe", "cat"].contains(&e["comm"].as_str().unwrap_or("")),
            "foreign task traced: {e}"
        );
    }
}

#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn tight_stat_loop_rate_and_losses() {
    const N: u32 = 400;
    let script =
        format!("i=0; while [ $i -lt {N} ]; do cat /proc/self/stat >/dev/null; i=$((i+1)); done");
    let started = std::time::Instant::now();
    let bare = std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(bare.success());
    let bare_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let out = support::run(&[
        "trace",
        "--raw",
        "--format",
        "jsonl",
        "-o",
        "/dev/null",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let secs = started.elapsed().as_secs_f64();
    let t = support::Trace {
        events: vec![],
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    };
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let (total, lost) = (t.total(), t.lost());
    println!(
        "RATE: {N} cats, {total} events, {lost} lost, {secs:.2} s traced (start-up included) vs {bare_secs:.2} s untraced, {:.0} events/s",
        total as f64 / secs
    );
    // Each cat walks /proc/<pid>/stat: root and pid lookups, base lookups, and the
    // read down to proc_tgid_stat, entry and exit: at least 10 events each.
    assert!(
        total + lost >= u64::from(N) * 10,
        "{total} events + {lost} lost is too few"
    );
}

/// A one-page ring buffer, read no further ahead than the printer, under a
/// byte-at-a-time read loop (busybox `read` reads one byte per syscall) must
/// overflow; every loss is counted, and the
/// stream's `lost` records add up to the summary's figure.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn overflowing_the_ring_buffer_is_counted_and_reported() {
    let script = "i=0; while [ $i -lt 200 ]; do read x < /proc/self/stat; i=$((i+1)); done";
    let out_file = std::env::temp_dir().join("overflow.jsonl");
    let out = support::run(&[
        "trace",
        "--raw",
        "--format",
        "jsonl",
        "--buffer-kib",
        "4",
        "--backlog-mib",
        "0",
        "-o",
        out_file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    let t = support::Trace {
        events: vec![],
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    };
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut stream_lost = 0;
    let mut last_total = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "lost" {
            stream_lost += v["count"].as_u64().unwrap();
            last_total = v["total"].as_u64().unwrap();
            assert_eq!(stream_lost, last_total, "running total out of step: {line}");
        }
    }
    println!("OVERFLOW: {} events kept, {} lost", t.total(), t.lost());
    assert!(
        t.lost() > 0,
        "a 4 KiB buffer kept up with a byte-wise read loop? {}",
        t.stderr
    );
    assert_eq!(last_total, t.lost(), "the stream and the summary disagree");
}
