//! Helpers shared by the integration tests: running the binary and matching
//! event streams against expected flows.
#![allow(dead_code, reason = "each test crate uses a different subset")]

pub mod otlp;
pub mod serve;

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use serde_json::Value;

/// The procfs-trace binary: `$PROCFS_TRACE_BIN` in the VM, cargo's build otherwise.
pub fn bin() -> PathBuf {
    std::env::var_os("PROCFS_TRACE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_procfs-trace")))
}

/// The path of test fixture `name` (a recording from the VM matrix).
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs procfs-trace with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run procfs-trace")
}

/// Whether this kernel offers kprobes (the same test preflight makes).
pub fn kernel_has_kprobes() -> bool {
    [
        "/sys/bus/event_source/devices/kprobe",
        "/sys/kernel/tracing/kprobe_events",
        "/sys/kernel/debug/tracing/kprobe_events",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// A trace run's parsed output.
pub struct Trace {
    /// Event lines (`"type": "event"`), in order.
    pub events: Vec<Value>,
    /// Every line of standard error.
    pub stderr: String,
    /// procfs-trace's exit status.
    pub code: Option<i32>,
}

impl Trace {
    /// Events of tasks named `comm`.
    pub fn of_comm(&self, comm: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["comm"] == comm).collect()
    }

    /// The `N lost` figure from the closing summary line.
    pub fn lost(&self) -> u64 {
        lost_in(&self.stderr)
    }

    /// Asserts that nothing was lost except probe runs the kernel itself
    /// skipped (see [`kernel_skips_only`]).
    pub fn assert_lost_only_kernel_skips(&self) {
        kernel_skips_only(&self.stderr);
    }

    /// The `N events` figure from the closing summary line.
    pub fn total(&self) -> u64 {
        summary_number(&self.stderr, " events").expect("summary line with event count")
    }
}

/// The `N lost` figure from the closing summary line of any command's
/// standard error.
pub fn lost_in(stderr: &str) -> u64 {
    summary_number(stderr, " lost").expect("summary line with lost count")
}

/// Asserts that the summary in `stderr` counts no loss but probe runs the
/// kernel itself skipped (an fentry program preempted and re-entered on its
/// CPU counts a recursion miss, seen on 7.2 under emulation), which no tracer
/// can prevent and the summary must name; returns how many.
pub fn kernel_skips_only(stderr: &str) -> u64 {
    let lost = lost_in(stderr);
    let skipped = summary_number(stderr, " probe runs skipped by the kernel").unwrap_or(0);
    assert_eq!(lost, skipped, "losses besides kernel skips: {stderr}");
    if skipped > 0 {
        println!("{skipped} probe runs skipped by the kernel");
    }
    skipped
}

/// Asserts that a `check` passed: exit 0 saying PASS, or, when the kernel
/// skipped probe runs, exit 3 (inconclusive) naming them: a check with a
/// loss is never a pass.
pub fn assert_check_passed(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match kernel_skips_only(&stderr) {
        0 => {
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert!(stderr.contains("PASS"), "{stderr}");
        }
        n => {
            assert_eq!(out.status.code(), Some(3), "{stderr}");
            assert!(stderr.contains(&format!("{n} lost (")), "{stderr}");
        }
    }
}

/// Runs a `check` through `run` until a run loses nothing, three times at
/// most, and returns the last run. A run in which the kernel skipped probe
/// runs verified nothing (asserted: it names them and exits 3) and says
/// nothing of procfs either, so a test that needs verdicts runs again.
pub fn check_without_kernel_skips(run: impl Fn() -> Output) -> Output {
    let mut attempt = 1;
    loop {
        let out = run();
        assert_check_passed(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let skipped = summary_number(&stderr, " probe runs skipped by the kernel").unwrap_or(0);
        if skipped == 0 || attempt == 3 {
            return out;
        }
        println!("run {attempt} lost {skipped} probe runs the kernel skipped: running it again");
        attempt += 1;
    }
}

/// The number just before `label` on the summary line (`procfs-trace: N events in ...`).
fn summary_number(stderr: &str, label: &str) -> Option<u64> {
    let line = stderr.lines().rev().find(|l| l.contains(" events in "))?;
    let at = line.find(label)?;
    line[..at].rsplit([' ', ',', '(']).next()?.parse().ok()
}

/// Reads a tracer's standard error up to its "probes attached" line and
/// returns what it said so far; fails the test if it ends before attaching.
pub fn wait_attached(stderr: &mut impl std::io::BufRead) -> String {
    let mut said = String::new();
    while !said.contains("probes attached") {
        assert!(
            stderr.read_line(&mut said).unwrap() > 0,
            "the tracer ended before attaching: {said}"
        );
    }
    said
}

/// Runs `procfs-trace trace --format jsonl [extra] -o FILE -- argv...` and parses the events.
pub fn trace(extra: &[&str], argv: &[&str]) -> Trace {
    let out_file = std::env::temp_dir().join(format!(
        "trace-{}-{}.jsonl",
        std::process::id(),
        argv.join("_").len()
    ));
    let out_path = out_file.to_str().unwrap().to_owned();
    let mut args = vec!["trace", "--format", "jsonl", "-o", &out_path];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    let output = run(&args);
    let text = std::fs::read_to_string(&out_file).unwrap_or_default();
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let events = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))
        })
        .filter(|v| v["type"] == "event")
        .collect();
    Trace {
        events,
        stderr,
        code: output.status.code(),
    }
}

/// A named predicate on an event, for what plain field equality cannot say.
type Check = (&'static str, fn(&Value) -> bool);

/// One expected event: a function and phase, plus field constraints.
#[derive(Debug, Clone)]
pub struct Step {
    func: String,
    phase: &'static str,
    fields: Vec<(&'static str, Value)>,
    checks: Vec<Check>,
}

/// Expect the entry of `func`.
pub fn entry(func: &str) -> Step {
    Step {
        func: func.to_owned(),
        phase: "entry",
        fields: vec![],
        checks: vec![],
    }
}

/// Expect the exit of `func`.
pub fn exit(func: &str) -> Step {
    Step {
        phase: "exit",
        ..entry(func)
    }
}

impl Step {
    /// The `name` field must equal `name`.
    pub fn name(mut self, name: &str) -> Step {
        self.fields.push(("name", Value::from(name)));
        self
    }

    /// The event must come from a task named `comm`.
    pub fn comm(mut self, comm: &str) -> Step {
        self.fields.push(("comm", Value::from(comm)));
        self
    }

    /// The `show` field must equal `show`.
    pub fn show(mut self, show: &str) -> Step {
        self.fields.push(("show", Value::from(show)));
        self
    }

    /// The event must satisfy `check` (described by `what` in failures).
    pub fn check(mut self, what: &'static str, check: fn(&Value) -> bool) -> Step {
        self.checks.push((what, check));
        self
    }

    fn matches(&self, ev: &Value) -> bool {
        ev["func"] == self.func.as_str()
            && ev["phase"] == self.phase
            && self.fields.iter().all(|(k, v)| &ev[*k] == v)
            && self.checks.iter().all(|(_, c)| c(ev))
    }
}

/// Asserts that `steps` occur in `events` in this order (other events may come between).
pub fn assert_flow(events: &[&Value], steps: &[Step]) {
    let mut at = 0;
    for (i, step) in steps.iter().enumerate() {
        match events[at..].iter().position(|e| step.matches(e)) {
            Some(found) => at += found + 1,
            None => {
                let dump: Vec<String> = events.iter().map(|e| e.to_string()).collect();
                panic!(
                    "expected step {i} {step:?} after event {at}, not found; events:\n{}",
                    dump.join("\n")
                );
            }
        }
    }
}

/// The `"type":"flow"` lines of a JSONL text, ordered by start time and thread.
pub fn flows(text: &str) -> Vec<Value> {
    let mut v: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "flow")
        .collect();
    v.sort_by_key(|f| (f["start_ns"].as_u64(), f["tid"].as_u64()));
    v
}

/// The running kernel's major and minor version.
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Every operation of a recording, checked, in the order replay releases them.
pub fn checked_ops(path: &std::path::Path) -> Vec<procfs_trace::check::Checked> {
    use procfs_trace::{
        agent::sink::{FlowSink, Output},
        render::events::Format,
        replay::{self, ReplayOptions},
    };
    let mut rec = replay::open(path).unwrap();
    let mut sink = FlowSink::new(
        replay::checker(rec.header()).unwrap(),
        Format::Jsonl,
        Output::new(Box::new(std::io::sink())),
    );
    sink.print = false;
    sink.kept = Some(Vec::new());
    replay::feed(&mut rec, &ReplayOptions::default(), &mut sink).unwrap();
    sink.finish().unwrap();
    sink.kept.unwrap()
}
