//! `--attach fentry|kprobe`: the same verdicts either way, and the cost of each.

use crate::support;

/// Where the kernel allows BPF trampolines, fentry/fexit and kprobes give the
/// same verdicts on the tour; and the per-event cost of each, measured side by
/// side on the same loop. Before 5.17 (no `bpf_get_func_arg`, which the fentry
/// programs read arguments with) a forced `--attach fentry` must fail, naming
/// the functions; from 5.17 on it must work.
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
    if support::kernel_version() < (5, 17) {
        assert_ne!(fentry.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("--attach fentry could not attach proc_root_lookup"),
            "{stderr}"
        );
        println!("FENTRY: refused before 5.17, as it must be");
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
