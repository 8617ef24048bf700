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
