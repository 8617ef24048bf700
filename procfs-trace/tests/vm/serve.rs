//! `procfs-trace serve` attached to the running kernel.

use std::time::{Duration, Instant};

use crate::support::{
    self,
    serve::{samples, Served},
};

/// The sum of `metric`'s samples whose labels pass `keep`.
fn sum(text: &str, metric: &str, keep: impl Fn(&support::serve::Labels) -> bool) -> f64 {
    samples(text, metric)
        .iter()
        .filter(|(l, _)| keep(l))
        .map(|(_, v)| v)
        .sum()
}

/// 20 `cat /proc/self/limits` under `serve --comm cat`: /metrics counts
/// their reads, with proc_pid_limits as the show callback that ran and its
/// kernel calls timed, no divergence, this kernel's release on the info
/// metric; SIGTERM detaches and exits 0.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn serve_exports_a_live_kernels_figures() {
    const CATS: usize = 20;
    let served = Served::start(&["--comm", "cat"]);
    for _ in 0..CATS {
        let out = std::process::Command::new("cat")
            .arg("/proc/self/limits")
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    // Each cat opens the file once and reads it twice (the text, then end
    // of file), and one read runs proc_pid_limits.
    let opens = |text: &str| {
        sum(text, "procfs_trace_operations_total", |l| {
            l["kind"] == "lookup" && l["path"] == "/proc/self/limits"
        })
    };
    let reads = |text: &str| {
        sum(text, "procfs_trace_operations_total", |l| {
            l["kind"] == "read" && l["path"] == "/proc/self/limits"
        })
    };
    // Flows are released on the agent's tick: wait for all of them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (status, text) = served.get("/metrics");
        assert_eq!(status, 200, "{text}");
        if opens(&text) >= CATS as f64 && reads(&text) >= (2 * CATS) as f64 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {CATS} opens and {} reads of /proc/self/limits exported:\n{text}",
            2 * CATS
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("{text}");
    let diverged = sum(&text, "procfs_trace_operations_total", |l| {
        l["verdict"] == "divergence"
    });
    assert_eq!(diverged, 0.0, "{text}");
    let cats = |verdict: &str| {
        sum(&text, "procfs_trace_process_operations_total", |l| {
            l["comm"] == "cat" && l["verdict"] == verdict
        })
    };
    // A loss the kernel reports (7.2 skips probe runs under emulation) makes
    // the operations it may have hit inconclusive, never a match; without
    // one every operation matches.
    let lost = sum(&text, "procfs_trace_lost_events_total", |_| true);
    let (matched, inconclusive) = (cats("match"), cats("inconclusive"));
    assert!(inconclusive == 0.0 || lost > 0.0, "{text}");
    assert!(matched + inconclusive >= CATS as f64, "{text}");
    if lost == 0.0 {
        assert!(matched >= CATS as f64, "{text}");
    }
    let shown = sum(&text, "procfs_trace_show_callback_runs_total", |l| {
        l["callback"] == "proc_pid_limits"
    });
    assert!(shown >= CATS as f64, "{text}");
    let timed = sum(
        &text,
        "procfs_trace_kernel_call_duration_seconds_count",
        |l| l["function"] == "proc_pid_limits",
    );
    assert!(timed >= CATS as f64, "{text}");
    let bytes = sum(&text, "procfs_trace_read_bytes_total", |l| {
        l["comm"] == "cat"
    });
    assert!(bytes >= (CATS * 500) as f64, "{bytes} bytes:\n{text}");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let info = &samples(&text, "procfs_trace_source_info")[0].0;
    assert_eq!(info["kernel_release"], release.trim());
    assert_eq!(info["source"], "live");
    assert_eq!(samples(&text, "procfs_trace_source_finished")[0].1, 0.0);
    let status = served.stop();
    assert_eq!(status.code(), Some(0), "SIGTERM must end serve cleanly");
}
