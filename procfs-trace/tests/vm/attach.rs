//! `--attach fentry|kprobe`: the same verdicts either way. (What each costs
//! per event is measured side by side by `cargo xtask bench`.)

use crate::{support, tour};

/// Where the kernel allows BPF trampolines, fentry/fexit and kprobes give the
/// same verdicts on the tour. Before 5.17 (no `bpf_get_func_arg`, which the
/// fentry programs read arguments with) a forced `--attach fentry` must fail,
/// naming the functions.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn fentry_and_kprobes_agree() {
    if support::kernel_version() < (5, 17) {
        let out = support::run(&["tour", "--attach", "fentry"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("--attach fentry could not attach proc_root_lookup"),
            "{stderr}"
        );
        println!("FENTRY: refused before 5.17, as it must be");
        return;
    }
    // The default tour attaches with fentry wherever the kernel allows it.
    let fentry = tour::default_tour();
    let stderr = String::from_utf8_lossy(&fentry.stderr);
    assert_eq!(fentry.status.code(), Some(0), "{stderr}");
    let attached = stderr
        .lines()
        .find(|l| l.contains(" probes attached on "))
        .unwrap_or_else(|| panic!("no attach line: {stderr}"));
    let fentries: usize = attached
        .split(" fentry, ")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fentry count: {attached}"));
    assert!(fentries > 0, "the default tour used no fentry: {attached}");
    println!("FENTRY: {attached}");
    let kprobe_report = "/tmp/tour-kprobe.json";
    let kprobe = support::run(&["tour", "--attach", "kprobe", "--report", kprobe_report]);
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
    assert_eq!(verdicts(tour::REPORT), verdicts(kprobe_report));
}

/// The benchmark's twins go on the tracer's functions as it would: the
/// count-only ones count every entry and exit; the emit-floor ones count
/// every entry and stream a record per exit, and their ring drops none.
/// With fentry too where the tracer uses it (5.17 on).
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn the_benchmark_twins_count_and_stream() {
    let mut methods = vec!["kprobe"];
    if support::kernel_version() >= (5, 17) {
        methods.push("fentry");
    }
    for method in methods {
        // Every pread of /proc/self/stat goes through seq_read_iter and
        // proc_single_show at least, on every kernel.
        let (runs, records) = twin_around_reads(&["--attach", method]);
        assert!(runs >= 4 * READS, "{method} count-only: {runs} runs");
        assert_eq!(records, None, "{method} count-only streams nothing");
        let (runs, records) = twin_around_reads(&["--attach", method, "--emit"]);
        assert!(runs >= 2 * READS, "{method} emit-floor: {runs} runs");
        let records = records.unwrap_or_else(|| panic!("{method} emit-floor: no record count"));
        assert!(
            records >= 2 * READS,
            "{method} emit-floor: {records} records"
        );
        println!("TWINS: {method}: count-only and emit-floor ran, {records} records streamed");
    }
}

/// Reads of /proc/self/stat under each twin.
const READS: u64 = 200;

/// Runs `procfs-trace twin ARGS` around [`READS`] reads of /proc/self/stat;
/// returns the runs and records it printed. It fails (and so the test) if
/// its ring dropped a record.
fn twin_around_reads(args: &[&str]) -> (u64, Option<u64>) {
    use std::{io::BufReader, os::unix::fs::FileExt as _, process::Stdio};
    let mut twin = std::process::Command::new(support::bin())
        .arg("twin")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(twin.stderr.take().unwrap());
    let said = support::wait_attached(&mut stderr);
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let mut buf = [0u8; 1024];
    for _ in 0..READS {
        stat.read_at(&mut buf, 0).unwrap();
    }
    // SAFETY: kill(2) on our own child, which is still running.
    unsafe { libc::kill(twin.id() as i32, libc::SIGINT) };
    let out = twin.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(0), "twin {args:?}: {said}{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let number_before = |what: &str| -> Option<u64> {
        let at = stdout.find(what)?;
        stdout[..at].rsplit([' ', ',']).next()?.parse().ok()
    };
    let runs = number_before(" runs").unwrap_or_else(|| panic!("no run count: {stdout}"));
    (runs, number_before(" records"))
}
