//! Tests on a real kernel with kprobes: `cargo xtask test` runs them inside a VM
//! (`--include-ignored`); on a host without kprobes they are ignored.
//!
//! Each test traces only the command it starts (procfs-trace follows the
//! command's descendants), so other activity on the machine cannot make it pass.

mod support;

use support::{assert_flow, entry, exit, trace};

/// The read half of `cat /proc/PID/limits`, from cat's own events.
fn limits_read(cat: &[&serde_json::Value]) {
    assert_flow(
        cat,
        &[
            entry("proc_tgid_base_lookup").name("limits"),
            entry("proc_pident_lookup").name("limits"),
            exit("proc_pident_lookup"),
            exit("proc_tgid_base_lookup"),
            entry("seq_read_iter")
                .name("limits")
                .show("proc_single_show"),
            entry("proc_single_show")
                .name("limits")
                .show("proc_pid_limits"),
            entry("proc_pid_limits"),
            exit("proc_pid_limits"),
            exit("proc_single_show"),
            exit("seq_read_iter"),
        ],
    );
}

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
    assert_eq!(t.lost(), 0);
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
    assert_eq!(t.lost(), 0);
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

/// `check` rebuilds the open and the reads of `cat /proc/PID/limits` into
/// flows with their paths, and the model matches each of them.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn check_matches_the_flows_of_cat_limits() {
    let out_file = std::env::temp_dir().join("check-limits.jsonl");
    let out = support::run(&[
        "check",
        "--format",
        "jsonl",
        "-o",
        out_file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /proc/$$/limits >/dev/null; exit 0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("PASS"), "{stderr}");
    let flows: Vec<serde_json::Value> = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "flow")
        .collect();
    let on_limits: Vec<_> = flows
        .iter()
        .filter(|f| f["path"].as_str().is_some_and(|p| p.ends_with("/limits")))
        .collect();
    let kinds: Vec<&str> = on_limits
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["lookup", "read", "read"], "{on_limits:?}");
    for f in &on_limits {
        assert_eq!(f["verdict"], "match", "{f}");
    }
    let read = on_limits[1];
    assert_eq!(read["calls"][0]["probe"], "seq_read");
    assert_eq!(read["calls"][0]["children"][0]["show"], "proc_single_show");
}

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

#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn tight_stat_loop_rate_and_losses() {
    const N: u32 = 2000;
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

/// A one-page ring buffer under a byte-at-a-time read loop (busybox `read`
/// reads one byte per syscall) must overflow; every loss is counted, and the
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

/// A recorder killed with SIGKILL leaves a file that replays up to its last
/// flushed chunk (chunks are flushed every 250 ms).
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn a_killed_recorder_leaves_a_readable_file() {
    use std::os::unix::process::CommandExt as _;
    let file = std::env::temp_dir().join("killed.pftrace");
    let mut recorder = std::process::Command::new(support::bin())
        .args(["record", "-o", file.to_str().unwrap(), "--", "sh", "-c"])
        .arg("while :; do cat /proc/self/stat >/dev/null; done")
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    // SAFETY: kill(2) on the process group we just created (recorder and its loop).
    unsafe { libc::kill(-(recorder.id() as i32), libc::SIGKILL) };
    let _ = recorder.wait();
    let info = support::run(&["info", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert_eq!(
        info.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let events: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    println!("KILLED: {text}");
    assert!(
        events > 100,
        "only {events} events survived the kill: {text}"
    );
    let replay = support::run(&["replay", "--format", "jsonl", file.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&replay.stdout)
        .lines()
        .any(|l| l.contains(r#""verdict":"match""#)));
}

/// `check --record` and a replay of that recording give the same flows.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn a_recording_replays_to_the_live_flows() {
    let dir = std::env::temp_dir();
    let (rec, live) = (dir.join("live.pftrace"), dir.join("live.jsonl"));
    let out = support::run(&[
        "check",
        "--format",
        "jsonl",
        "-o",
        live.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /proc/$$/status /proc/meminfo >/dev/null; ls /proc >/dev/null; exit 0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay = support::run(&[
        "replay",
        "--check",
        "--format",
        "jsonl",
        rec.to_str().unwrap(),
    ]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let live = support::flows(&std::fs::read_to_string(&live).unwrap());
    let replayed = support::flows(&String::from_utf8_lossy(&replay.stdout));
    assert!(live.len() > 10, "{} flows", live.len());
    assert_eq!(live, replayed);
}

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

/// Where the kernel allows BPF trampolines, fentry/fexit and kprobes give the
/// same verdicts on the tour; and the per-event cost of each, measured side by
/// side on the same loop.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn fentry_and_kprobes_agree_and_cost() {
    let tour = |method: &str| {
        let report = format!("/tmp/tour-{method}.json");
        let out = support::run(&["tour", "--attach", method, "--report", &report]);
        (out, report)
    };
    let (fentry, fentry_report) = tour("fentry");
    let stderr = String::from_utf8_lossy(&fentry.stderr);
    if fentry.status.code() != Some(0) && stderr.contains("fentry:") {
        // 5.10 lacks bpf_get_func_arg (5.17+): fentry must fail loudly there,
        // and auto must then use kprobes (the other tests run with auto).
        println!(
            "FENTRY: not available on this kernel: {}",
            stderr.lines().last().unwrap_or("")
        );
        return;
    }
    assert_eq!(fentry.status.code(), Some(0), "{stderr}");
    let (kprobe, kprobe_report) = tour("kprobe");
    assert_eq!(
        kprobe.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&kprobe.stderr)
    );
    let verdicts = |path: &str| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(verdicts(&fentry_report), verdicts(&kprobe_report));

    const N: u32 = 1000;
    let script =
        format!("i=0; while [ $i -lt {N} ]; do cat /proc/self/stat >/dev/null; i=$((i+1)); done");
    // The summary's time runs from the end of attaching to the command's exit,
    // so start-up (slow under emulation) stays out of the per-event cost.
    let timed = |args: &[&str]| {
        let out = support::run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let secs: f64 = stderr
            .lines()
            .rev()
            .find_map(|l| l.split(" events in ").nth(1))
            .and_then(|r| r.split(' ').next())
            .and_then(|s| s.parse().ok())
            .expect("summary line");
        let t = support::Trace {
            events: vec![],
            stderr,
            code: out.status.code(),
        };
        (secs, t.total())
    };
    let bare = {
        let started = std::time::Instant::now();
        assert!(std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success());
        started.elapsed().as_secs_f64()
    };
    let mut line = format!("COST: {N} cats untraced {bare:.2} s");
    for method in ["kprobe", "fentry"] {
        let (secs, events) = timed(&[
            "trace",
            "--raw",
            "--attach",
            method,
            "-o",
            "/dev/null",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        line.push_str(&format!(
            "; {method} {secs:.2} s for {events} events = {:.1} µs per event over untraced",
            (secs - bare) * 1e6 / events as f64
        ));
    }
    println!("{line}");
}

/// The first data row of the table headed `title` in the last block that
/// `live --plain` printed (the final summary), split into columns.
fn top_row<'a>(plain: &'a str, title: &str) -> Vec<&'a str> {
    let last = plain
        .rsplit("== procfs-trace live: ")
        .next()
        .expect("a table block");
    let mut lines = last.lines().skip_while(|l| !l.starts_with(title));
    // The title, then the column names, then the top row.
    lines
        .nth(2)
        .unwrap_or_else(|| panic!("no row under {title:?} in:\n{last}"))
        .split_whitespace()
        .collect()
}

/// `live --plain --duration 5` while one shell scans every `/proc/PID/stat`
/// in a loop (`read` is a shell builtin, so the scanner is one process):
/// tables come every second, the scanner tops the processes and
/// `/proc/[pid]/stat` the paths, nothing diverges although events are lost,
/// and the view ends by itself with a summary.
///
/// The scanner starts once the probes are attached and stops a second before
/// they are detached: attaching or detaching while a CPU hammers a probed
/// function has oopsed guests under emulation (see the README).
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn live_plain_shows_a_scanner_on_top() {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command, Stdio};
    let mut live = Command::new(support::bin())
        .args(["live", "--plain", "--duration", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(live.stderr.take().unwrap());
    let mut early = String::new();
    while !early.contains("probes attached") {
        assert!(
            stderr.read_line(&mut early).unwrap() > 0,
            "live ended before attaching: {early}"
        );
    }
    let mut scanner = Command::new("sh")
        .args([
            "-c",
            "while :; do for f in /proc/[0-9]*/stat; do read l < $f; done; done",
        ])
        .spawn()
        .unwrap();
    let pid = scanner.id().to_string();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let _ = scanner.kill();
    let _ = scanner.wait();
    let out = live.wait_with_output().unwrap();
    stderr.read_to_string(&mut early).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {early}");
    println!("{stdout}");
    let blocks = stdout.matches("== procfs-trace live: up ").count();
    assert!(blocks >= 3, "{blocks} periodic tables in 5 s:\n{stdout}");
    assert!(stdout.contains("== procfs-trace live: summary after "));
    let proc = top_row(&stdout, "PROCESSES");
    assert_eq!(
        proc[0], pid,
        "the scanner is not the top process:\n{stdout}"
    );
    assert_eq!(proc[1], "sh");
    let ops: u64 = proc[3].parse().unwrap();
    assert!(ops > 100, "the scanner made only {ops} operations");
    // The scan floods the ring buffer, but losses mark only the syscalls
    // they hit: none may pass for a divergence.
    // (READ and KERNEL have units, so DIVERG is the last column, not the 7th.)
    assert_eq!(proc.last(), Some(&"0"), "divergences under loss:\n{stdout}");
    assert_eq!(top_row(&stdout, "PATHS")[0], "/proc/[pid]/stat", "{stdout}");
    // The status line always says how many events were lost.
    assert!(stdout.contains(" | lost "), "{stdout}");
}
