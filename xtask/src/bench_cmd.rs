//! `cargo xtask bench`: what the tracer costs per procfs operation on each
//! kernel, against the count-only and emit-floor twin programs, and how it
//! holds up in a flood. The guest half is `src/bin/bench-guest.rs`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::Value;

use crate::guest::{self, Guest, PROCFS_TRACE_GUEST_PATH};
use crate::qemu::Options;
use crate::{artifact, kernel, test_cmd, vm, workspace};

/// Where the benchmark program lives inside the guest.
const BENCH_GUEST_PATH: &str = "/bin/bench-guest";
/// Where it writes its figures.
const REPORT_GUEST_PATH: &str = "/tmp/bench.json";
/// Where `--baseline` puts the build to compare with.
const BASELINE_GUEST_PATH: &str = "/bin/procfs-trace-baseline";

/// Options of `cargo xtask bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Kernels, comma-separated (as for `test --kernels`).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    kernels: Vec<String>,
    /// Wall-clock limit in seconds for each VM run.
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1536, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// Instead, compare this build's programs with another build of
    /// procfs-trace (a release binary, say from an earlier commit), both
    /// attached to the same loops at once.
    #[arg(long, value_name = "PROCFS-TRACE")]
    baseline: Option<PathBuf>,
}

/// Runs the benchmark on each kernel; writes target/bench/<release>.json
/// (<release>-paired.json for a comparison with `--baseline`).
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let kernels = test_cmd::kernels(&args.kernels);
    if kernels.is_empty() {
        bail!("--kernels is empty; give at least one kernel (e.g. --kernels 6.1)");
    }
    if let Some(baseline) = &args.baseline {
        if !baseline.is_file() {
            bail!(
                "--baseline {}: no such file; give a procfs-trace binary, e.g. one built at an earlier commit",
                baseline.display()
            );
        }
    }
    // A comparison goes beside the kernel's full figures, not over them.
    let suffix = if args.baseline.is_some() {
        "-paired"
    } else {
        ""
    };
    let bin = guest::procfs_trace_binary()?;
    let mut cmd = workspace::cargo();
    cmd.args(["build", "--release", "-p", "xtask", "--bin", "bench-guest"]);
    let bench = artifact::build_executable(&mut cmd, "bench-guest")?;
    let mut files = vec![
        (bin, PROCFS_TRACE_GUEST_PATH.into()),
        (bench, BENCH_GUEST_PATH.into()),
    ];
    let mut command = vec![BENCH_GUEST_PATH.into(), REPORT_GUEST_PATH.into()];
    if let Some(baseline) = args.baseline {
        files.push((baseline, BASELINE_GUEST_PATH.into()));
        command.push(BASELINE_GUEST_PATH.into());
    }
    let guest = Guest {
        files,
        command,
        env: Vec::new(),
        outputs: vec![REPORT_GUEST_PATH.into()],
    };
    let opts = Options {
        memory_mib: args.memory,
        timeout: Duration::from_secs(args.timeout),
        interactive: false,
        label: None,
    };
    let dir = workspace::state_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for name in kernels {
        println!("bench: kernel {name}");
        let done = kernel::resolve(name).and_then(|k| vm::run(&k, &guest, &opts));
        let report = done.and_then(|done| {
            let file = done
                .files
                .iter()
                .find(|f| f.path == REPORT_GUEST_PATH)
                .with_context(|| format!("the guest wrote no report (exit {})", done.rc))?;
            serde_json::from_slice::<Value>(&file.data).context("parsing the guest's report")
        });
        match report {
            Ok(r) => {
                let release = r["kernel"].as_str().unwrap_or(name).to_owned();
                let path = dir.join(format!("{release}{suffix}.json"));
                std::fs::write(&path, serde_json::to_vec_pretty(&r)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("bench: wrote {}", path.display());
                reports.push(r);
            }
            Err(e) => {
                eprintln!("xtask: bench on {name}: {e:#}");
                failed.push(name);
            }
        }
    }
    print!("{}", table(&reports));
    if !failed.is_empty() {
        bail!("the benchmark failed on {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The reports as text tables: added cost per operation, events, flood; or
/// the comparison with a baseline build.
fn table(reports: &[Value]) -> String {
    if reports.iter().any(|r| r.get("paired").is_some()) {
        return paired_table(reports);
    }
    let mut s = String::new();
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    s.push_str(&format!(
        "\nAdded time per operation; the ratios are emitting's over the count-only's and the emit-floor's\n{:<27} {:<34} {:<7} {:>10} {:>11} {:>11} {:>10} {:>10} {:>7} {:>7}\n",
        "kernel",
        "operation",
        "attach",
        "untraced",
        "+count-only",
        "+emit-floor",
        "+emitting",
        "+checking",
        "/count",
        "/floor"
    ));
    for r in reports {
        let kernel = r["kernel"].as_str().unwrap_or("?");
        for c in r["costs"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "{:<27} {:<34} {:<7} {:>8.0}ns {:>9.0}ns {:>9.0}ns {:>8.0}ns {:>8.0}ns {:>7.2} {:>7.2}\n",
                kernel,
                c["class"].as_str().unwrap_or("?"),
                c["method"].as_str().unwrap_or("?"),
                f(&c["untraced_ns"]),
                f(&c["count_only_added_ns"]),
                f(&c["emit_floor_added_ns"]),
                f(&c["emitting_added_ns"]),
                f(&c["checking_added_ns"]),
                f(&c["emitting_over_count_only"]),
                f(&c["emitting_over_emit_floor"]),
            ));
        }
    }
    s.push_str(&programs_table(reports));
    s.push_str(&format!(
        "\n{:<27} {:<34} {:>10} {:>12} {:>9} {:>6}\n",
        "kernel", "operation", "events/op", "bytes/event", "bytes/op", "lost"
    ));
    for r in reports {
        let kernel = r["kernel"].as_str().unwrap_or("?");
        for e in r["events"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "{:<27} {:<34} {:>10.1} {:>12.1} {:>9.1} {:>6}\n",
                kernel,
                e["class"].as_str().unwrap_or("?"),
                f(&e["events_per_op"]),
                f(&e["bytes_per_event"]),
                f(&e["bytes_per_op"]),
                e["lost"],
            ));
        }
    }
    s.push_str(&format!(
        "\n{:<27} {:>12} {:>8} {:>14}\n",
        "kernel", "events/s", "lost", "with verdict"
    ));
    for r in reports {
        let fl = &r["flood"];
        s.push_str(&format!(
            "{:<27} {:>12.0} {:>7.1}% {:>13.1}%\n",
            r["kernel"].as_str().unwrap_or("?"),
            f(&fl["events_per_sec"]),
            f(&fl["lost_pct"]),
            f(&fl["with_verdict_pct"]),
        ));
    }
    s
}

/// The programs' own run time per operation by mode, emitting's over each
/// twin's, and the emitting tracer's costliest programs.
fn programs_table(reports: &[Value]) -> String {
    let mut s = format!(
        "\nBPF program time per operation (kernel statistics)\n{:<27} {:<34} {:<7} {:>11} {:>11} {:>10} {:>10} {:>7} {:>7}  costliest while emitting\n",
        "kernel", "operation", "attach", "count-only", "emit-floor", "emitting", "checking", "/count", "/floor"
    );
    for r in reports {
        let kernel = r["kernel"].as_str().unwrap_or("?");
        let rows = r["programs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let find = |class: &Value, method: &Value, mode: &str| {
            rows.iter()
                .find(|p| p["class"] == *class && p["method"] == *method && p["mode"] == mode)
        };
        for twin in rows.iter().filter(|p| p["mode"] == "count-only") {
            let (class, method) = (&twin["class"], &twin["method"]);
            let ns =
                |p: Option<&Value>| p.and_then(|p| p["ns_per_op"].as_f64()).unwrap_or(f64::NAN);
            let emitting = find(class, method, "emitting");
            let floor = find(class, method, "emit-floor");
            let top: Vec<String> = emitting
                .and_then(|e| e["programs"].as_array())
                .into_iter()
                .flatten()
                .take(4)
                .map(|p| {
                    format!(
                        "{} {:.0}",
                        p["name"].as_str().unwrap_or("?"),
                        p["ns_per_op"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .collect();
            s.push_str(&format!(
                "{:<27} {:<34} {:<7} {:>9.0}ns {:>9.0}ns {:>8.0}ns {:>8.0}ns {:>7.2} {:>7.2}  {}\n",
                kernel,
                class.as_str().unwrap_or("?"),
                method.as_str().unwrap_or("?"),
                ns(Some(twin)),
                ns(floor),
                ns(emitting),
                ns(find(class, method, "checking")),
                ns(emitting) / ns(Some(twin)),
                ns(emitting) / ns(floor),
                top.join(", "),
            ));
        }
    }
    s
}

/// This build's program time per operation over the baseline's.
fn paired_table(reports: &[Value]) -> String {
    let mut s = format!(
        "\nBPF program time per operation, this build / baseline (both attached at once)\n{:<27} {:<9} {:<7} {:<34} {:>7}  passes\n",
        "kernel", "mode", "attach", "operation", "ratio"
    );
    for r in reports {
        for p in r["paired"].as_array().into_iter().flatten() {
            let passes: Vec<String> = p["passes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                .collect();
            s.push_str(&format!(
                "{:<27} {:<9} {:<7} {:<34} {:>7.3}  {}\n",
                r["kernel"].as_str().unwrap_or("?"),
                p["mode"].as_str().unwrap_or("?"),
                p["method"].as_str().unwrap_or("?"),
                p["class"].as_str().unwrap_or("?"),
                p["over_baseline"].as_f64().unwrap_or(f64::NAN),
                passes.join(" "),
            ));
        }
    }
    s
}
